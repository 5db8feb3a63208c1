"""Recovery of `psos run` with real processes and a real Mosquitto: the node process killed by
SIGKILL and SIGSEGV is started again by its parent and reports the crash ($log, $info
last_crash, psos crashes); a service that blocks the loop past the watchdog is named in the
crash record, also when it blocks in its first turn; a crash loop ends in safe mode and
`psos restart --normal` brings the fixed node back; under NOTIFY_SOCKET the parent sends
READY=1 once the node is ready and WATCHDOG=1 while its loop runs; SIGTERM and SIGINT stop
both processes cleanly.

Run with /usr/bin/python3. CTest sets PSOS_BINARY.
"""

import json
import os
import signal
import socket
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "runtime"))
sys.path.insert(0, os.path.join(HERE, "..", "client_cli"))

from clitest import main, wait_until  # noqa: E402
from test_run import Node, NodeTestCase  # noqa: E402

SYSTEM = "rec"
# Pattern matching that backtracks through C(39, 9) ways: seconds of C code inside one
# string.find, where Lua's instruction limit never gets a say.
BOMB_FIND = "string.find(('a'):rep(30), ('a*'):rep(10) .. 'b')"
BOMB = "return {payload = tostring(" + BOMB_FIND + ")}"


def definition(url, services, **node_keys):
    return {"psos": 1, "system": SYSTEM, "brokers": {"lan": {"url": url}},
            "nodes": {"n": {"uplink": "lan", "metrics": "0s", "services": services,
                            **node_keys}}}


TICK = {"name": "tick", "module": "timer", "every": "200ms", "pub": "local/count"}


