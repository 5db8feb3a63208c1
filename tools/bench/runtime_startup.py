#!/usr/bin/env python3
"""Start-up time and idle memory of a psos node with 10 services and of Node-RED 4 with the same
10 nodes (scripts/bench_runtime runs it; one JSON line per start on stdout, progress on stderr).

psos: `psos run` on a generated definition listening on a free loopback port; ready = from spawn
to the retained psos/<system>/<node>/$state "ready" arriving at a subscriber that connects as soon
as the port accepts (raw MQTT 3.1.1 over a socket, so the subscriber adds little of its own).
Node-RED: `node red.js --settings FILE --userDir DIR flows.json` headless (no editor, no HTTP
server); ready = from spawn to its "Started flows" log line. Both: memory from /proc/PID/status
and smaps_rollup after IDLE seconds of idling (the two timers ticking every second).
`psos run` is two processes (runtime/process_supervisor.hpp): a small supervisor, the pid
spawned, and the node it runs as its child, which holds the services. The row's memory is the
node's; the supervisor's is beside it ("supervisor"), and the table adds the two.

usage: runtime_startup.py --psos PSOS --node-red RED_JS --starts N --idle SECONDS --logs DIR
"""

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

SERVICES = [
    {"name": "tick1", "module": "timer", "every": "1s", "pub": "{node}/a"},
    {"name": "tick2", "module": "timer", "every": "1s", "pub": "{node}/b",
     "payload": "{{\"count\": {count}}}"},
    {"name": "fmt1", "module": "pipe", "sub": "{node}/a", "pub": "{node}/a2",
     "format": "tick {payload}"},
    {"name": "fmt2", "module": "pipe", "sub": "{node}/b", "pub": "{node}/b2",
     "format": "count {count}"},
    {"name": "fn1", "module": "function", "sub": "{node}/a2", "pub": "{node}/a3",
     "code": "return {payload = msg.payload .. '!'}"},
    {"name": "fn2", "module": "function", "sub": "{node}/b2", "pub": "{node}/b3",
     "code": "return {payload = msg.payload}"},
    {"name": "changed", "module": "filter", "sub": "{node}/b3", "pub": "{node}/b4"},
    {"name": "slow", "module": "delay", "sub": "{node}/a3", "pub": "{node}/a4", "time": "100ms"},
    {"name": "log1", "module": "log", "sub": "{node}/a4"},
    {"name": "log2", "module": "log", "sub": "{node}/b4"},
]


def node_red_flow():
    """The same 10 services as Node-RED nodes (inject, template, function, rbe, delay, debug)."""

    def node(id_, type_, x, wires, **fields):
        return {"id": id_, "z": "tab", "type": type_, "name": id_, "x": x, "y": 100,
                "wires": [wires] if wires is not None else [], **fields}

    inject = dict(props=[{"p": "payload"}], payload="", payloadType="date", repeat="1",
                  once=False, topic="")
    debug = dict(active=True, tosidebar=False, console=True, tostatus=False, complete="payload",
                 targetType="msg")
    return [
        {"id": "tab", "type": "tab", "label": "startup"},
        node("tick1", "inject", 100, ["fmt1"], **inject),
        node("tick2", "inject", 100, ["fmt2"], **inject),
        node("fmt1", "template", 200, ["fn1"], field="payload", fieldType="msg",
             format="handlebars", syntax="mustache", template="tick {{payload}}", output="str"),
        node("fmt2", "template", 200, ["fn2"], field="payload", fieldType="msg",
             format="handlebars", syntax="mustache", template="count {{payload}}", output="str"),
        node("fn1", "function", 300, ["slow"], func="msg.payload += '!';\nreturn msg;",
             outputs=1),
        node("fn2", "function", 300, ["changed"], func="return msg;", outputs=1),
        node("changed", "rbe", 400, ["log2"], func="rbe", gap="", start="", inout="out",
             property="payload"),
        node("slow", "delay", 400, ["log1"], pauseType="delay", timeout="100",
             timeoutUnits="milliseconds", rate="1", nbRateUnits="1", rateUnits="second",
             randomFirst="1", randomLast="5", randomUnits="seconds", drop=False),
        node("log1", "debug", 500, None, **debug),
        node("log2", "debug", 500, None, **debug),
    ]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def mqtt_string(text):
    data = text.encode()
    return len(data).to_bytes(2, "big") + data


