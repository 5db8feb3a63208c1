"""`psos run`: a node of a definition as a real process. The hello example on a free port, its
$state and $info, a clean stop on SIGTERM, a node joined to Mosquitto through its uplink (local/
stays local, the will says lost), a failing service restarted, and bad definitions refused.

Run with /usr/bin/python3. CTest sets PSOS_BINARY.
"""

import json
import os
import re
import signal
import socket
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "client_cli"))

from clitest import CliTestCase, LineReader, main, psos_binary, wait_until  # noqa: E402

EXAMPLES = os.path.join(HERE, "..", "..", "..", "examples")
LISTENING = re.compile(r"listening\s+(mqtt://\S+)")


class Node:
    """A running `psos run`; its stdout (summary and services' logs) and stderr are read."""

    def __init__(self, processes, args, cwd=None, env=None):
        self.proc = processes.start([psos_binary(), "run", *args], cwd=cwd, env=env)
        self.out = LineReader(self.proc.stdout)
        self.err = LineReader(self.proc.stderr)

    def wait_line(self, pattern, timeout=10):
        regex = re.compile(pattern)
        return self.out.wait_for(lambda l: regex.search(l), timeout)

    def url(self):
        line = self.wait_line(LISTENING.pattern)
        if line is None:
            raise AssertionError("psos run printed no listening line:\n" + self.text())
        return LISTENING.search(line).group(1)

    def text(self):
        self.out.join(0.2)
        self.err.join(0.2)
        return "\n".join(l for l in self.out.lines + self.err.lines if l is not None)


class NodeTestCase(CliTestCase):
    """Starts psos run processes (cleaned up with the test's others) from written definitions."""

    def node(self, *args):
        # In the test's own directory: a node without --data keeps its files in ./.psos.
        return Node(self.processes, list(args), cwd=self.tmp)

    def write(self, name, definition):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            json.dump(definition, f, indent=1)
        return path


