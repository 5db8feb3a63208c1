"""The fleet commands (psos nodes, call, cmd, conf, eval, repl, logs, restart) against three real
nodes, with exact outputs and exit statuses: once over a real Mosquitto, once over the gateway
node's embedded broker (the other two uplink to it). Every verb goes through a command; errors
(unknown nodes, services, functions and verbs, wrong argument types, bad values, no answer, an
unreachable broker) are one line on stderr with the documented exit status, and the nodes keep
working. A conf override survives a restart of its node (SIGTERM, then the same --data).

Run with /usr/bin/python3. CTest sets PSOS_BINARY.
"""

import json
import os
import pty
import re
import select
import signal
import socket
import sys
import termios
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from fleettest import (SYSTEM, TIME, Sub, SystemTestCase, compact, main,  # noqa: E402
                       matches, psos_binary, psos_version, wait_until)

VERSION = psos_version()


def three_nodes(broker_url, embedded):
    """gw (the broker, when embedded) aggregates and echoes; e01 has a timer that fires hourly
    (so its counters stay still); e02 formats ticks and logs what comes to fleet/print."""
    nodes = {
        "gw": {"metrics": "300ms", "services": [
            {"name": "agg", "module": "aggregate", "sub": "fleet/tick", "pub": "fleet/mean",
             "count": 3},
            {"name": "echo", "module": "pipe", "sub": "fleet/in", "pub": "fleet/out"}]},
        "e01": {"services": [
            {"name": "tick", "module": "timer", "every": "1h", "pub": "fleet/tick"}]},
        "e02": {"services": [
            {"name": "fmt", "module": "pipe", "sub": "fleet/tick", "pub": "fleet/fmt",
             "format": "T {payload}"},
            {"name": "print", "module": "log", "sub": "fleet/print"}]},
    }
    for name, node in nodes.items():
        if name == "gw" and embedded:
            node["listen"] = [broker_url]
        else:
            node["uplink"] = "lan"
    return {"psos": 1, "system": SYSTEM, "brokers": {"lan": {"url": broker_url}},
            "nodes": nodes}


