"""`psos run` with the modules that reach outside the node: exec (refused unless the node is run
with --allow-exec, then running commands) and bridge (a node joined to Mosquitto brokers and to
another node: both directions with a prefix, local/ kept home, no loops, messages counted, and
messages for a broker that is down delivered once it starts).

Run with /usr/bin/python3. CTest sets PSOS_BINARY.
"""

import os
import re
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "client_cli"))

from clitest import free_port, main, wait_until  # noqa: E402
from test_run import NodeTestCase  # noqa: E402


class ModulesTest(NodeTestCase):

    def ready(self, node, url, system, name):
        """Waits for the node's $state ready on `url`."""
        def state():
            r = self.psos("sub", "--broker", url, "-t", f"psos/{system}/{name}/$state", "-C", "1",
                          "-W", "2")
            return r.stdout.strip() == "ready"
        self.assertTrue(wait_until(state, 10), node.text())

    def lines_of(self, sub):
        sub.proc.terminate()
        status, lines = sub.wait(5)
        return lines

    # ---- exec ----

    def exec_definition(self):
        return self.write("exec.json", {"psos": 1, "system": "s", "nodes": {"n": {
            "listen": ["mqtt://127.0.0.1:0"], "services": [
                {"name": "upper", "module": "exec", "command": ["tr", "a-z", "A-Z"],
                 "sub": "in", "pub": "out"},
                {"name": "fail", "module": "exec", "sub": "fail",
                 "command": ["sh", "-c", "echo 'disk missing' >&2; exit 2"], "pub": "never"},
                {"name": "slow", "module": "exec", "sub": "slow", "timeout": "300ms",
                 "command": ["sleep", "30"], "pub": "never"},
                {"name": "hello", "module": "exec", "command": ["echo", "hi"],
                 "pub": "hello", "retain": True}]}}})

    def test_exec_is_refused_unless_the_node_allows_it(self):
        result = self.psos("run", self.exec_definition(), timeout=10)
        self.assertEqual(result.returncode, 1, result.stdout + result.stderr)
        self.assertIn("service upper: module exec runs commands on this machine", result.stderr)
        self.assertIn("--allow-exec", result.stderr)

    def test_exec_runs_commands_when_allowed(self):
        node = self.node(self.exec_definition(), "--allow-exec")
        url = node.url()
        self.ready(node, url, "s", "n")
        got = self.psos("sub", "--broker", url, "-t", "hello", "-C", "1", "-W", "5")
        self.assertEqual(got.stdout.strip(), "hi", node.text())
        out = self.sub("--broker", url, "-t", "out", "-t", "never")
        self.pub("--broker", url, "-t", "in", "-m", "shout this")
        self.pub("--broker", url, "-t", "fail", "-m", "x")
        self.pub("--broker", url, "-t", "slow", "-m", "x")
        self.assertIsNotNone(node.wait_line(r"\[fail\] sh exited with status 2: disk missing"),
                             node.text())
        self.assertIsNotNone(node.wait_line(r"\[slow\] sleep did not finish within 300 ms: killed"),
                             node.text())
        self.assertTrue(wait_until(lambda: "SHOUT THIS" in out.out.lines, 5), node.text())
        self.assertEqual(self.lines_of(out), ["SHOUT THIS"])

    # ---- bridge ----

    def bridge(self, name, broker, topics=(), topics_in=(), prefix="", **extra):
        service = {"name": name, "module": "bridge", "broker": broker, "topics": list(topics),
                   "topics_in": list(topics_in), "remote_prefix": prefix}
        service.update(extra)
        return service

    def test_bridge_forwards_both_ways_with_its_prefix_and_keeps_local_home(self):
        mosquitto = self.start_mosquitto()
        path = self.write("bridge.json", {
            "psos": 1, "system": "s", "brokers": {"far": {"url": mosquitto.url()}},
            "nodes": {"n": {"listen": ["mqtt://127.0.0.1:0"], "services": [
                self.bridge("b", "far", topics=["up/#"], topics_in=["down/#"], prefix="site1/"),
                {"name": "keep", "module": "pipe", "sub": "up/x", "pub": "local/up/kept"},
                {"name": "print", "module": "log", "sub": "up/kept"}]}}})
        node = self.node(path)
        url = node.url()
        self.assertIsNotNone(node.wait_line(r"\[b\] connected to far"), node.text())
        far = self.sub("--broker", mosquitto.url(), "-t", "#", "-v")
        near = self.sub("--broker", url, "-t", "down/#", "-t", "up/x", "-v")
        time.sleep(0.3)
        self.pub("--broker", url, "-t", "up/x", "-m", "from node", "-q", "1")
        self.pub("--broker", url, "-t", "other", "-m", "not forwarded", "-q", "1")
        self.pub("--broker", mosquitto.url(), "-t", "site1/down/y", "-m", "from far", "-q", "1")
        self.pub("--broker", mosquitto.url(), "-t", "down/y", "-m", "no prefix", "-q", "1")
        # local/up/kept is delivered to this node's subscribers of up/kept (the log service
        # and the bridge) and must not leave the node.
        self.assertIsNotNone(node.wait_line(r"\[print\] up/kept from node"), node.text())
        time.sleep(1.0)
        far_lines, near_lines = self.lines_of(far), self.lines_of(near)
        self.assertEqual(sorted(far_lines), ["down/y no prefix", "site1/down/y from far",
                                             "site1/up/x from node"], node.text())
        self.assertEqual(sorted(near_lines), ["down/y from far", "up/x from node"], node.text())

    def test_two_bridges_between_two_brokers_both_ways_do_not_loop(self):
        # Mosquitto A <-> node n <-> Mosquitto B, both bridges in both directions on t/#, and
        # a second node whose bridge joins B both ways as well: each message published anywhere
        # arrives exactly once everywhere.
        a, b = self.start_mosquitto(), self.start_mosquitto()
        path = self.write("loop.json", {
            "psos": 1, "system": "s",
            "brokers": {"a": {"url": a.url()}, "b": {"url": b.url()}},
            "nodes": {
                "n": {"listen": ["mqtt://127.0.0.1:0"], "services": [
                    self.bridge("to-a", "a", topics=["t/#"], topics_in=["t/#"]),
                    self.bridge("to-b", "b", topics=["t/#"], topics_in=["t/#"])]},
                "m": {"listen": ["mqtt://127.0.0.1:0"], "services": [
                    self.bridge("to-b", "b", topics=["t/#"], topics_in=["t/#"])]}}})
        n = self.node(path, "--node", "n")
        m = self.node(path, "--node", "m")
        urls = {"a": a.url(), "b": b.url(), "n": n.url(), "m": m.url()}
        for node, pattern in ((n, r"\[to-a\] connected"), (n, r"\[to-b\] connected"),
                              (m, r"\[to-b\] connected")):
            self.assertIsNotNone(node.wait_line(pattern), node.text())
        subs = {k: self.sub("--broker", u, "-t", "t/#", "-v") for k, u in urls.items()}
        time.sleep(0.5)
        for k, u in urls.items():
            for i in range(3):
                self.pub("--broker", u, "-t", f"t/{k}", "-m", f"{k}{i}", "-q", "1")
        expected = sorted(f"t/{k} {k}{i}" for k in urls for i in range(3))
        for k, s in subs.items():
            wait_until(lambda: len([l for l in s.out.lines if l]) >= len(expected), 5)
        time.sleep(1.0)  # anything looping would have come round by now
        for k, s in subs.items():
            self.assertEqual(sorted(self.lines_of(s)), expected,
                             f"at {k}:\n{n.text()}\n{m.text()}")

    def test_bridge_cycle_ends(self):
        # Two nodes, each bridging to the other both ways: a cycle of two paths. Duplicates are
        # the price of the redundant path, but a message does not go round for ever.
        port_p, port_q = free_port(), free_port()
        path = self.write("cycle.json", {
            "psos": 1, "system": "s",
            "brokers": {"p": {"url": f"mqtt://127.0.0.1:{port_p}"},
                        "q": {"url": f"mqtt://127.0.0.1:{port_q}"}},
            "nodes": {
                "p": {"listen": [f"mqtt://127.0.0.1:{port_p}"], "services": [
                    self.bridge("to-q", "q", topics=["t/#"], topics_in=["t/#"])]},
                "q": {"listen": [f"mqtt://127.0.0.1:{port_q}"], "services": [
                    self.bridge("to-p", "p", topics=["t/#"], topics_in=["t/#"])]}}})
        p = self.node(path, "--node", "p")
        q = self.node(path, "--node", "q")
        self.assertIsNotNone(p.wait_line(r"\[to-q\] connected"), p.text())
        self.assertIsNotNone(q.wait_line(r"\[to-p\] connected"), q.text())
        sub = self.sub("--broker", f"mqtt://127.0.0.1:{port_q}", "-t", "t/#", "-v")
        time.sleep(0.5)
        self.pub("--broker", f"mqtt://127.0.0.1:{port_p}", "-t", "t/x", "-m", "once", "-q", "1")
        time.sleep(1.5)
        lines = self.lines_of(sub)
        self.assertTrue(1 <= len(lines) <= 2, f"{lines}\n{p.text()}\n{q.text()}")

    def test_messages_for_a_broker_that_is_down_arrive_when_it_starts(self):
        # The second broker is another node whose log service subscribes before its listener
        # accepts anyone, so that it counts every message the bridge hands over.
        port = free_port()
        path = self.write("later.json", {
            "psos": 1, "system": "s",
            "brokers": {"later": {"url": f"mqtt://127.0.0.1:{port}"}},
            "nodes": {
                "n": {"listen": ["mqtt://127.0.0.1:0"], "services": [
                    self.bridge("b", "later", topics=["q/#"], qos=1)]},
                "far": {"listen": [f"mqtt://127.0.0.1:{port}"], "services": [
                    {"name": "print", "module": "log", "sub": "q/#"}]}}})
        node = self.node(path, "--node", "n")
        url = node.url()
        self.ready(node, url, "s", "n")
        for i in range(5):
            self.pub("--broker", url, "-t", "q/x", "-m", f"m{i}", "-q", "1")
        far = self.node(path, "--node", "far")
        self.assertIsNotNone(node.wait_line(r"\[b\] connected to later", 40), node.text())
        seen = re.compile(r"\[print\] q/x (m\d)$")
        self.assertTrue(wait_until(lambda: len(far.out.matching(seen.search)) >= 5, 10),
                        far.text())
        time.sleep(0.5)
        got = [seen.search(l).group(1) for l in far.out.matching(seen.search)]
        self.assertEqual(got, [f"m{i}" for i in range(5)], node.text() + far.text())


if __name__ == "__main__":
    main()
