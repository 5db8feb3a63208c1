"""Broker CPU added by an open dashboard (issue 13, Benchmarks): Mosquitto under a `psos bench`
load of RATE msg/s (10 publishers to bench/%i, one subscriber to bench/#), once alone and once
with `psos dashboard` subscribed (it takes every topic, '#') and one browser connected over its
WebSocket, reading every frame. Runs alternate; the best (least disturbed) of --repetitions
counts. Prints one table: broker CPU alone and with the dashboard, the difference, the
dashboard's own CPU and what it sent the browser.

Usage: dashboard_cpu.py --psos PSOS [--rates 10000,100000] [--seconds 5] [--repetitions 2]
"""

import argparse
import json
import os
import shutil
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "integration", "dashboard"))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "integration", "client_cli"))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "integration", "broker"))

from brokertest import Processes  # noqa: E402
from clitest import Mosquitto  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def start_dashboard(processes, psos, url):
    proc = processes.start([psos, "dashboard", "--broker", url, "--listen", "http://127.0.0.1:0"],
                           text=True)
    line = proc.stdout.readline().strip()
    if not line.startswith("psos dashboard: serving "):
        raise RuntimeError("psos dashboard did not start: " + line + proc.stderr.read())
    return proc, int(line.rsplit(":", 1)[1])


class Browser(threading.Thread):
    """A WebSocket client that reads every frame, counting bytes."""

    def __init__(self, port):
        super().__init__(daemon=True)
        from dashtest import WebSocket
        self.ws = WebSocket(port)
        self.bytes = 0
        self.frames = 0
        self.stopped = False
        self.start()

    def run(self):
        try:
            while not self.stopped:
                _, payload = self.ws.frame()
                self.bytes += len(payload)
                self.frames += 1
        except (OSError, ConnectionError):
            pass


def run_once(psos, rate, seconds, with_dashboard):
    processes = Processes()
    tmp = tempfile.mkdtemp(prefix="psos-bench-dash-")
    try:
        mosq = Mosquitto(processes, tmp)
        url = mosq.url()
        dash = browser = None
        if with_dashboard:
            dash, port = start_dashboard(processes, psos, url)
            browser = Browser(port)
            time.sleep(0.5)
        load = processes.start([psos, "bench", "--broker", url, "--pub", "10", "--sub", "1",
                                "--topic", "bench/%i", "--sub-topic", "bench/#",
                                "--rate", str(rate / 10), "--duration", str(seconds),
                                "--drain", "1", "--json", "--quiet"], text=True)
        time.sleep(1.0)  # connections made, publishing started
        b0 = cpu_seconds(mosq.proc.pid)
        d0 = cpu_seconds(dash.pid) if dash else 0
        bytes0 = browser.bytes if browser else 0
        t0 = time.monotonic()
        time.sleep(max(1.0, seconds - 2.0))
        elapsed = time.monotonic() - t0
        broker = (cpu_seconds(mosq.proc.pid) - b0) / elapsed * 100
        dashboard = (cpu_seconds(dash.pid) - d0) / elapsed * 100 if dash else None
        sent = (browser.bytes - bytes0) / elapsed if browser else None
        out, _ = load.communicate(timeout=seconds + 60)
        result = json.loads(out)
        if browser:
            browser.stopped = True
            browser.ws.close()
        return {"broker_cpu": broker, "dashboard_cpu": dashboard, "browser_bytes_s": sent,
                "achieved": result["sent_per_second"], "lost": result["lost"]}
    finally:
        processes.kill_all()
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--psos", required=True)
    p.add_argument("--rates", default="10000,100000")
    p.add_argument("--seconds", type=float, default=5)
    p.add_argument("--repetitions", type=int, default=2)
    p.add_argument("--out")
    a = p.parse_args()
    rows = []
    for rate in [int(r) for r in a.rates.split(",")]:
        alone, with_dash = [], []
        for _ in range(a.repetitions):
            alone.append(run_once(a.psos, rate, a.seconds, False))
            with_dash.append(run_once(a.psos, rate, a.seconds, True))
        best_alone = min(alone, key=lambda r: r["broker_cpu"])
        best_dash = min(with_dash, key=lambda r: r["broker_cpu"])
        rows.append((rate, best_alone, best_dash))
    if a.out:
        with open(a.out, "w") as f:
            json.dump([{"rate": r, "alone": x, "dashboard": y} for r, x, y in rows], f, indent=1)
    print("Broker CPU added by an open dashboard (Mosquitto; psos bench: 10 publishers to "
          "bench/%i, 1 subscriber to bench/#; best of", a.repetitions, "runs; % of one core)")
    header = (f"{'load msg/s':>11}{'sent alone':>11}{'sent w/ dash':>13}{'broker alone':>14}{'with dashboard':>16}{'added':>8}"
              f"{'ratio':>8}{'dashboard':>11}{'to browser':>13}")
    print(header)
    print("-" * len(header))
    for rate, x, y in rows:
        added = y["broker_cpu"] - x["broker_cpu"]
        ratio = y["broker_cpu"] / x["broker_cpu"] if x["broker_cpu"] else float("nan")
        print(f"{rate:>11}{x['achieved']:>11.0f}{y['achieved']:>13.0f}{x['broker_cpu']:>13.1f}%{y['broker_cpu']:>15.1f}%{added:>7.1f}%"
              f"{ratio:>7.2f}x{y['dashboard_cpu']:>10.1f}%{y['browser_bytes_s'] / 1024:>9.1f} KiB/s")


if __name__ == "__main__":
    main()
