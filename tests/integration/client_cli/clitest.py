"""Shared pieces of the `psos pub` / `psos sub` integration tests: brokers (`psos broker` through
brokertest.Broker, and a real Mosquitto on a free loopback port with a generated configuration),
`psos sub` processes whose subscriptions are known to be active, and `psos pub` runs.

Run with /usr/bin/python3. CTest sets PSOS_BINARY.
"""

import os
import shutil
import socket
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "broker"))

from brokertest import (BrokerTestCase, LineReader, main, psos_binary,  # noqa: E402,F401
                        wait_until)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def accepts(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class Mosquitto:
    """A Mosquitto broker on a free loopback port, configured in `directory`."""

    def __init__(self, processes, directory, extra_conf="", port=None):
        self.directory, self.extra_conf = directory, extra_conf
        self.port = port or free_port()
        self.log = os.path.join(directory, "mosquitto.log")
        conf = os.path.join(directory, "mosquitto.conf")
        with open(conf, "w") as f:
            f.write(f"listener {self.port} 127.0.0.1\nallow_anonymous true\n"
                    f"persistence false\nlog_dest file {self.log}\nlog_type all\nuser root\n"
                    + extra_conf)
        exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.proc = processes.start([exe, "-c", conf], stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
        if not wait_until(lambda: accepts(self.port) or self.proc.poll() is not None, 10) or \
                self.proc.poll() is not None:
            raise RuntimeError("mosquitto did not start:\n" + self.log_text())

    def url(self):
        return f"mqtt://127.0.0.1:{self.port}"

    def log_text(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except OSError:
            return ""


class Sub:
    """A running `psos sub` (with -d, so that it says when each subscription is active)."""

    def __init__(self, processes, args, ready=True, timeout=10):
        self.proc = processes.start([psos_binary(), "sub", "-d", *args])
        self.out = LineReader(self.proc.stdout)
        self.err = LineReader(self.proc.stderr)
        if ready:
            n = sum(1 for i, a in enumerate(args) if a == "-t")
            got = self.err.wait_count(lambda l: "subscribed to" in l, max(n, 1), timeout)
            if got < max(n, 1):
                raise AssertionError("psos sub did not subscribe:\n" + self.stderr_text())

    def wait(self, timeout=15):
        """Waits for the exit; returns the status and stdout lines."""
        status = self.proc.wait(timeout)
        self.out.join(5)
        return status, [l for l in self.out.lines if l is not None]

    def stderr_text(self):
        self.err.join(0.5)
        return "\n".join(l for l in self.err.lines if l is not None)


class CliTestCase(BrokerTestCase):
    def setUp(self):
        super().setUp()
        self.tmp = tempfile.mkdtemp(prefix="psos-cli-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        # psos run makes the user's key pair when there is none: the test's own, not the user's.
        os.environ["XDG_CONFIG_HOME"] = os.path.join(self.tmp, "config")

    def psos(self, *args, input=None, timeout=20):
        """Runs psos to its end; returns the CompletedProcess (text)."""
        return subprocess.run([psos_binary(), *args], input=input, capture_output=True,
                              text=True, timeout=timeout)

    def pub(self, *args, **kwargs):
        result = self.psos("pub", *args, **kwargs)
        self.assertEqual(result.returncode, 0, "psos pub failed: " + result.stderr)
        return result

    def sub(self, *args, ready=True):
        return Sub(self.processes, list(args), ready=ready)

    def start_mosquitto(self, extra_conf=""):
        directory = tempfile.mkdtemp(prefix="mosq-", dir=self.tmp)
        return Mosquitto(self.processes, directory, extra_conf)

    def restart_mosquitto(self, mosquitto, port):
        """A Mosquitto again with the same configuration and port (the old one has ended)."""
        return wait_until(lambda: self._try_mosquitto(mosquitto, port), 10) or \
            Mosquitto(self.processes, mosquitto.directory, mosquitto.extra_conf, port)

    def _try_mosquitto(self, mosquitto, port):
        try:
            return Mosquitto(self.processes, mosquitto.directory, mosquitto.extra_conf, port)
        except RuntimeError:
            return None
