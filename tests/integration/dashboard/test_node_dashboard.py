"""The node setting "dashboard": `psos dashboard` served by a node over the node's own
connection. Two nodes over a real Mosquitto; the hub serves the page. Its WebSocket shows both
nodes, its commands reach the other node signed, its publishes reach Mosquitto, and the hub holds
one connection to the broker all along. A dashboard that cannot listen leaves the node running.

Run with /usr/bin/python3. CTest sets PSOS_BINARY.
"""

import json
import os
import re
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from dashtest import (SYSTEM, SystemTestCase, WebSocket, get, main,  # noqa: E402
                      psos_binary, wait_until)
from test_run import Node  # noqa: E402

SERVING = re.compile(r"dashboard serving (http://\S+) over this node's connection")


def two_nodes(broker_url, embedded):
    return {"psos": 1, "system": SYSTEM, "brokers": {"lan": {"url": broker_url}},
            "nodes": {
                "hub": {"uplink": "lan", "metrics": "300ms", "dashboard": "http://127.0.0.1:0",
                        "services": [{"name": "beat", "module": "timer", "every": "200ms",
                                      "pub": "hub/beat"}]},
                "n2": {"uplink": "lan", "metrics": "300ms", "services": [
                    {"name": "tick", "module": "timer", "every": "200ms", "pub": "n2/tick"},
                    {"name": "echo", "module": "pipe", "sub": "n2/tick", "pub": "n2/echo"}]}}}


def family(pid):
    """`pid` and its descendants (psos run is a supervisor and the node process)."""
    pids = [pid]
    for p in pids:
        try:
            with open(f"/proc/{p}/task/{p}/children") as f:
                pids.extend(int(c) for c in f.read().split())
        except OSError:
            pass
    return pids