class FleetCommands:
    """The checks, run against each system below. Each leaves the nodes as it found them."""

    definition = staticmethod(three_nodes)

    # ---------------------------------------------------------------- psos nodes

    def test_nodes_lists_every_node(self):
        lines = self.ok("nodes").splitlines()
        self.assertRegex(lines[0], r"^SYSTEM +NODE +STATE +VERSION +UPTIME +SERVICES +LAST SEEN$")
        rows = [re.split(r" {2,}", line) for line in lines[1:]]
        self.assertEqual([r[:4] + r[5:6] for r in rows], [
            [SYSTEM, "e01", "ready", VERSION, "1/1"],
            [SYSTEM, "e02", "ready", VERSION, "2/2"],
            [SYSTEM, "gw", "ready", VERSION, "2/2"]])
        for r in rows:
            self.assertRegex(r[4], r"^\d+s$|^\d+m\d\ds$")
            self.assertRegex(r[6], r"^(\d+s|\d+m\d\ds) ago$")

    def test_nodes_watch_prints_a_line_per_change_in_a_pipe(self):
        proc, out = self.follow("nodes", "-w")
        self.assertEqual(out.wait_count(lambda l: l.startswith(SYSTEM + " "), 3, 15), 3,
                         out.lines)
        restarts = json.loads(self.ok("call", "e02", "fmt", "status"))["restarts"]
        stop = {"op": "stop", "name": "fmt"}
        self.assertEqual(self.ok("cmd", "e02", "service", json.dumps(stop)),
                         compact({"name": "fmt", "restarts": restarts, "status": "stopped"}) + "\n")
        self.assertIsNotNone(out.wait_for(
            matches(rf"{TIME}  {SYSTEM}/e02  ready  {re.escape(VERSION)}  1/2"), 10), out.lines)
        start = {"op": "start", "name": "fmt"}
        self.assertEqual(json.loads(self.ok("cmd", "e02", "service", json.dumps(start)))["status"],
                         "running")
        self.assertIsNotNone(out.wait_for(
            matches(rf"{TIME}  {SYSTEM}/e02  ready  {re.escape(VERSION)}  2/2"), 10), out.lines)
        proc.send_signal(signal.SIGINT)
        self.assertEqual(proc.wait(10), 0)

    # ---------------------------------------------------------------- psos call

    def test_call_prints_the_result_as_one_line_of_json(self):
        for node in ("e01", f"{SYSTEM}/e01"):
            text = self.ok("call", node, "tick", "status")
            result = json.loads(text)
            self.assertEqual(text, compact(result) + "\n")
            self.assertEqual(
                {k: result[k] for k in ("name", "module", "status", "params", "restarts")},
                {"name": "tick", "module": "timer", "status": "running", "restarts": 0,
                 "params": {"every": 3600000, "jitter": 0, "payload": "{ts}",
                            "pub": "fleet/tick", "qos": 0, "retain": False}})
        self.assertEqual(json.loads(self.ok("call", "gw", "echo", "status", "{}"))["name"], "echo")

    def test_call_errors_are_one_line_with_their_exit_status(self):
        node = f"{SYSTEM}/e01"
        self.assertEqual(self.failed(1, "call", "e01", "nope", "status"),
                         f"psos call: {node} answered unknown_service: no service nope on node "
                         "e01 (services: tick)\n")
        self.assertEqual(self.failed(1, "call", "e01", "tick", "nope"),
                         f"psos call: {node} answered unknown_function: service tick (module "
                         "timer) has no function nope (functions: status, fire)\n")
        self.assertEqual(self.failed(1, "call", "e01", "tick", "status", '{"x": 1}'),
                         f'psos call: {node} answered invalid_args: x: unknown argument "x" of '
                         "function status: it takes no arguments\n")
        self.assertEqual(self.failed(2, "call", "e01", "tick", "status", "{bad"),
                         "psos call: ARGS_JSON is not JSON: {bad\n")
        self.assertEqual(self.failed(2, "call", "e01", "tick", "status", "[1]"),
                         'psos call: ARGS_JSON must be a JSON object, like {"limit": 10}, not '
                         "[1]\n")
        self.assertEqual(self.failed(2, "call", "a/b/c", "tick", "status"),
                         "psos call: node name 'a/b/c': expected NODE or SYSTEM/NODE (one '/' at "
                         "most)\n")
        self.assertEqual(self.failed(3, "call", "nope", "tick", "status"),
                         "psos call: no node nope on the broker (no retained psos/+/nope/$state; "
                         "psos nodes lists the nodes the broker knows)\n")
        self.assertEqual(self.failed(3, "call", f"{SYSTEM}/ghost", "tick", "status",
                                     "--timeout", "0.5"),
                         f"psos call: no answer from {SYSTEM}/ghost within 0.5 s (is it running? "
                         "psos nodes lists the nodes the broker knows)\n")
        missing = os.path.join(self.tmp, "missing.key")
        self.assertRegex(self.failed(2, "call", "e01", "tick", "status", "--key", missing),
                         rf"^psos call: cannot use the key: {re.escape(missing)}: .*\n$")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]  # nothing listens on it once closed
        out = self.psos("call", "--broker", f"mqtt://127.0.0.1:{port}", "e01", "tick", "status")
        self.assertEqual(out.returncode, 3, out.stderr)
        self.assertRegex(out.stderr, rf"^psos call: connection refused by 127\.0\.0\.1:{port}.*\n$")
        # The node is unharmed.
        self.assertEqual(json.loads(self.ok("call", "e01", "tick", "status"))["status"], "running")

    def test_a_node_name_in_two_systems_must_be_qualified(self):
        self.psos("pub", "--broker", self.system.url, "-t", "psos/other/e01/$state", "-m", "ready",
                  "-r", "-q", "1")
        try:
            self.assertEqual(self.failed(2, "call", "e01", "tick", "status"),
                             f"psos call: several systems have a node e01 ({SYSTEM}/e01, other/e01)"
                             ": name one as SYSTEM/e01\n")
            self.ok("call", f"{SYSTEM}/e01", "tick", "status")
        finally:
            self.psos("pub", "--broker", self.system.url, "-t", "psos/other/e01/$state", "-n",
                      "-r", "-q", "1")
        self.ok("call", "e01", "tick", "status")

    # ---------------------------------------------------------------- psos cmd: every verb

    def test_cmd_sends_every_verb(self):
        ping = json.loads(self.ok("cmd", "e01", "ping"))
        self.assertEqual(sorted(ping), ["boot", "node", "uptime_ms"])
        self.assertEqual(ping["node"], "e01")
        help_ = json.loads(self.ok("cmd", "e01", "help"))
        self.assertLessEqual({"ping", "help", "info", "call", "conf", "service", "log", "restart"},
                             {v["name"] for v in help_["verbs"]})
        self.assertEqual([(s["name"], s["module"], [f["name"] for f in s["functions"]])
                          for s in help_["services"]], [("tick", "timer", ["status", "fire"])])
        info = json.loads(self.ok("cmd", "e02", "info"))
        self.assertEqual((info["system"], info["node"], info["version"], info["state"]),
                         (SYSTEM, "e02", VERSION, "ready"))
        self.assertEqual([s["name"] for s in info["services"]], ["fmt", "print"])
        self.assertEqual(self.ok("cmd", "e02", "log", '{"level": "debug"}'),
                         '{"level":"debug"}\n')
        self.assertEqual(self.ok("cmd", "e02", "log", '{"level": "warn", "service": "print"}'),
                         '{"level":"warn","service":"print"}\n')
        self.ok("cmd", "e02", "log", '{"level": "info", "service": "print"}')
        self.assertEqual(self.ok("cmd", "e02", "log", '{"level": "info"}'), '{"level":"info"}\n')
        status = json.loads(self.ok("cmd", "e01", "call",
                                    '{"service": "tick", "function": "status"}'))
        self.assertEqual(status["name"], "tick")
        node = f"{SYSTEM}/e02"
        self.assertRegex(self.failed(1, "cmd", "e02", "nosuch"),
                         rf"^psos cmd: {node} answered unknown_verb: no verb nosuch \(verbs: ping, "
                         r"help, info, call, conf, .*\)\n$")
        self.assertEqual(self.failed(1, "cmd", "e02", "service", '{"op": "stop", "name": 3}'),
                         f"psos cmd: {node} answered invalid_args: name: expected a string, found "
                         "the number 3\n")
        self.assertEqual(self.failed(1, "cmd", "e02", "log", '{"level": "loud"}'),
                         f'psos cmd: {node} answered invalid_args: level: "loud" is not one of '
                         '"trace", "debug", "info", "warn", "error", "off"\n')
        self.assertEqual(self.failed(1, "cmd", "e02", "service", '{"op": "stop", "name": "x"}'),
                         f"psos cmd: {node} answered unknown_service: no service x on node e02 "
                         "(services: fmt, print)\n")
        self.assertEqual(self.failed(2, "cmd", "e02", "a/b"),
                         "psos cmd: VERB 'a/b' is not a verb's name\n")
        self.assertEqual(json.loads(self.ok("cmd", "e02", "ping"))["node"], "e02")

    # ---------------------------------------------------------------- psos conf

    def test_conf_dump_get_set_unset(self):
        self.assertEqual(self.ok("conf", "e02", "dump"),
                         "SERVICE  PARAM   VALUE                SOURCE\n"
                         'fmt      format  "T {payload}"        definition\n'
                         'fmt      pub     "fleet/fmt"          definition\n'
                         "fmt      qos     0                    default\n"
                         "fmt      retain  false                default\n"
                         'fmt      sub     ["fleet/tick"]       definition\n'
                         'print    format  "{topic} {payload}"  default\n'
                         'print    level   "info"               default\n'
                         'print    sub     ["fleet/print"]      definition\n')
        self.assertEqual(self.ok("conf", "e02", "get", "fmt.format"), '"T {payload}"\n')
        self.assertEqual(self.ok("conf", "e02", "set", "fmt.format", "V {payload}"),
                         'fmt.format = "V {payload}" (override; fmt restarted)\n')
        try:
            self.assertEqual(self.ok("conf", "e02", "get", "fmt.format"), '"V {payload}"\n')
            self.assertIn(["fmt", "format", '"V {payload}"', "override"],
                          [re.split(r" {2,}", l)
                           for l in self.ok("conf", "e02", "dump").splitlines()])
            # JSON when VALUE parses as JSON.
            self.assertEqual(self.ok("conf", "e02", "set", "fmt.qos", "1"),
                             "fmt.qos = 1 (override; fmt restarted)\n")
            self.assertEqual(self.ok("conf", "e02", "get", "fmt.qos"), "1\n")
        finally:
            self.assertEqual(self.ok("conf", "e02", "unset", "fmt.format"),
                             'fmt.format = "T {payload}" (override removed; fmt restarted)\n')
            self.assertEqual(self.ok("conf", "e02", "unset", "fmt.qos"),
                             "fmt.qos = 0 (override removed; fmt restarted)\n")
        self.assertEqual(self.failed(1, "conf", "e02", "unset", "fmt.qos"),
                         f"psos conf: {SYSTEM}/e02 answered not_overridden: fmt.qos has no "
                         "override\n")
        self.assertEqual(self.failed(2, "conf", "e02", "get", "fmt"),
                         "psos conf: expected SERVICE.PARAM, like archive.page, not 'fmt'\n")
        self.assertEqual(self.failed(2, "conf", "e02", "set", "fmt.qos"),
                         "psos conf: usage: psos conf NODE set SERVICE.PARAM VALUE\n")
        self.assertEqual(self.ok("conf", "e02", "get", "fmt.format"), '"T {payload}"\n')

    def test_conf_refuses_a_bad_value_with_psos_checks_message(self):
        # What psos check says of the same value written into the definition.
        bad = json.loads(json.dumps(self.system.definition))
        bad["nodes"]["e02"]["services"][0]["qos"] = 7
        path = os.path.join(self.tmp, "bad.json")
        with open(path, "w") as f:
            json.dump(bad, f, indent=1)
        check = self.psos("check", path)
        self.assertEqual(check.returncode, 1)
        message = re.match(r"^[^:]+:\d+:\d+: (.*)$", check.stdout.splitlines()[0]
                           if check.stdout else check.stderr.splitlines()[0]).group(1)
        self.assertEqual(self.failed(1, "conf", "e02", "set", "fmt.qos", "7"),
                         f"psos conf: {SYSTEM}/e02 answered invalid_value: {message}\n")
        self.assertEqual(self.ok("conf", "e02", "get", "fmt.qos"), "0\n")

    # ---------------------------------------------------------------- psos logs

    def test_logs_prints_records_as_lines_and_filters_them(self):
        everything, lines = self.follow("logs", "e02", "-f", "--service", "print")
        warnings, warning_lines = self.follow("logs", "e02", "-f", "--level", "warn")
        # Nothing says when a follower's subscription is active: publish until a line comes.
        n = 0

        def printed():
            nonlocal n
            n += 1
            self.psos("pub", "--broker", self.system.url, "-t", "fleet/print", "-m", f"hello {n}")
            return lines.wait_for(lambda l: "hello" in l, 0.3)
        line = wait_until(printed, 15)
        self.assertIsNotNone(line, lines.lines)
        self.assertRegex(line, rf"^{TIME} info \[print\] fleet/print hello \d+$")
        # A refused request is logged at warn by the node itself (no [service]).
        untrusted = ["--key", self.untrusted_key, "--timeout", "5"]
        line = wait_until(lambda: self.fleet("cmd", "e02", "ping", *untrusted) and
                          warning_lines.wait_for(lambda l: "untrusted_key" in l, 0.3), 15)
        self.assertIsNotNone(line, warning_lines.lines)
        self.assertRegex(line, rf"^{TIME} warn control: refused a ping request: .* "
                               r"\(untrusted_key\)$")
        for proc in (everything, warnings):
            proc.send_signal(signal.SIGINT)
            self.assertEqual(proc.wait(10), 0)
        self.assertFalse([l for l in warning_lines.lines if l and " info " in l])
        self.assertFalse([l for l in lines.lines if l and "[print]" not in l])
        # Without -f: what comes within --wait, and a note when nothing did.
        out = self.fleet("logs", "e01", "--level", "error", "--wait", "0.5")
        self.assertEqual((out.returncode, out.stdout, out.stderr),
                         (0, "", f"psos logs: no record from {SYSTEM}/e01 within 0.5 s (a node "
                                 "keeps no history: -f follows)\n"))

    # ---------------------------------------------------------------- psos eval, repl

    def eval_verb_or_skip(self):
        verbs = {v["name"] for v in json.loads(self.ok("cmd", "e01", "help"))["verbs"]}
        if "eval" not in verbs:
            self.skipTest("the node has no eval verb yet")

    def test_eval_prints_the_value(self):
        self.eval_verb_or_skip()
        self.assertEqual(self.ok("eval", "e01", "return 1+2"), "3\n")
        self.assertEqual(self.ok("eval", f"{SYSTEM}/e01", "return {a = 1}"), '{"a":1}\n')
        self.assertEqual(self.ok("eval", "e01", "-", input="return 'from stdin'"),
                         '"from stdin"\n')
        self.assertRegex(self.failed(1, "eval", "e01", "error('boom')"),
                         rf"^psos eval: {SYSTEM}/e01 answered \S+: .*boom.*\n$")
        self.assertRegex(self.failed(1, "eval", "e01", "while true do end"),
                         rf"^psos eval: {SYSTEM}/e01 answered \S+: .*\n$")
        self.assertEqual(self.ok("eval", "e01", "return 1+2"), "3\n")

    def test_eval_has_the_node_api_and_its_limits(self):
        self.eval_verb_or_skip()
        # services(), info(), call() of a synchronous function, publish().
        self.assertEqual(json.loads(self.ok("eval", "e01", "return services()")),
                         [{"name": "tick", "module": "timer", "status": "running", "restarts": 0}])
        self.assertEqual(self.ok("eval", "e01", "return info().node"), '"e01"\n')
        self.assertEqual(self.ok("eval", "e01", "return call('tick', 'status').status"),
                         '"running"\n')
        watch = Sub(self.processes, ["--broker", self.system.url, "-t", "fleet/from-eval",
                                     "-C", "1", "-W", "10"])
        self.assertEqual(self.ok("eval", "e01", "return publish('fleet/from-eval', 'hi')"),
                         "true\n")
        self.assertEqual(watch.wait(15), (0, ["hi"]))
        self.assertEqual(self.failed(1, "eval", "e01", "return call('tick', 'nope')"),
                         f"psos eval: {SYSTEM}/e01 answered lua_error: eval line 1: call: service "
                         "tick has no function nope\n")
        self.assertEqual(self.failed(1, "eval", "e01", "publish('a/+', 'x')"),
                         f"psos eval: {SYSTEM}/e01 answered lua_error: eval line 1: publish: bad "
                         "topic \"a/+\": topic name contains a wildcard ('+' or '#')\n")
        # Globals last from one eval to the next (a repl session), until a memory bomb resets.
        self.ok("eval", "e01", "kept = 41")
        self.assertEqual(self.ok("eval", "e01", "return kept + 1"), "42\n")
        runaway = self.failed(1, "eval", "e01", "local n = 0 while true do n = n + 1 end")
        self.assertRegex(runaway, r"answered lua_error: .*instruction.*\n$")
        # Code that only says "not enough memory" has not run out of it: the globals stay.
        worded = self.failed(1, "eval", "e01", "error('not enough memory')")
        self.assertRegex(worded, r"answered lua_error: eval line 1: not enough memory\n$")
        self.assertEqual(self.ok("eval", "e01", "return kept + 1"), "42\n")
        bomb = self.failed(1, "eval", "e01",
                           "local t = {} while true do t[#t + 1] = string.rep('x', 1e6) end")
        self.assertRegex(bomb, r"answered lua_error: .*not enough memory.*reset.*\n$")
        self.assertEqual(self.ok("eval", "e01", "return kept"), "null\n")
        self.assertEqual(self.ok("call", "e01", "tick", "status")[:1], "{")  # the node goes on

    def test_repl_reads_lines_from_a_pipe(self):
        self.eval_verb_or_skip()
        out = self.fleet("repl", "e01", input="return 1+2\n\n=2*3\nerror('x')\nreturn 'ok'\n")
        self.assertEqual(out.returncode, 1, out.stderr)
        self.assertEqual(out.stdout, '3\n6\n"ok"\n')
        self.assertEqual(len(out.stderr.splitlines()), 1, out.stderr)

    def test_repl_in_a_terminal_edits_lines_and_keeps_history(self):
        # libedit is loaded when the repl starts (no other command maps it): in a terminal the
        # line is read by it, so Ctrl-A (start of line) edits it, and the history is written.
        self.eval_verb_or_skip()
        history = os.path.join(os.environ["XDG_CONFIG_HOME"], "psos", "repl_history")
        if os.path.exists(history):
            os.remove(history)
        pid, fd = pty.fork()
        if pid == 0:
            os.execv(psos_binary(), [psos_binary(), "repl", "--broker", self.system.url, "e01"])
        screen = b""
        try:
            def read_until(text, seconds=15, times=1):
                nonlocal screen
                deadline = time.monotonic() + seconds
                while screen.count(text) < times and time.monotonic() < deadline:
                    ready, _, _ = select.select([fd], [], [], 0.2)
                    if ready:
                        try:
                            screen += os.read(fd, 4096)
                        except OSError:
                            break
                return screen.count(text) >= times

            self.assertTrue(read_until(b"e01> "), screen)
            self.assertNotIn(b"line editing is off", screen)
            # "+40" typed, then Ctrl-A and "=2" in front of it: the line is "=2+40".
            os.write(fd, b"+40\x01=2\r")
            self.assertTrue(read_until(b"42"), screen)
            # Ctrl-D at an empty prompt ends the repl. Typed only once libedit has put the
            # terminal in raw mode for the next line: in canonical mode the terminal takes ^D as
            # its own end of file and libedit never sees it. The prompt alone is not the sign
            # (under load CI saw the prompt, then a ^D that was lost): the terminal's mode is.
            self.assertTrue(read_until(b"e01> ", times=2), screen)
            deadline = time.monotonic() + 15
            while termios.tcgetattr(fd)[3] & termios.ICANON and time.monotonic() < deadline:
                read_until(b"\0", seconds=0.05)
            self.assertFalse(termios.tcgetattr(fd)[3] & termios.ICANON,
                             f"the terminal never left canonical mode: {screen}")
            os.write(fd, b"\x04")
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    break
                read_until(b"\0", seconds=0.2)  # keep the terminal drained
            self.assertTrue(done, f"the repl did not end on Ctrl-D: {screen}")
            pid = 0
            self.assertEqual(os.waitstatus_to_exitcode(status), 0, screen)
        finally:
            if pid:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            os.close(fd)
        with open(history) as f:
            self.assertIn("=2+40", f.read())

    # ---------------------------------------------------------------- psos restart

    def test_restart_a_service_then_the_node(self):
        restarts = json.loads(self.ok("call", "e02", "fmt", "status"))["restarts"]
        self.assertEqual(self.ok("restart", "e02", "fmt"),
                         f"fmt: running (restarts {restarts + 1})\n")
        boot = json.loads(self.ok("cmd", "e02", "ping"))["boot"]
        self.assertEqual(self.ok("restart", "e02"), f"{SYSTEM}/e02 restarted (boot {boot + 1})\n")
        self.assertEqual(json.loads(self.ok("cmd", "e02", "ping"))["boot"], boot + 1)
        self.assertEqual(self.failed(1, "restart", "e02", "nope"),
                         f"psos restart: {SYSTEM}/e02 answered unknown_service: no service nope on "
                         "node e02 (services: fmt, print)\n")

    def test_restart_the_gateway_and_the_others_carry_on(self):
        boot = json.loads(self.ok("cmd", "gw", "ping"))["boot"]
        self.assertEqual(self.ok("restart", "gw"), f"{SYSTEM}/gw restarted (boot {boot + 1})\n")
        # Their retained $state may still say ready from before: ask until they answer (a
        # request published before a node's uplink is back reaches no one).
        for name in ("e01", "e02"):
            self.assertTrue(wait_until(lambda: self.fleet("cmd", name, "ping", "--timeout", "1")
                                       .returncode == 0, 20), self.system.output())

    # ---------------------------------------------------------------- MQTT 3.1.1

    def test_v311_asks_for_the_reply_in_the_request(self):
        watch = Sub(self.processes, ["--broker", self.system.url, "-v", "-t",
                                     f"psos/{SYSTEM}/e01/$cmd/#"])
        requests = watch.out
        self.assertEqual(json.loads(self.ok("cmd", "e01", "ping", "--v311"))["node"], "e01")
        self.ok("cmd", "e01", "ping")
        pings = lambda l: "$cmd/ping" in l  # noqa: E731
        self.assertEqual(requests.wait_count(pings, 2, 10), 2, requests.lines)
        watch.proc.send_signal(signal.SIGTERM)
        v311, v5 = [json.loads(json.loads(l.split(" ", 1)[1])["req"])
                    for l in requests.matching(pings)]
        self.assertRegex(v311.get("reply", ""), r"^psos-reply/[0-9a-f]{16}$")
        self.assertNotIn("reply", v5)


class OverMosquitto(FleetCommands, SystemTestCase):
    embedded = False

    def test_a_conf_override_survives_a_restart_of_the_node(self):
        self.ok("conf", "e02", "set", "fmt.format", "R {payload}")
        try:
            self.assertEqual(self.system.stop("e02"), 0, self.system.output())
            self.assertEqual(self.system.state("e02"), "stopped")
            self.system.start("e02")
            self.system.wait_ready("e02")
            self.assertEqual(self.ok("conf", "e02", "get", "fmt.format"), '"R {payload}"\n')
            self.assertIn(["fmt", "format", '"R {payload}"', "override"],
                          [re.split(r" {2,}", l)
                           for l in self.ok("conf", "e02", "dump").splitlines()])
        finally:
            self.ok("conf", "e02", "unset", "fmt.format")


class OverEmbeddedBroker(FleetCommands, SystemTestCase):
    embedded = True


if __name__ == "__main__":
    main()
