#!/usr/bin/env python3
"""The command round trip of scripts/bench_control, side by side with mosquitto_rr.

On a Mosquitto on a free loopback port: a `psos run` node (a timer service) joined to it, and a
paho responder that answers MQTT 5 requests (Response Topic + Correlation Data) with a JSON reply
like the node's. Timed, each a process per request as a person runs them: `psos call bench/n tick
status` and `mosquitto_rr` to the responder; then, in one connection, `control_round_trip_bench`
(N sequential signed calls). Writes {"cases": [...]} to --out.
"""

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check, timeout):
    end = time.time() + timeout
    while time.time() < end:
        if check():
            return True
        time.sleep(0.05)
    return check()


def percentiles(values):
    values = sorted(values)
    pick = lambda q: values[min(len(values) - 1, int(q * len(values)))]
    return {"p50": pick(0.5), "p99": pick(0.99), "max": values[-1]}


def responder(port, ready):
    """Answers rr/request on the request's Response Topic with its Correlation Data."""
    client = mqtt.Client(client_id="rr-responder", protocol=mqtt.MQTTv5)

    def on_message(c, userdata, msg):
        props = Properties(PacketTypes.PUBLISH)
        topic = getattr(msg.properties, "ResponseTopic", None)
        if topic is None:
            return
        if hasattr(msg.properties, "CorrelationData"):
            props.CorrelationData = msg.properties.CorrelationData
        c.publish(topic, json.dumps({"id": "1", "ok": True, "result": {"status": "running"}}),
                  qos=1, properties=props)

    client.on_message = on_message
    client.on_connect = lambda c, u, f, rc, p=None: (c.subscribe("rr/request", qos=1),
                                                     ready.set())
    client.connect("127.0.0.1", port)
    client.loop_forever()


def timed_runs(args, count, env=None):
    times, failed = [], 0
    for _ in range(count):
        start = time.perf_counter()
        result = subprocess.run(args, capture_output=True, text=True, timeout=20, env=env)
        times.append((time.perf_counter() - start) * 1000)
        failed += result.returncode != 0
    if failed:
        print(f"   {failed} of {count} failed: {' '.join(args[:3])}: {result.stderr.strip()}",
              file=sys.stderr)
    return times


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--psos", required=True)
    parser.add_argument("--bench", default=None)
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--process-calls", type=int, default=100)
    parser.add_argument("--out", required=True)
    parser.add_argument("--nodelay", action="store_true")
    a = parser.parse_args()
    a.psos = os.path.abspath(a.psos)
    if a.bench:
        a.bench = os.path.abspath(a.bench)
    bench = a.bench or os.path.join(os.path.dirname(os.path.dirname(a.psos)), "..", "bench",
                                    "control_round_trip_bench")
    tmp = tempfile.mkdtemp(prefix="psos-rtt-")
    env = dict(os.environ, XDG_CONFIG_HOME=os.path.join(tmp, "config"))
    procs = []
    try:
        port = free_port()
        conf = os.path.join(tmp, "mosquitto.conf")
        with open(conf, "w") as f:
            f.write(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
                    "log_dest none\nuser root\n" + ("set_tcp_nodelay true\n" if a.nodelay else ""))
        mosquitto = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        procs.append(subprocess.Popen([mosquitto, "-c", conf], stderr=subprocess.DEVNULL))
        url = f"mqtt://127.0.0.1:{port}"
        time.sleep(0.3)
        definition = os.path.join(tmp, "bench.json")
        with open(definition, "w") as f:
            json.dump({"psos": 1, "system": "bench", "brokers": {"lan": {"url": url}},
                       "nodes": {"n": {"uplink": "lan", "metrics": "0s", "services": [
                           {"name": "tick", "module": "timer", "every": "1h", "pub": "t"}]}}}, f)
        node = subprocess.Popen([a.psos, "run", definition, "--data", os.path.join(tmp, "data")],
                                env=env, cwd=tmp, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        procs.append(node)
        state = lambda: subprocess.run(
            [a.psos, "sub", "--broker", url, "-t", "psos/bench/n/$state", "-C", "1", "-W", "2"],
            capture_output=True, text=True).stdout.strip() == "ready"
        if not wait_until(state, 15):
            sys.exit("control_round_trip: the node did not become ready")
        ready = threading.Event()
        threading.Thread(target=responder, args=(port, ready), daemon=True).start()
        ready.wait(5)

        cases = []
        print(f"   psos call, {a.process_calls} processes", file=sys.stderr)
        times = timed_runs([a.psos, "call", "--broker", url, "bench/n", "tick", "status"],
                           a.process_calls, env)
        cases.append(dict(key="psos_call", name="psos call (a process per call)",
                          calls=len(times), **percentiles(times)))
        rr = shutil.which("mosquitto_rr") or "/usr/bin/mosquitto_rr"
        print(f"   mosquitto_rr, {a.process_calls} processes", file=sys.stderr)
        times = timed_runs([rr, "-p", str(port), "-t", "rr/request", "-e", "rr/reply/1",
                            "-m", "{}", "-q", "1", "-V", "5"], a.process_calls)
        cases.append(dict(key="mosquitto_rr", name="mosquitto_rr to a paho responder (a process per call)",
                          calls=len(times), **percentiles(times)))
        print(f"   {a.calls} sequential calls in one connection", file=sys.stderr)
        key = os.path.join(tmp, "config", "psos", "admin.key")
        out = subprocess.run([bench, "--broker", url, "--node", "bench/n", "--service", "tick",
                              "--function", "status", "--key", key, "--calls", str(a.calls)],
                             capture_output=True, text=True, timeout=300)
        if out.returncode != 0:
            sys.exit("control_round_trip_bench failed: " + out.stderr)
        r = json.loads(out.stdout)
        cases.append(dict(key="in_connection", name="psos, signed calls in one connection",
                          calls=r["calls"], **r["latency_ms"]))
        with open(a.out, "w") as f:
            json.dump({"cases": cases}, f, indent=1)
    finally:
        for p in reversed(procs):
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(tmp, True)


if __name__ == "__main__":
    main()
