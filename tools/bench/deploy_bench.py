"""Deploys measured (issue 12, Benchmarks), against a real Mosquitto on a free port:
1. the time `psos deploy --confirm 0` takes to change one service on 3 nodes and on --nodes
   nodes (processes on this machine), and how long the unchanged services' message flow paused
   meanwhile: each node has a timer publishing every 20 ms; the largest gap between two of its
   messages from 100 ms before the deploy to 100 ms after it, beside the largest gap in the
   second before;
2. the transfer rate of a 16 MB file (a service's Lua file) to one node, beside
   `mosquitto_pub -f` of the same file to a `mosquitto_sub` on the same broker.
Prints one table; nothing is asserted. Run with /usr/bin/python3 (paho).
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
for sub in ("broker", "client_cli"):
    sys.path.insert(0, os.path.join(ROOT, "tests", "integration", sub))

import paho.mqtt.client as mqtt  # noqa: E402
from brokertest import Processes, wait_until  # noqa: E402
from clitest import Mosquitto  # noqa: E402

TICK_MS = 20


def definition(url, nodes, revision, lua=None):
    result = {}
    for n in nodes:
        services = [{"name": "tick", "module": "timer", "every": f"{TICK_MS}ms",
                     "pub": f"bench/{n}/tick"},
                    {"name": "fmt", "module": "pipe", "sub": f"bench/{n}/in",
                     "pub": f"bench/{n}/out{revision}"}]
        if lua:
            services.append({"name": "big", "module": "function", "sub": "bench/big",
                             "file": lua})
        result[n] = {"uplink": "lan", "metrics": "0s", "services": services}
    return {"psos": 1, "system": "bench", "brokers": {"lan": {"url": url}}, "nodes": result}


class Ticks:
    """The arrival times of every node's ticks, from one paho subscriber."""

    def __init__(self, port):
        self.lock = threading.Lock()
        self.times = {}
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2) \
            if hasattr(mqtt, "CallbackAPIVersion") else mqtt.Client()
        self.client.on_message = self.on_message
        self.client.connect("127.0.0.1", port)
        self.client.subscribe("bench/+/tick")
        self.client.loop_start()

    def on_message(self, client, userdata, message):
        now = time.monotonic()
        with self.lock:
            self.times.setdefault(message.topic.split("/")[1], []).append(now)

    def max_gap(self, start, end):
        gap = 0.0
        with self.lock:
            for times in self.times.values():
                inside = [t for t in times if start <= t <= end]
                gap = max([gap] + [b - a for a, b in zip(inside, inside[1:])])
        return gap * 1000

    def stop(self):
        self.client.loop_stop()
        self.client.disconnect()


def run(cmd, **kw):
    out = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({out.returncode}): {out.stdout}{out.stderr}")
    return out


