"""Shared pieces of the fleet command tests: a system of `psos run` nodes meeting at a real
Mosquitto or at one node's embedded broker, started once per test class (their checks share
it), with the user's key made in a temporary XDG_CONFIG_HOME that the nodes trust; and the
`psos` fleet commands run against it.

Run with /usr/bin/python3. CTest sets PSOS_BINARY.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "runtime"))
sys.path.insert(0, os.path.join(HERE, "..", "client_cli"))
sys.path.insert(0, os.path.join(HERE, "..", "broker"))

from brokertest import LineReader, Processes, main, psos_binary, wait_until  # noqa: E402,F401
from clitest import Mosquitto, Sub, free_port  # noqa: E402,F401,F401
from test_run import Node  # noqa: E402

SYSTEM = "fleet"


def psos_version():
    out = subprocess.run([psos_binary(), "--version"], capture_output=True, text=True, timeout=10)
    return out.stdout.split()[1]


class System:
    """The nodes of `definition(broker_url, embedded)` as processes, each with its own --data.
    With `embedded`, the node `broker_node` listens on broker_url and the others uplink to it;
    otherwise a Mosquitto is started and every node uplinks to it."""

    def __init__(self, processes, tmp, definition, embedded, broker_node="gw"):
        self.processes = processes
        self.tmp = tmp
        self.mosquitto = None
        if embedded:
            self.url = f"mqtt://127.0.0.1:{free_port()}"
        else:
            directory = tempfile.mkdtemp(prefix="mosq-", dir=tmp)
            self.mosquitto = Mosquitto(processes, directory)
            self.url = self.mosquitto.url()
        self.definition = definition(self.url, embedded)
        self.path = os.path.join(tmp, "system.json")
        with open(self.path, "w") as f:
            json.dump(self.definition, f, indent=1)
        self.nodes = {}
        names = list(self.definition["nodes"])
        if embedded:  # the broker first, so that the others find it at once
            names.remove(broker_node)
            self.start(broker_node)
            self.wait_ready(broker_node)
        for name in names:
            self.start(name)
        for name in names:
            self.wait_ready(name)

    def start(self, name):
        self.nodes[name] = Node(self.processes, [self.path, "--node", name, "--data",
                                                 os.path.join(self.tmp, "data-" + name)])
        return self.nodes[name]

    def stop(self, name):
        """SIGTERM; returns the exit status."""
        proc = self.nodes[name].proc
        proc.send_signal(signal.SIGTERM)
        return proc.wait(15)

    def state(self, name):
        out = subprocess.run([psos_binary(), "sub", "--broker", self.url, "-t",
                              f"psos/{SYSTEM}/{name}/$state", "-C", "1", "-W", "5"],
                             capture_output=True, text=True, timeout=20)
        return out.stdout.strip() if out.returncode == 0 else None

    def wait_ready(self, name, timeout=15):
        if not wait_until(lambda: self.state(name) == "ready", timeout, interval=0.1):
            raise AssertionError(f"node {name} is not ready:\n" + self.nodes[name].text())

    def output(self):
        """The last lines each node wrote, for failure messages."""
        return "".join(f"\n---- {name} ----\n" + "\n".join(node.text().splitlines()[-30:])
                       for name, node in self.nodes.items())


class SystemTestCase(unittest.TestCase):
    """A System started once for the class (setUpClass) in a temporary directory, with the user's
    key made there first (XDG_CONFIG_HOME: psos run trusts it, the fleet commands sign with it)
    and a second key no node trusts."""

    embedded = False
    broker_node = "gw"

    @staticmethod
    def definition(broker_url, embedded):
        raise NotImplementedError

    @classmethod
    def setUpClass(cls):
        cls.processes = Processes()
        cls.addClassCleanup(cls.processes.kill_all)
        cls.tmp = tempfile.mkdtemp(prefix="psos-control-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, True)
        # Every psos run here makes or reads its user's key in this directory, never ~/.config.
        os.environ["XDG_CONFIG_HOME"] = os.path.join(cls.tmp, "config")
        for name in ("PSOS_BROKER", "PSOS_KEY"):
            os.environ.pop(name, None)
        cls.untrusted_key = os.path.join(cls.tmp, "untrusted.key")
        for args in ([], ["--out", cls.untrusted_key]):
            out = subprocess.run([psos_binary(), "keygen", *args], capture_output=True,
                                 text=True, timeout=20)
            if out.returncode != 0:
                raise RuntimeError("psos keygen failed: " + out.stderr)
        cls.system = System(cls.processes, cls.tmp, cls.definition, cls.embedded,
                            cls.broker_node)

    def psos(self, *args, input=None, timeout=30):
        """Runs psos to its end; returns the CompletedProcess (text)."""
        return subprocess.run([psos_binary(), *args], input=input, capture_output=True,
                              text=True, timeout=timeout)

    def fleet(self, command, *args, input=None):
        """A fleet command against the system's broker."""
        return self.psos(command, "--broker", self.system.url, *args, input=input)

    def ok(self, command, *args, input=None):
        """A fleet command that must succeed; its stdout."""
        out = self.fleet(command, *args, input=input)
        if out.returncode != 0:  # the nodes' output only then: reading it takes a while
            self.fail(f"psos {command} {' '.join(args)} exited with {out.returncode}: "
                      f"{out.stderr}" + self.system.output())
        return out.stdout

    def failed(self, status, command, *args):
        """A fleet command that must fail with `status`; its stderr."""
        out = self.fleet(command, *args)
        self.assertEqual(out.returncode, status,
                         f"psos {command} {' '.join(args)}: {out.stdout}{out.stderr}")
        self.assertEqual(out.stdout, "")
        return out.stderr

    def follow(self, *args):
        """A long-running psos process (logs -f, nodes -w) with its stdout read."""
        proc = self.processes.start([psos_binary(), *args, "--broker", self.system.url])
        return proc, LineReader(proc.stdout)


TIME = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}"


def compact(value):
    """JSON as psos prints it in a pipe: one line, keys sorted, no spaces."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def matches(pattern):
    regex = re.compile(pattern)
    return lambda line: regex.fullmatch(line) is not None