def sockets_to(pid, port):
    """How many TCP connections process `pid` and its children have to 127.0.0.1:`port`."""
    inodes = set()
    for p in family(pid):
        try:
            fds = os.listdir(f"/proc/{p}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(f"/proc/{p}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    count = 0
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            remote, state, inode = fields[2], fields[3], fields[9]
            if inode in inodes and state == "01" and int(remote.split(":")[1], 16) == port:
                count += 1
    return count


class NodeDashboardTest(SystemTestCase):
    definition = staticmethod(two_nodes)

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        hub = cls.system.nodes["hub"]
        found = []
        if not wait_until(lambda: found.extend(SERVING.findall(hub.text())) or found, 15,
                          interval=0.1):
            raise AssertionError("the hub serves no dashboard:\n" + hub.text())
        cls.url = found[0]
        cls.port = int(cls.url.rsplit(":", 1)[1])

    def test_the_page_is_served_by_the_node(self):
        status, headers, body = get(self.port, "/")
        self.assertEqual(status, 200)
        self.assertIn(b'<script src="/app.js"', body)

    def test_the_page_sees_both_nodes_and_their_topics(self):
        ws = WebSocket(self.port)
        self.addCleanup(ws.close)
        ready = {}

        def both_ready(frame):
            for n in frame.get("snapshot", []) + [e for e in frame.get("events", [])
                                                  if "state" in e]:
                if "state" in n:
                    ready[n.get("id", n.get("node"))] = n["state"]
            return all(ready.get(f"{SYSTEM}/{name}") == "ready" for name in ("hub", "n2"))

        self.assertIsNotNone(ws.json_until(both_ready, 10), ready)
        # n2's messages come down the hub's uplink because the dashboard subscribed on the hub.
        frame = ws.json_until(lambda f: any(t["t"] == "n2/echo" for t in f.get("topics", [])))
        self.assertIsNotNone(frame, "n2/echo never reached the hub's dashboard")

    def test_commands_go_to_the_other_node_signed(self):
        ws = WebSocket(self.port)
        self.addCleanup(ws.close)
        ws.json_until(lambda f: True)
        ws.send_json({"type": "cmd", "id": 3, "node": f"{SYSTEM}/n2", "verb": "ping"})
        reply = ws.json_until(lambda f: f.get("replies"))["replies"][0]
        self.assertEqual((reply["id"], reply["ok"], reply["result"]["node"]), (3, True, "n2"))
        ws.send_json({"type": "cmd", "id": 4, "node": f"{SYSTEM}/hub", "verb": "call",
                      "args": {"service": "beat", "function": "status", "args": {}}})
        reply = ws.json_until(lambda f: f.get("replies"))["replies"][0]
        self.assertEqual((reply["id"], reply["ok"]), (4, True), reply)
        before = self.restarts("n2", "echo")
        ws.send_json({"type": "cmd", "id": 5, "node": f"{SYSTEM}/n2", "verb": "service",
                      "args": {"op": "restart", "name": "echo"}})
        reply = ws.json_until(lambda f: f.get("replies"))["replies"][0]
        self.assertEqual((reply["id"], reply["ok"]), (5, True), reply)
        self.assertTrue(wait_until(lambda: self.restarts("n2", "echo") == before + 1, 10))

    def restarts(self, node, service):
        info = subprocess.run([psos_binary(), "sub", "--broker", self.system.url, "-t",
                               f"psos/{SYSTEM}/{node}/$info", "-C", "1", "-W", "5"],
                              capture_output=True, text=True, timeout=20)
        services = json.loads(info.stdout)["services"]
        return next(s["restarts"] for s in services if s["name"] == service)

    def test_publishes_reach_the_broker_and_bad_topics_are_refused(self):
        ws = WebSocket(self.port)
        self.addCleanup(ws.close)
        ws.json_until(lambda f: True)
        sub = subprocess.Popen([psos_binary(), "sub", "--broker", self.system.url, "-t",
                                "from/hub", "-C", "1", "-W", "10"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.addCleanup(sub.kill)
        # Published until the subscriber, which may not have subscribed yet, has one.
        seen = []

        def published():
            ws.send_json({"type": "publish", "id": 9, "topic": "from/hub", "payload": "hi"})
            reply = ws.json_until(lambda f: f.get("replies"), 5)["replies"][0]
            self.assertTrue(reply["ok"], reply)
            try:
                seen.append(sub.communicate(timeout=0.5)[0])
            except subprocess.TimeoutExpired:
                return False
            return True

        self.assertTrue(wait_until(published, 10))
        self.assertEqual(seen[0].strip(), "hi")
        ws.send_json({"type": "publish", "id": 10, "topic": "a/+/b", "payload": "x"})
        reply = ws.json_until(lambda f: f.get("replies"))["replies"][0]
        self.assertEqual((reply["id"], reply["ok"], reply["error"]["code"]),
                         (10, False, "refused"))

    def test_the_hub_has_one_connection_to_the_broker(self):
        ws = WebSocket(self.port)
        self.addCleanup(ws.close)
        ws.send_json({"type": "cmd", "id": 1, "node": f"{SYSTEM}/n2", "verb": "ping"})
        self.assertTrue(ws.json_until(lambda f: f.get("replies"))["replies"][0]["ok"])
        port = int(self.system.url.rsplit(":", 1)[1])
        self.assertEqual(sockets_to(self.system.nodes["hub"].proc.pid, port), 1)

    def test_a_dashboard_that_cannot_listen_leaves_the_node_running(self):
        taken = socket.socket()
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        self.addCleanup(taken.close)
        definition = two_nodes(self.system.url, False)
        definition["system"] = "other"  # not to be mistaken for the running hub
        definition["nodes"]["hub"]["dashboard"] = f"http://127.0.0.1:{taken.getsockname()[1]}"
        definition["nodes"]["hub"]["services"][0]["pub"] = "hub2/beat"
        path = os.path.join(self.tmp, "taken.json")
        with open(path, "w") as f:
            json.dump(definition, f)
        node = Node(self.processes, [path, "--node", "hub", "--data",
                                     os.path.join(self.tmp, "data-taken")])
        self.assertTrue(wait_until(lambda: "the node runs without it" in node.text(), 15),
                        node.text())
        self.assertIn(f"cannot listen on http://127.0.0.1:{taken.getsockname()[1]}", node.text())
        got = self.fleet("sub", "-t", "hub2/beat", "-C", "1", "-W", "5")
        self.assertEqual(got.returncode, 0, node.text())


if __name__ == "__main__":
    main()