def deploy_case(psos, processes, tmp, url, port, count):
    nodes = [f"n{i:02d}" for i in range(count)]
    directory = os.path.join(tmp, f"nodes{count}")
    os.makedirs(directory)
    path = os.path.join(directory, "system.json")
    with open(path, "w") as f:
        json.dump(definition(url, nodes, 0), f)
    procs = [processes.start([psos, "run", path, "--node", n, "--data",
                              os.path.join(directory, "data-" + n), "--log-level", "warn"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for n in nodes]
    ticks = Ticks(port)
    if not wait_until(lambda: len(ticks.times) == count, 60, interval=0.1):
        raise RuntimeError(f"only {len(ticks.times)} of {count} nodes tick")
    time.sleep(1.0)
    with open(path, "w") as f:
        json.dump(definition(url, nodes, 1), f)
    before_start = time.monotonic()
    time.sleep(1.0)
    start = time.monotonic()
    run([psos, "deploy", path, "--broker", url, "--confirm", "0", "--timeout", "60"],
        timeout=300)
    end = time.monotonic()
    time.sleep(0.3)
    # The gaps that span the deploy count: 100 ms on either side of it.
    result = {"nodes": count, "seconds": end - start,
              "gap_before_ms": ticks.max_gap(before_start, start - 0.1),
              "gap_during_ms": ticks.max_gap(start - 0.1, end + 0.1)}
    ticks.stop()
    for p in procs:
        p.terminate()
    for p in procs:
        p.wait(30)
    return result


def transfer_case(psos, processes, tmp, url, port):
    directory = os.path.join(tmp, "transfer")
    os.makedirs(directory)
    lua = os.path.join(directory, "big.lua")
    size = 16 << 20
    with open(lua, "wb") as f:
        f.write(b"-- " + os.urandom(size // 2).hex().encode()[:size - 4] + b"\n")
    path = os.path.join(directory, "system.json")
    with open(path, "w") as f:
        json.dump(definition(url, ["t"], 0), f)
    proc = processes.start([psos, "run", path, "--node", "t", "--data",
                            os.path.join(directory, "data"), "--log-level", "warn"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ticks = Ticks(port)
    wait_until(lambda: len(ticks.times) == 1, 30, interval=0.1)
    ticks.stop()
    with open(path, "w") as f:
        json.dump(definition(url, ["t"], 0, lua="big.lua"), f)
    start = time.monotonic()
    run([psos, "deploy", path, "--broker", url, "--confirm", "0", "--timeout", "120"],
        timeout=300)
    psos_s = time.monotonic() - start
    proc.terminate()
    proc.wait(30)

    sub = subprocess.Popen(["mosquitto_sub", "-p", str(port), "-t", "bench/file", "-C", "1",
                            "-q", "1"], stdout=subprocess.DEVNULL)
    time.sleep(0.5)
    start = time.monotonic()
    run(["mosquitto_pub", "-p", str(port), "-t", "bench/file", "-q", "1", "-f", lua])
    sub.wait(120)
    mosq_s = time.monotonic() - start
    return {"bytes": os.path.getsize(lua), "psos_s": psos_s, "mosquitto_s": mosq_s}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--psos", required=True)
    parser.add_argument("--nodes", type=int, default=20)
    args = parser.parse_args()
    psos = os.path.abspath(args.psos)
    count = max(3, min(args.nodes, 50))
    processes = Processes()
    tmp = tempfile.mkdtemp(prefix="psos-deploy-bench-")
    os.environ["XDG_CONFIG_HOME"] = os.path.join(tmp, "config")
    run([psos, "keygen"])
    try:
        broker = Mosquitto(processes, tmp)
        url = broker.url()
        rows = [deploy_case(psos, processes, tmp, url, broker.port, 3)]
        if count > 3:
            rows.append(deploy_case(psos, processes, tmp, url, broker.port, count))
        transfer = transfer_case(psos, processes, tmp, url, broker.port)
    finally:
        processes.kill_all()
        shutil.rmtree(tmp, True)
    print("deploy, one changed service per node (--confirm 0)")
    print(f"{'nodes':>6}  {'deploy s':>9}  {'s/node':>7}  {'max tick gap before ms':>23}  "
          f"{'during deploy ms':>17}  {'ratio':>6}")
    for r in rows:
        print(f"{r['nodes']:>6}  {r['seconds']:>9.2f}  {r['seconds'] / r['nodes']:>7.3f}  "
              f"{r['gap_before_ms']:>23.1f}  {r['gap_during_ms']:>17.1f}  "
              f"{r['gap_during_ms'] / max(r['gap_before_ms'], 0.001):>6.2f}")
    mb = transfer["bytes"] / 1e6
    print()
    print(f"transfer of a {mb:.1f} MB file")
    print(f"{'tool':<34}  {'s':>6}  {'MB/s':>7}  {'ratio':>6}")
    print(f"{'psos deploy (whole deploy)':<34}  {transfer['psos_s']:>6.2f}  "
          f"{mb / transfer['psos_s']:>7.1f}  {transfer['psos_s'] / transfer['mosquitto_s']:>6.2f}")
    print(f"{'mosquitto_pub -f -q 1 -> _sub':<34}  {transfer['mosquitto_s']:>6.2f}  "
          f"{mb / transfer['mosquitto_s']:>7.1f}  {1.0:>6.2f}")


if __name__ == "__main__":
    main()