class RecoveryTest(NodeTestCase):

    def setUp(self):
        super().setUp()
        self.mosquitto = self.start_mosquitto()
        self.url = self.mosquitto.url()
        self.children = []  # node processes (grandchildren of the test) to clean up
        self.addCleanup(self.kill_children)

    def kill_children(self):
        for pid in self.children:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def start(self, path, env=None):
        return Node(self.processes, [path, "--data", os.path.join(self.tmp, "data")],
                    cwd=self.tmp, env=env)

    def retained(self, topic, timeout=5):
        out = self.psos("sub", "--broker", self.url, "-t", topic, "-C", "1", "-W", str(timeout))
        return out.stdout.strip() if out.returncode == 0 else None

    def info(self):
        text = self.retained(f"psos/{SYSTEM}/n/$info")
        return json.loads(text) if text else None

    def wait_info(self, predicate, timeout, node):
        """The first $info (read while $state is ready or safe) that satisfies predicate."""
        found = []

        def check():
            info = self.info()
            if info and info["state"] in ("ready", "safe") and predicate(info):
                found.append(info)
                return True
            return False
        if not wait_until(check, timeout, interval=0.2):
            self.fail(f"no such $info within {timeout} s: {self.info()}\n" + node.text())
        self.children.append(found[0]["pid"])
        return found[0]

    def fleet(self, *args):
        out = self.psos(*args[:1], "--broker", self.url, *args[1:], timeout=40)
        self.assertEqual(out.returncode, 0, f"psos {' '.join(args)}: {out.stdout}{out.stderr}")
        return out.stdout

    def crashes(self):
        return json.loads(self.fleet("crashes", "n", "--json"))["crashes"]

    def test_sigkill_and_sigsegv_restart_the_node_and_report_the_crash(self):
        path = self.write("d.json", definition(self.url, [TICK]))
        logs = self.sub("--broker", self.url, "-t", f"psos/{SYSTEM}/n/$log")
        node = self.start(path)
        first = self.wait_info(lambda i: True, 15, node)
        self.assertIsNone(first["last_crash"])
        self.assertIsNone(first["revision"])  # the file on its command line, not a deploy
        self.assertEqual(self.crashes(), [])

        os.kill(first["pid"], signal.SIGSEGV)
        second = self.wait_info(lambda i: i["pid"] != first["pid"], 20, node)
        self.assertEqual(second["boot"], first["boot"] + 1)
        crash = second["last_crash"]
        self.assertEqual((crash["cause"], crash["signal"], crash["boot"]),
                         ("signal", "SIGSEGV", first["boot"]), crash)
        self.assertIsNone(crash["revision"])
        self.assertTrue(wait_until(lambda: any(
            l and "previous run crashed: SIGSEGV" in l for l in logs.out.lines), 10),
            "\n".join(l for l in logs.out.lines if l))
        record = json.loads([l for l in logs.out.lines if l and "previous run crashed" in l][0])
        self.assertEqual(record["level"], "error")
        self.assertIn("stack trace:", record["msg"])  # the handler's trace, in the record

        os.kill(second["pid"], signal.SIGKILL)
        third = self.wait_info(lambda i: i["pid"] != second["pid"], 20, node)
        crash = third["last_crash"]
        self.assertEqual((crash["cause"], crash["signal"], crash["boot"]),
                         ("signal", "SIGKILL", second["boot"]), crash)

        listed = self.crashes()
        self.assertEqual([(c["signal"], c["boot"]) for c in listed],
                         [("SIGKILL", second["boot"]), ("SIGSEGV", first["boot"])])
        table = self.fleet("crashes", "n").splitlines()
        self.assertRegex(table[0], r"^#\s+TIME\s+BOOT\s+UPTIME\s+CAUSE\s+SERVICE\s+GOOD BOOT$")
        self.assertRegex(table[1], r"^1\s.*\sSIGKILL\s")
        self.assertRegex(table[2], r"^2\s.*\sSIGSEGV\s")
        whole = self.fleet("crashes", "n", "2")
        self.assertIn("cause      SIGSEGV", whole)
        self.assertRegex(whole, r"stack trace:\n  \S+")
        self.assertIn("[info] uplink connected", whole)  # the node's last log lines
        out = self.psos("crashes", "--broker", self.url, "n", "3", timeout=40)
        self.assertEqual((out.returncode, out.stdout), (1, ""), out.stderr)  # like psos call
        self.assertIn("invalid_args: no crash 3 on node n (2 recorded)", out.stderr)

        # SIGTERM to psos run: the node stops cleanly, both processes end, nothing is recorded.
        node.proc.send_signal(signal.SIGTERM)
        self.assertEqual(node.proc.wait(15), 0, node.text())
        self.assertFalse(os.path.exists(f"/proc/{third['pid']}"), "the node outlived psos run")
        self.assertEqual(self.retained(f"psos/{SYSTEM}/n/$state"), "stopped")
        node = self.start(path)
        fourth = self.wait_info(lambda i: i["pid"] != third["pid"], 15, node)
        self.assertEqual(fourth["last_crash"]["signal"], "SIGKILL")  # still the newest record
        self.assertEqual(len(self.crashes()), 2)

    def test_a_service_blocking_the_loop_past_the_watchdog_is_named_in_the_crash_record(self):
        path = self.write("d.json", definition(self.url, [
            TICK, {"name": "trigger", "module": "timer", "every": "1h", "pub": "local/go"},
            {"name": "bomb", "module": "function", "sub": "go", "code": BOMB}],
            watchdog="1s"))
        node = self.start(path)
        first = self.wait_info(lambda i: True, 15, node)
        # Through the control plane, whose subscription is up once the node is ready. The loop
        # may stall before the reply leaves (3: no answer), but an error (1) means nothing fired.
        out = self.psos("call", "--broker", self.url, "--timeout", "3", "n", "trigger", "fire")
        self.assertIn(out.returncode, (0, 3), out.stdout + out.stderr)
        second = self.wait_info(lambda i: i["pid"] != first["pid"], 30, node)
        crash = second["last_crash"]
        self.assertEqual((crash["cause"], crash["signal"], crash["service"]),
                         ("watchdog", "SIGABRT", "bomb"), crash)
        self.assertGreaterEqual(crash["stalled_ms"], 1000)
        record = json.loads(self.fleet("crashes", "n", "1", "--json"))
        # The trace is the loop thread's own stack: inside Lua's pattern matcher.
        self.assertTrue(any("liblua" in frame for frame in record["trace"]), record["trace"])
        self.assertIn("watchdog: the event loop has not run for", node.text())

    def test_a_service_blocking_the_loop_in_its_first_turn_is_caught_by_the_watchdog_too(self):
        # Before the loop's first heartbeat: the watchdog counts from when it was armed.
        bomb = {"name": "bomb", "module": "function", "setup": "local _ = " + BOMB_FIND}
        path = self.write("d.json", definition(self.url, [bomb], watchdog="1s",
                                               safe_mode={"crashes": 1, "window": "10m"}))
        node = self.start(path)
        safe = self.wait_info(lambda i: i["state"] == "safe", 30, node)
        crash = safe["last_crash"]
        self.assertEqual((crash["cause"], crash["signal"], crash["service"]),
                         ("watchdog", "SIGABRT", "bomb"), crash)
        self.assertIn("watchdog: the event loop has not run for", node.text())

    def test_a_crash_loop_ends_in_safe_mode_and_restart_normal_brings_the_fixed_node_back(self):
        services = [TICK, {"name": "bomb", "module": "function", "sub": "count", "code": BOMB}]
        path = self.write("d.json", definition(self.url, services, watchdog="1s",
                                               safe_mode={"crashes": 3, "window": "10m"}))
        node = self.start(path)
        safe = self.wait_info(lambda i: i["state"] == "safe", 60, node)
        self.assertEqual(self.retained(f"psos/{SYSTEM}/n/$state"), "safe")
        self.assertEqual(safe["services"], [])
        self.assertRegex(safe["safe_mode"], r"^3 crashes within 10 min \(the last: watchdog: .* "
                                            r"in service bomb .*\)")
        self.assertEqual(len(self.crashes()), 3)
        # Still safe after a plain restart; the fixed definition and --normal bring it back.
        out = self.fleet("restart", "n")
        self.assertRegex(out, r"restarted \(boot \d+\), in safe mode: 3 crashes")
        services[1]["code"] = "return {payload = msg.payload}"
        self.write("d.json", definition(self.url, services, watchdog="1s",
                                        safe_mode={"crashes": 3, "window": "10m"}))
        out = self.fleet("restart", "n", "--normal")
        self.assertRegex(out, r"^rec/n restarted \(boot \d+\)\n$")
        back = self.wait_info(lambda i: i["state"] == "ready", 15, node)
        self.assertIsNone(back["safe_mode"])
        self.assertEqual([s["status"] for s in back["services"]], ["running", "running"])
        time.sleep(1.5)  # past the watchdog: the fixed service keeps the loop turning
        self.assertEqual(self.info()["pid"], back["pid"])

    def test_a_deploy_that_fixes_a_node_in_safe_mode_brings_it_back_to_ready(self):
        services = [TICK, {"name": "bomb", "module": "function", "sub": "count", "code": BOMB}]
        path = self.write("d.json", definition(self.url, services, watchdog="1s",
                                               safe_mode={"crashes": 1, "window": "10m"}))
        node = self.start(path)
        safe = self.wait_info(lambda i: i["state"] == "safe", 30, node)
        self.assertEqual(safe["services"], [])
        # The fixed definition, deployed to the node in safe mode: it applies, confirms, commits
        # and leaves safe mode without a restart.
        services[1]["code"] = "return {payload = msg.payload}"
        fixed = self.write("fixed.json", definition(self.url, services, watchdog="1s",
                                                    safe_mode={"crashes": 1, "window": "10m"}))
        out = self.fleet("deploy", fixed, "--confirm", "1")
        self.assertRegex(out, r"n\s+0 -> 1\s", out)
        back = self.wait_info(lambda i: i["state"] == "ready", 15, node)
        self.assertIsNone(back["safe_mode"])
        self.assertEqual(back["revision"], 1)
        self.assertEqual([s["status"] for s in back["services"]], ["running", "running"])
        self.assertEqual(self.retained(f"psos/{SYSTEM}/n/$state"), "ready")

    def test_systemd_notify_ready_after_ready_and_watchdog_pings_while_the_loop_runs(self):
        address = os.path.join(self.tmp, "notify.sock")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(sock.close)
        sock.bind(address)
        sock.settimeout(15)
        env = dict(os.environ, NOTIFY_SOCKET=address, WATCHDOG_USEC="400000")
        path = self.write("d.json", definition(self.url, [TICK]))
        node = self.start(path, env=env)
        # WATCHDOG=1 may come first, while the node starts; READY=1 after $state ready went out.
        first = sock.recv(4096).decode()
        while first == "WATCHDOG=1":
            first = sock.recv(4096).decode()
        self.assertEqual(first, "READY=1\nSTATUS=ready")
        self.assertEqual(self.retained(f"psos/{SYSTEM}/n/$state"), "ready")
        info = self.wait_info(lambda i: True, 5, node)
        pings = []
        deadline = time.monotonic() + 1.2
        while time.monotonic() < deadline:
            message = sock.recv(4096).decode()
            if message == "WATCHDOG=1":
                pings.append(time.monotonic())
        self.assertGreaterEqual(len(pings), 3, pings)  # every 200 ms (WATCHDOG_USEC / 2)
        # A stopped node loop: no more pings (systemd would restart the service).
        os.kill(info["pid"], signal.SIGSTOP)
        try:
            time.sleep(0.6)
            sock.settimeout(0.05)
            while True:
                try:
                    sock.recv(4096)
                except socket.timeout:
                    break
            sock.settimeout(0.8)
            with self.assertRaises(socket.timeout):
                while True:
                    if sock.recv(4096).decode() == "WATCHDOG=1":
                        break
        finally:
            os.kill(info["pid"], signal.SIGCONT)
        sock.settimeout(5)
        self.assertEqual(sock.recv(4096).decode(), "WATCHDOG=1")
        # SIGINT (Ctrl-C) stops both processes cleanly too.
        node.proc.send_signal(signal.SIGINT)
        messages = []
        sock.settimeout(5)
        while "STOPPING=1" not in messages:
            messages.append(sock.recv(4096).decode())
        self.assertEqual(node.proc.wait(15), 0, node.text())
        self.assertFalse(os.path.exists(f"/proc/{info['pid']}"), "the node outlived psos run")
        self.assertEqual(self.retained(f"psos/{SYSTEM}/n/$state"), "stopped")


if __name__ == "__main__":
    main()