class RunTest(NodeTestCase):

    def retained(self, url, topic):
        result = self.psos("sub", "--broker", url, "-t", topic, "-C", "1", "-W", "5")
        self.assertEqual(result.returncode, 0, f"no retained message on {topic}: {result.stderr}")
        return result.stdout.strip()

    def test_hello_example_runs_reports_state_and_stops_cleanly(self):
        node = self.node(os.path.join(EXAMPLES, "hello.json"), "--listen", "mqtt://127.0.0.1:0")
        url = node.url()
        self.assertIsNotNone(node.wait_line(r"service\s+greet \(pipe\)"), node.text())
        self.assertEqual(self.retained(url, "psos/hello/hello/$state"), "ready")
        info = json.loads(self.retained(url, "psos/hello/hello/$info"))
        self.assertEqual([s["name"] for s in info["services"]], ["tick", "greet", "print"])
        self.assertTrue(all(s["status"] == "running" for s in info["services"]), info)
        self.assertEqual(len(info["definition"]), 64)
        # The services talk: greetings arrive, and the log service prints them.
        got = self.psos("sub", "--broker", url, "-t", "hello/greeting", "-C", "2", "-W", "8")
        self.assertEqual(got.returncode, 0, got.stderr)
        self.assertRegex(got.stdout, r"Hello from hello, tick \d+")
        self.assertIsNotNone(node.wait_line(r"\[print\] Hello from hello, tick \d+"), node.text())
        # SIGTERM: $state becomes stopped before the listener closes, and the exit is clean.
        watcher = self.sub("--broker", url, "-t", "psos/hello/hello/$state", "-R", "-C", "1")
        node.proc.send_signal(signal.SIGTERM)
        self.assertEqual(node.proc.wait(10), 0, node.text())
        status, lines = watcher.wait(10)
        self.assertIn("stopped", lines, node.text())

    def test_node_joins_mosquitto_through_its_uplink(self):
        mosquitto = self.start_mosquitto()
        path = self.write("uplink.json", {
            "psos": 1, "system": "farm",
            "brokers": {"lan": {"url": mosquitto.url()}},
            "nodes": {"e01": {"uplink": "lan", "services": [
                {"name": "tick", "module": "timer", "every": "100ms", "pub": "{node}/tick",
                 "payload": "{count}"},
                {"name": "mirror", "module": "pipe", "sub": "{node}/tick",
                 "pub": "local/{node}/seen", "format": "seen {payload}"},
                {"name": "print", "module": "log", "sub": "{node}/seen"},
                {"name": "echo", "module": "pipe", "sub": "remote/in",
                 "pub": "{node}/echo", "format": "echo {payload}"}]}}})
        ticks = self.sub("--broker", mosquitto.url(), "-t", "e01/#", "-v")
        node = self.node(path)
        # init, then ready: both go up in order once the uplink is connected.
        self.assertTrue(wait_until(
            lambda: self.retained(mosquitto.url(), "psos/farm/e01/$state") == "ready", 10),
            node.text())
        # A message from the other broker reaches the node's service once, and its answer goes up.
        self.assertIsNotNone(node.wait_line(r"\[print\] e01/seen seen \d+"), node.text())
        time.sleep(0.3)  # the echo service's subscription is mirrored upstream
        self.pub("--broker", mosquitto.url(), "-t", "remote/in", "-m", "ping", "-q", "1")
        wait_until(lambda: any(l and "e01/echo echo ping" in l for l in ticks.out.lines), 5)
        node.proc.send_signal(signal.SIGKILL)
        node.proc.wait(5)
        ticks.proc.terminate()
        status, lines = ticks.wait(5)
        self.assertTrue(any(re.match(r"e01/tick \d+$", l) for l in lines), lines)
        self.assertEqual(sum(1 for l in lines if l == "e01/echo echo ping"), 1, lines)
        self.assertFalse([l for l in lines if "seen" in l], "a local/ message left the node")
        # SIGKILL: the broker publishes the node's will.
        self.assertEqual(self.retained(mosquitto.url(), "psos/farm/e01/$state"), "lost")

    def test_log_held_while_the_broker_is_down_arrives_in_order_with_the_dropped_count(self):
        """$log records written while the uplink is down wait in the node's buffer (10 here)
        and go up in order once it is back; what did not fit is counted, infos before warnings."""
        directory = os.path.join(self.tmp, "mosq")
        os.makedirs(directory)
        mosquitto = self.start_mosquitto(
            f"persistence true\npersistence_location {directory}/\nautosave_interval 1\n")
        path = self.write("logs.json", {
            "psos": 1, "system": "farm", "brokers": {"lan": {"url": mosquitto.url()}},
            "nodes": {"e01": {"uplink": "lan", "metrics": "0s", "log": {"buffer": 10},
                              "services": [
                {"name": "tick", "module": "timer", "every": "50ms", "pub": "local/t"},
                {"name": "print", "module": "log", "sub": "t"}]}}})
        # A persistent subscriber (session kept by Mosquitto across its restart) sees every
        # record the node sends, before and after.
        logs = self.sub("--broker", mosquitto.url(), "-t", "psos/farm/e01/$log", "-q", "1",
                        "-c", "-i", "log-watcher")
        node = self.node(path)
        self.assertTrue(wait_until(lambda: len(logs.out.matching(bool)) >= 5, 10), node.text())
        time.sleep(1.5)  # an autosave holds the watcher's session
        port = mosquitto.port
        mosquitto.proc.kill()
        mosquitto.proc.wait(5)
        time.sleep(1.5)  # ~30 ticks printed, 10 kept
        mosquitto = self.restart_mosquitto(mosquitto, port)
        self.assertTrue(wait_until(
            lambda: any('"dropped"' in l for l in logs.out.matching(bool)), 15),
            node.text() + "\n" + "\n".join(logs.out.matching(bool)[-20:]))
        time.sleep(0.5)
        # QoS 1 is at least once: a record in flight when Mosquitto died may come twice (its
        # saved state redelivers it); seq tells, and order holds for the first copies.
        records, seen = [], set()
        for record in (json.loads(l) for l in logs.out.matching(bool)):
            if record["seq"] not in seen:
                seen.add(record["seq"])
                records.append(record)
        seqs = [r["seq"] for r in records]
        self.assertEqual(seqs, sorted(seqs), "out of order")
        gap = next(i for i, r in enumerate(records) if "dropped" in r)
        self.assertGreater(records[gap]["dropped"], 5, records[gap])
        # What arrived across the outage: the lost connection's warning was kept, and the
        # records missing from the sequence are the dropped ones.
        after = records[gap - 1:]
        self.assertTrue(any(r["level"] == "warn" and "uplink" in r["msg"] for r in after),
                        after)
        missing = seqs[-1] - seqs[gap - 1] - (len(seqs) - gap)
        self.assertEqual(sum(r.get("dropped", 0) for r in after), missing, after)

    def test_a_failing_service_is_restarted_and_reported(self):
        path = self.write("failing.json", {
            "psos": 1, "system": "s",
            "nodes": {"n": {"listen": ["mqtt://127.0.0.1:0"], "services": [
                {"name": "bad", "module": "timer", "every": "50ms", "pub": "t",
                 "payload": "{nosuch}"}]}}})
        node = self.node(path)
        url = node.url()
        self.assertIsNotNone(node.wait_line(r"\[bad\] failed: .*nosuch.*restarting in 1000 ms"),
                             node.text())
        self.assertTrue(wait_until(lambda: json.loads(self.retained(url, "psos/s/n/$info"))
                                   ["services"][0]["restarts"] >= 1, 5), node.text())

    def test_bad_definitions_are_refused_with_their_position(self):
        path = self.write("bad.json", {"psos": 1, "system": "s", "nodes": {"n": {"services": [
            {"name": "t", "module": "timer", "every": "10x", "pub": "t"}]}}})
        result = self.psos("run", path)
        self.assertEqual(result.returncode, 1)
        self.assertRegex(result.stderr, r"bad\.json:\d+:\d+: nodes/n/services/0/every: bad duration")
        missing = self.psos("run", os.path.join(self.tmp, "nope.json"))
        self.assertEqual(missing.returncode, 2)
        self.assertIn("cannot read", missing.stderr)

    def test_a_taken_port_is_a_clear_error(self):
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            result = self.psos("run", os.path.join(EXAMPLES, "hello.json"),
                               "--listen", f"mqtt://127.0.0.1:{port}")
        self.assertEqual(result.returncode, 1)
        self.assertIn(f"127.0.0.1:{port}", result.stderr)


if __name__ == "__main__":
    main()