def packet(first_byte, body):
    length, encoded = len(body), bytearray()
    while True:
        digit, length = length % 128, length // 128
        encoded.append(digit | (0x80 if length else 0))
        if not length:
            break
    return bytes([first_byte]) + bytes(encoded) + body


def wait_for_state(port, topic, deadline):
    """Connects as soon as the port accepts, subscribes to topic and waits for payload ready."""
    while True:
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=1)
            break
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError("the node's port never accepted")
            time.sleep(0.0005)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    connect = mqtt_string("MQTT") + bytes([4, 2, 0, 0]) + mqtt_string("startup-bench")
    subscribe = (1).to_bytes(2, "big") + mqtt_string(topic) + bytes([0])
    sock.sendall(packet(0x10, connect) + packet(0x82, subscribe))
    buffer = b""
    try:
        while time.monotonic() < deadline:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("the node closed the connection")
            buffer += chunk
            while len(buffer) >= 2:
                length, shift, i = 0, 0, 1
                while i < len(buffer) and buffer[i] & 0x80:
                    length += (buffer[i] & 0x7F) << shift
                    shift, i = shift + 7, i + 1
                if i >= len(buffer):
                    break
                length += (buffer[i] & 0x7F) << shift
                if len(buffer) < i + 1 + length:
                    break
                kind, body = buffer[0] >> 4, buffer[i + 1:i + 1 + length]
                buffer = buffer[i + 1 + length:]
                if kind == 3:  # PUBLISH, delivered at QoS 0: no packet id
                    topic_length = int.from_bytes(body[:2], "big")
                    if body[2 + topic_length:] == b"ready":
                        sock.sendall(packet(0xE0, b""))  # DISCONNECT
                        return
        raise TimeoutError("no $state ready")
    finally:
        sock.close()


def memory_kib(pid):
    """VmRSS, VmHWM, RssAnon (private memory), RssFile (mapped files: the executable and shared
    libraries, partly shared with other processes), Pss (shared pages divided among their users)
    and Threads."""
    values = {}
    for name, keys in (("status", ("VmRSS", "VmHWM", "RssAnon", "RssFile", "Threads")),
                       ("smaps_rollup", ("Pss",))):
        with open(f"/proc/{pid}/{name}") as f:
            for line in f:
                key, _, rest = line.partition(":")
                if key in keys:
                    values[key] = int(rest.split()[0])
    return values


def child_pid(pid, deadline):
    """The one child process of `pid` (psos run's node), waiting until `deadline` for it."""
    while True:
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as f:
                    # pid (comm) state ppid ...: comm may hold spaces, so split after its ')'.
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == pid:
                return int(entry)
        if time.monotonic() > deadline:
            raise RuntimeError(f"psos run (pid {pid}) has no node process")
        time.sleep(0.05)


def stop(process):
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def start_psos(psos, work, logs, index, idle):
    port = free_port()
    definition = {"psos": 1, "system": "startup",
                  "nodes": {"n": {"listen": [f"mqtt://127.0.0.1:{port}"], "services": SERVICES}}}
    path = os.path.join(work, "startup.json")
    with open(path, "w") as f:
        json.dump(definition, f)
    with open(os.path.join(logs, f"startup-psos-{index}.log"), "w") as log:
        start = time.monotonic()
        process = subprocess.Popen([psos, "run", path], stdout=log, stderr=subprocess.STDOUT,
                                   cwd=work)
        try:
            wait_for_state(port, "psos/startup/n/$state", start + 10)
            ready = time.monotonic() - start
            time.sleep(idle)
            memory = memory_kib(child_pid(process.pid, time.monotonic() + 5))
            memory["supervisor"] = memory_kib(process.pid)
        finally:
            stop(process)
    return ready, memory


