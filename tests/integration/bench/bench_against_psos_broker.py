"""`psos bench` against `psos broker` on a free loopback port: a 2-second QoS 1 fan-in and a
1-second QoS 2 pairs run at a fixed rate; every message sent must arrive, exactly once.

Usage: bench_against_psos_broker.py PSOS_BINARY (CTest passes the built psos).
"""

import json
import re
import subprocess
import sys
import tempfile
import time


def start_broker(psos, log):
    """Starts the broker on a free port; its output goes to `log`, a file, so that a chatty broker
    never blocks on a full pipe."""
    broker = subprocess.Popen([psos, "broker", "--listen", "mqtt://127.0.0.1:0", "--log-level", "warn"],
                              stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and broker.poll() is None:
        log.seek(0)
        match = re.search(rb"listening on (mqtt://\S+)", log.read())
        if match:
            return broker, match.group(1).decode()
        time.sleep(0.05)
    broker.kill()
    log.seek(0)
    sys.exit(f"psos broker did not say where it listens; it printed:\n{log.read().decode(errors='replace')}")


def bench(psos, url, *args):
    command = [psos, "bench", "--broker", url, "--json", "--quiet", *args]
    run = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
    print("$", " ".join(command), f"-> exit {run.returncode}")
    if run.stderr:
        print(run.stderr, end="")
    try:
        result = json.loads(run.stdout)
    except ValueError:
        sys.exit(f"psos bench printed no JSON:\n{run.stdout}")
    print({k: result[k] for k in ("connected", "sent", "acknowledged", "received", "expected", "lost",
                                  "duplicates", "out_of_order", "received_per_second")},
          "p99 us", result["latency_us"]["p99"])
    return run.returncode, result


def check(condition, message):
    if not condition:
        failures.append(message)
        print("FAILED:", message)


failures = []
psos = sys.argv[1]
broker_log = tempfile.TemporaryFile()
broker, url = start_broker(psos, broker_log)
try:
    status, r = bench(psos, url, "--pub", "4", "--sub", "1", "--topic", "bench/%i",
                      "--sub-topic", "bench/+", "--qos", "1", "--duration", "2")
    check(status == 0, f"fan-in: exit status {status}, errors {r['errors']}")
    check(r["connected"] == 5, f"fan-in: {r['connected']} of 5 connections ready")
    check(r["sent"] > 0, "fan-in: nothing sent")
    check(r["acknowledged"] == r["sent"], f"fan-in: {r['acknowledged']} of {r['sent']} acknowledged")
    check(r["received"] == r["sent"], f"fan-in: {r['received']} received of {r['sent']} sent")
    check(r["lost"] == 0 and r["duplicates"] == 0, f"fan-in: lost {r['lost']}, duplicates {r['duplicates']}")
    check(r["latency_us"]["count"] == r["received"], "fan-in: a latency for every message")

    status, r = bench(psos, url, "--pub", "4", "--sub", "4", "--topic", "pair/%i", "--qos", "2",
                      "--rate", "200", "--duration", "1")
    check(status == 0, f"pairs: exit status {status}, errors {r['errors']}")
    check(r["sent"] >= 4 * 150, f"pairs: only {r['sent']} sent at 4 x 200 msg/s for 1 s")
    check(r["received"] == r["sent"] and r["lost"] == 0 and r["duplicates"] == 0,
          f"pairs: sent {r['sent']}, received {r['received']}, lost {r['lost']}, duplicates {r['duplicates']}")
    check(r["out_of_order"] == 0, f"pairs: {r['out_of_order']} out of order")
finally:
    broker.terminate()
    try:
        broker.wait(timeout=10)
    except subprocess.TimeoutExpired:
        broker.kill()

if broker.returncode not in (0, -15):
    failures.append(f"psos broker exited with status {broker.returncode}")
if failures:
    broker_log.seek(0)
    print("psos broker's output:\n" + broker_log.read().decode(errors="replace")[-4000:])
print("ok" if not failures else f"{len(failures)} check(s) failed")
sys.exit(1 if failures else 0)
