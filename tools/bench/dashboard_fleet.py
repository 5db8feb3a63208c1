"""The dashboard's map with a synthetic fleet (issue 13, Benchmarks): 200 nodes with 2,000
services and 10,000 topics, described by retained $state/$info messages published into a real
Mosquitto (the nodes themselves are not run: 200 processes do not fit a 2-core machine), while
10,000 topics keep changing. Chromium (headless, playwright-core) opens the map; printed: the
time until the 200 nodes are drawn, and the page's frame intervals over 5 s of live updates.

Usage: dashboard_fleet.py --psos PSOS [--nodes 200] [--services 10] [--topics 10000] [--rate 5000]
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration", "client_cli"))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration", "broker"))

from brokertest import Processes  # noqa: E402
from clitest import Mosquitto  # noqa: E402

PUBLISHER = r"""
import json, sys, time, paho.mqtt.client as mqtt
port, nodes, services, topics, rate = map(int, sys.argv[1:6])
c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2) if hasattr(mqtt, "CallbackAPIVersion") else mqtt.Client()
c.connect("127.0.0.1", port)
c.loop_start()
per_node = topics // nodes
for n in range(nodes):
    name = f"n{n:03d}"
    svc = []
    for s in range(services):
        # Each service publishes one of its node's topics and subscribes to the previous node's.
        svc.append({"name": f"s{s}", "module": "pipe", "status": "running", "restarts": 0,
                    "started": int(time.time() * 1000), "error": "",
                    "sub": [f"fleet/n{(n - 1) % nodes:03d}/t{s}"], "pub": [f"fleet/{name}/t{s}"],
                    "functions": ["status"]})
    info = {"version": "0.1.0", "platform": "bench", "system": "big", "node": name,
            "state": "ready", "started": int(time.time() * 1000), "boot": 1, "services": svc}
    c.publish(f"psos/big/{name}/$state", "ready", retain=True)
    c.publish(f"psos/big/{name}/$info", json.dumps(info), retain=True).wait_for_publish()
print("ready", flush=True)
i = 0
start = time.monotonic()
while True:
    n, t = (i // per_node) % nodes, i % per_node
    c.publish(f"fleet/n{n:03d}/t{t}", json.dumps({"v": i % 100}))
    i += 1
    if i % 500 == 0:
        ahead = i / rate - (time.monotonic() - start)
        if ahead > 0:
            time.sleep(ahead)
"""

BROWSER = r"""
const { chromium } = require(process.env.PLAYWRIGHT);
(async () => {
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox'] });
  const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
  const t0 = Date.now();
  await page.goto(process.env.DASH_URL + '/#/map');
  await page.waitForFunction((n) => document.querySelectorAll('.map-node').length >= n, Number(process.env.NODES), { timeout: 60000, polling: 50 });
  const firstMap = Date.now() - t0;
  const frames = await page.evaluate(() => new Promise((resolve) => {
    const out = []; let last = performance.now(); const end = last + 5000;
    const step = (t) => { out.push(t - last); last = t; if (t < end) requestAnimationFrame(step); else resolve(out); };
    requestAnimationFrame(step);
  }));
  const edges = await page.$$eval('path.edge', (p) => p.length);
  frames.sort((a, b) => a - b);
  const q = (p) => frames[Math.min(frames.length - 1, Math.floor(p * frames.length))];
  console.log(JSON.stringify({ first_map_ms: firstMap, edges, frames: frames.length, p50: q(0.5), p99: q(0.99), max: frames[frames.length - 1], over_50ms: frames.filter((f) => f > 50).length }));
  await browser.close();
})().catch((e) => { console.error(e); process.exit(1); });
"""


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--psos", required=True)
    p.add_argument("--nodes", type=int, default=200)
    p.add_argument("--services", type=int, default=10)
    p.add_argument("--topics", type=int, default=10000)
    p.add_argument("--rate", type=int, default=5000)
    a = p.parse_args()
    processes = Processes()
    tmp = tempfile.mkdtemp(prefix="psos-bench-fleet-")
    try:
        mosq = Mosquitto(processes, tmp)
        pub = processes.start(["/usr/bin/python3", "-c", PUBLISHER, str(mosq.port), str(a.nodes),
                               str(a.services), str(a.topics), str(a.rate)], text=True)
        if pub.stdout.readline().strip() != "ready":
            raise RuntimeError("the publisher did not start: " + pub.stderr.read())
        dash = processes.start([a.psos, "dashboard", "--broker", mosq.url(), "--listen",
                                "http://127.0.0.1:0"], text=True)
        url = dash.stdout.readline().strip().rsplit(" ", 1)[1]
        time.sleep(2)  # the topics are known
        env = dict(os.environ, DASH_URL=url, NODES=str(a.nodes),
                   PLAYWRIGHT=os.path.join(ROOT, "tools", "npm", "node_modules", "playwright-core"))
        out = subprocess.run(["node", "-e", BROWSER], env=env, capture_output=True, text=True,
                             timeout=120)
        if out.returncode != 0:
            raise RuntimeError(out.stderr)
        r = json.loads(out.stdout)
        print(f"Synthetic fleet: {a.nodes} nodes, {a.nodes * a.services} services, {a.topics} "
              f"topics changing at {a.rate} msg/s; Chromium headless, 1600x1000")
        print(f"  map drawn after {r['first_map_ms']} ms (page load included), {r['edges']} edges")
        print(f"  frame interval over 5 s: p50 {r['p50']:.1f} ms, p99 {r['p99']:.1f} ms, "
              f"max {r['max']:.1f} ms; {r['over_50ms']} of {r['frames']} frames over 50 ms")
    finally:
        processes.kill_all()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