def start_node_red(red_js, work, logs, index, idle):
    user_dir = os.path.join(work, "node-red")
    os.makedirs(user_dir, exist_ok=True)
    with open(os.path.join(user_dir, "flows.json"), "w") as f:
        json.dump(node_red_flow(), f)
    settings = os.path.join(user_dir, "settings.js")
    with open(settings, "w") as f:
        f.write("module.exports = { httpAdminRoot: false, httpNodeRoot: false, "
                "disableEditor: true, credentialSecret: false, flowFile: 'flows.json', "
                "logging: { console: { level: 'info', metrics: false, audit: false } } };\n")
    with open(os.path.join(logs, f"startup-node-red-{index}.log"), "w") as log:
        start = time.monotonic()
        process = subprocess.Popen(["node", red_js, "--settings", settings, "--userDir", user_dir,
                                    "flows.json"], stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, cwd=work, text=True)
        copy = None
        try:
            ready = None
            for line in process.stdout:
                log.write(line)
                if "Started flows" in line:
                    ready = time.monotonic() - start
                    break
            if ready is None:
                raise RuntimeError("Node-RED exited before 'Started flows'")
            # Keep reading (the debug nodes print every second) while idling.
            copy = threading.Thread(target=lambda: log.writelines(process.stdout))
            copy.start()
            time.sleep(idle)
            memory = memory_kib(process.pid)
        finally:
            stop(process)
            if copy is not None:
                copy.join()
    return ready, memory


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--psos", required=True)
    parser.add_argument("--node-red", required=True)
    parser.add_argument("--starts", type=int, default=5)
    parser.add_argument("--idle", type=float, default=2)
    parser.add_argument("--logs", required=True)
    args = parser.parse_args()
    psos, red_js = os.path.abspath(args.psos), os.path.abspath(args.node_red)
    starters = [("psos", lambda *a: start_psos(psos, *a))]
    if os.path.exists(red_js):
        starters.append(("node-red", lambda *a: start_node_red(red_js, *a)))
    else:
        print("   Node-RED not installed: psos only", file=sys.stderr)
    # Interleaved, so that a change in the machine's load touches both alike.
    for index in range(args.starts):
        for system, starter in starters:
            with tempfile.TemporaryDirectory(prefix="psos-startup-") as work:
                row = {"system": system, "start": index, "services": len(SERVICES),
                       "idle_seconds": args.idle, "error": ""}
                try:
                    ready, memory = starter(work, args.logs, index, args.idle)
                    row.update(ready_ms=ready * 1000, rss_kib=memory.get("VmRSS"),
                               hwm_kib=memory.get("VmHWM"), anon_kib=memory.get("RssAnon"),
                               file_kib=memory.get("RssFile"), pss_kib=memory.get("Pss"),
                               threads=memory.get("Threads"))
                    if "supervisor" in memory:
                        sup = memory["supervisor"]
                        row["supervisor"] = dict(
                            rss_kib=sup.get("VmRSS"), hwm_kib=sup.get("VmHWM"),
                            anon_kib=sup.get("RssAnon"), file_kib=sup.get("RssFile"),
                            pss_kib=sup.get("Pss"), threads=sup.get("Threads"))
                    print(f"   {system:<8} start {index + 1}/{args.starts}: ready in "
                          f"{ready * 1000:7.1f} ms, RSS {memory.get('VmRSS', 0) / 1024:6.1f} MB "
                          f"(peak {memory.get('VmHWM', 0) / 1024:.1f} MB, anonymous "
                          f"{memory.get('RssAnon', 0) / 1024:.1f} MB)"
                          + (f"; its supervisor {memory['supervisor'].get('VmRSS', 0) / 1024:.1f} MB"
                             if "supervisor" in memory else ""), file=sys.stderr)
                except (OSError, RuntimeError, TimeoutError, ConnectionError) as e:
                    row["error"] = str(e)
                    print(f"   {system:<8} start {index + 1}/{args.starts}: ERROR {e}",
                          file=sys.stderr)
                print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
