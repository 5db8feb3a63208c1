"""Shared pieces of the broker integration tests: a `psos broker` process on a free loopback
port, child processes that are always killed, a line reader for client tools, and a raw MQTT
client on a plain socket (its own small codec, independent of src/mqtt) for edge cases.

Run with /usr/bin/python3: Debian's python3-paho-mqtt belongs to it. CTest sets PSOS_BINARY.
"""

import os
import re
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))


def psos_binary():
    path = os.environ.get("PSOS_BINARY")
    if not path:
        raise RuntimeError("PSOS_BINARY is not set: run through ctest, or set it to a built psos")
    return path


def wait_until(predicate, timeout, interval=0.02):
    """Polls `predicate` until it is true or `timeout` seconds pass; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


class LineReader:
    """Collects a process's stdout lines on a thread, so a test can wait for a line without
    blocking forever on a pipe."""

    def __init__(self, stream):
        self.lines = []
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, args=(stream,), daemon=True)
        self._thread.start()

    def _run(self, stream):
        try:
            for raw in iter(stream.readline, b""):
                line = raw.decode("utf-8", "replace").rstrip("\n")
                with self._cond:
                    self.lines.append(line)
                    self._cond.notify_all()
        except (OSError, ValueError):
            pass  # the pipe was closed under us: the test is over
        with self._cond:
            self.lines.append(None)  # end of stream
            self._cond.notify_all()

    def wait_for(self, predicate, timeout):
        """Waits for a line satisfying `predicate`; returns it, or None on timeout or EOF."""
        deadline = time.monotonic() + timeout
        seen = 0
        with self._cond:
            while True:
                while seen < len(self.lines):
                    line = self.lines[seen]
                    seen += 1
                    if line is None:
                        return None
                    if predicate(line):
                        return line
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)

    def wait_count(self, predicate, count, timeout):
        """Waits until `count` lines satisfy `predicate`; returns how many did."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                n = sum(1 for l in self.lines if l is not None and predicate(l))
                left = deadline - time.monotonic()
                if n >= count or left <= 0 or (self.lines and self.lines[-1] is None):
                    return n
                self._cond.wait(left)

    def matching(self, predicate):
        with self._cond:
            return [l for l in self.lines if l is not None and predicate(l)]

    def join(self, timeout):
        self._thread.join(timeout)


class Processes:
    """Every child process a test starts; kill_all() (registered as a cleanup) ends them all."""

    def __init__(self):
        self.procs = []

    def start(self, args, **kwargs):
        kwargs.setdefault("stdin", subprocess.DEVNULL)
        kwargs.setdefault("stdout", subprocess.PIPE)
        kwargs.setdefault("stderr", subprocess.PIPE)
        proc = subprocess.Popen(args, **kwargs)
        self.procs.append(proc)
        return proc

    def kill_all(self):
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
        for proc in self.procs:
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                pass
            for stream in (proc.stdin, proc.stdout, proc.stderr):
                if stream:
                    stream.close()


class Broker:
    """One `psos broker` on free loopback ports (port 0: the "listening on" lines name them).
    What it writes is kept for log_text(): its log on stdout, errors on stderr (a file)."""

    LISTENING = re.compile(r"psos broker listening on (\S+)")

    def __init__(self, processes, listen=("mqtt://127.0.0.1:0",), extra=()):
        self.log = tempfile.NamedTemporaryFile(prefix="psos-broker-", suffix=".log", delete=False)
        # The broker logs to stderr line by line and flushes its listening lines on stdout, so
        # no stdbuf (whose LD_PRELOAD would also upset an AddressSanitizer build).
        args = [psos_binary(), "broker", "--log-level", "debug"]
        for url in listen:
            args += ["--listen", url]
        args += list(extra)
        self.proc = processes.start(args, stderr=self.log)
        self.reader = LineReader(self.proc.stdout)
        listening = lambda l: self.LISTENING.search(l)  # noqa: E731
        if self.reader.wait_count(listening, len(listen), 10) < len(listen):
            text = self.log_text()
            self.cleanup()
            raise RuntimeError("psos broker did not start:\n" + text)
        self.urls = [self.LISTENING.search(l).group(1) for l in self.reader.matching(listening)]
        self.port = self.port_of("mqtt")

    def port_of(self, scheme):
        for url in self.urls:
            if url.startswith(scheme + "://"):
                return int(re.search(r":(\d+)(/|$)", url.split("//", 1)[1]).group(1))
        return None

    def url(self, scheme):
        return next(u for u in self.urls if u.startswith(scheme + "://"))

    def running(self):
        return self.proc.poll() is None

    def log_text(self):
        """What the broker wrote: spdlog logs to stdout, errors go to stderr."""
        text = "\n".join(l for l in self.reader.lines if l is not None)
        try:
            with open(self.log.name, "r", errors="replace") as f:
                return text + "\n" + f.read()
        except OSError:
            return text

    def terminate(self, timeout=5):
        """SIGTERM; returns the exit status (None if it did not exit in time)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def cleanup(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self.log.close()
        os.unlink(self.log.name)


class BrokerTestCase(unittest.TestCase):
    """Gives each test its processes (killed afterwards, even on failure) and a broker factory;
    prints the broker's log when a test fails."""

    def setUp(self):
        self.processes = Processes()
        self.addCleanup(self.processes.kill_all)
        self.brokers = []

    def start_broker(self, **kwargs):
        broker = Broker(self.processes, **kwargs)
        self.brokers.append(broker)
        self.addCleanup(broker.cleanup)
        self.addCleanup(self._print_log_on_failure, broker)
        self.addCleanup(self._check_sanitizers, broker)
        return broker

    SANITIZER_REPORTS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")

    def _check_sanitizers(self, broker):
        """A sanitized build (make asan) reports at exit: stop the broker cleanly first."""
        if "asan" in os.path.basename(os.path.dirname(os.path.dirname(os.path.dirname(
                psos_binary())))):
            broker.terminate()
        text = broker.log_text()
        for report in self.SANITIZER_REPORTS:
            if report in text:
                self.fail(f"the broker's log has a sanitizer report:\n{text[-4000:]}")

    def _print_log_on_failure(self, broker):
        outcome = getattr(self, "_outcome", None)
        failed = False
        if outcome is not None:
            result = getattr(outcome, "result", None)
            errors = getattr(outcome, "errors", None)
            if errors:  # Python <= 3.10
                failed = any(exc for _, exc in errors)
            elif result is not None:
                failed = any(t is self for t, _ in result.failures + result.errors)
        if failed:
            text = broker.log_text()
            print("\n---- psos broker log (last 60 lines) ----\n" +
                  "\n".join(text.splitlines()[-60:]))

    def assertBrokerAlive(self, broker):
        self.assertTrue(broker.running(), "the broker died:\n" + broker.log_text())


# ---------------------------------------------------------------- raw MQTT on a socket

CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 2, 3, 4, 5, 6, 7
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT, AUTH = range(8, 16)
PACKET_NAMES = dict(enumerate(
    "- CONNECT CONNACK PUBLISH PUBACK PUBREC PUBREL PUBCOMP SUBSCRIBE SUBACK UNSUBSCRIBE UNSUBACK "
    "PINGREQ PINGRESP DISCONNECT AUTH".split()))

# Property identifiers (spec 2.2.2.2) and their types.
_BYTE, _U16, _U32, _VARINT, _STR, _BIN, _PAIR = range(7)
PROPERTY_TYPES = {
    0x01: _BYTE, 0x02: _U32, 0x03: _STR, 0x08: _STR, 0x09: _BIN, 0x0B: _VARINT, 0x11: _U32,
    0x12: _STR, 0x13: _U16, 0x15: _STR, 0x16: _BIN, 0x17: _BYTE, 0x18: _U32, 0x19: _BYTE,
    0x1A: _STR, 0x1C: _STR, 0x1F: _STR, 0x21: _U16, 0x22: _U16, 0x23: _U16, 0x24: _BYTE,
    0x25: _BYTE, 0x26: _PAIR, 0x27: _U32, 0x28: _BYTE, 0x29: _BYTE, 0x2A: _BYTE,
}
SESSION_EXPIRY, TOPIC_ALIAS_MAXIMUM, TOPIC_ALIAS, REASON_STRING = 0x11, 0x22, 0x23, 0x1F
MAXIMUM_PACKET_SIZE, SERVER_KEEP_ALIVE, USER_PROPERTY = 0x27, 0x13, 0x26


def varint(n):
    out = bytearray()
    while True:
        byte = n % 128
        n //= 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def mqtt_string(s):
    data = s.encode("utf-8") if isinstance(s, str) else s
    return struct.pack("!H", len(data)) + data


def encode_properties(props):
    """`props`: a list of (identifier, value) pairs; values as their type needs."""
    body = bytearray()
    for ident, value in props:
        kind = PROPERTY_TYPES[ident]
        body += varint(ident)
        if kind == _BYTE:
            body += struct.pack("!B", value)
        elif kind == _U16:
            body += struct.pack("!H", value)
        elif kind == _U32:
            body += struct.pack("!I", value)
        elif kind == _VARINT:
            body += varint(value)
        elif kind in (_STR, _BIN):
            body += mqtt_string(value)
        else:
            body += mqtt_string(value[0]) + mqtt_string(value[1])
    return varint(len(body)) + bytes(body)


def packet(kind, flags, body):
    return bytes([(kind << 4) | flags]) + varint(len(body)) + body


def connect_packet(client_id, version=5, clean=True, keep_alive=60, props=(), will=None,
                   username=None, password=None):
    """`will`: dict(topic, payload, qos=0, retain=False, props=())."""
    flags = 0x02 if clean else 0
    if will:
        flags |= 0x04 | (will.get("qos", 0) << 3) | (0x20 if will.get("retain") else 0)
    if username is not None:
        flags |= 0x80
    if password is not None:
        flags |= 0x40
    body = mqtt_string("MQTT") + bytes([version, flags]) + struct.pack("!H", keep_alive)
    if version == 5:
        body += encode_properties(props)
    body += mqtt_string(client_id)
    if will:
        if version == 5:
            body += encode_properties(will.get("props", ()))
        body += mqtt_string(will["topic"]) + mqtt_string(will["payload"])
    if username is not None:
        body += mqtt_string(username)
    if password is not None:
        body += mqtt_string(password)
    return packet(CONNECT, 0, body)


def publish_packet(topic, payload, qos=0, retain=False, packet_id=None, version=5, props=(),
                   dup=False):
    flags = (qos << 1) | (1 if retain else 0) | (8 if dup else 0)
    body = mqtt_string(topic)
    if qos:
        body += struct.pack("!H", packet_id if packet_id is not None else 1)
    if version == 5:
        body += encode_properties(props)
    body += payload.encode() if isinstance(payload, str) else payload
    return packet(PUBLISH, flags, body)


def subscribe_packet(packet_id, filters, version=5, props=()):
    """`filters`: a list of (filter, options byte)."""
    body = struct.pack("!H", packet_id)
    if version == 5:
        body += encode_properties(props)
    for f, options in filters:
        body += mqtt_string(f) + bytes([options])
    return packet(SUBSCRIBE, 2, body)


def ack_packet(kind, packet_id, version=5, reason=None):
    body = struct.pack("!H", packet_id)
    if version == 5 and reason is not None:
        body += bytes([reason])
    return packet(kind, 2 if kind == PUBREL else 0, body)


def disconnect_packet(version=5, reason=0):
    return packet(DISCONNECT, 0, bytes([reason, 0]) if version == 5 and reason else b"")


class Packet:
    """A decoded packet: its type and flags and what the tests look at."""

    def __init__(self, kind, flags, body, version):
        self.kind, self.flags, self.body = kind, flags, body
        self.reason = None
        self.props = []
        self.packet_id = None
        self.topic = self.payload = None
        self.session_present = None
        self.reasons = []
        self._parse(version)

    def __repr__(self):
        return "<%s reason=%s id=%s topic=%r>" % (
            PACKET_NAMES.get(self.kind, self.kind),
            None if self.reason is None else hex(self.reason), self.packet_id, self.topic)

    def prop(self, ident):
        return next((v for i, v in self.props if i == ident), None)

    def _parse(self, version):
        b = self.body
        v5 = version == 5
        if self.kind == CONNACK:
            self.session_present = bool(b[0] & 1)
            self.reason = b[1]
            if v5 and len(b) > 2:
                self.props, _ = decode_properties(b, 2)
        elif self.kind == PUBLISH:
            n = struct.unpack_from("!H", b, 0)[0]
            self.topic = b[2:2 + n].decode("utf-8")
            pos = 2 + n
            self.qos = (self.flags >> 1) & 3
            self.retain = bool(self.flags & 1)
            self.dup = bool(self.flags & 8)
            if self.qos:
                self.packet_id = struct.unpack_from("!H", b, pos)[0]
                pos += 2
            if v5:
                self.props, pos = decode_properties(b, pos)
            self.payload = bytes(b[pos:])
        elif self.kind in (PUBACK, PUBREC, PUBREL, PUBCOMP):
            self.packet_id = struct.unpack_from("!H", b, 0)[0]
            self.reason = b[2] if len(b) > 2 else 0
            if v5 and len(b) > 3:
                self.props, _ = decode_properties(b, 3)
        elif self.kind in (SUBACK, UNSUBACK):
            self.packet_id = struct.unpack_from("!H", b, 0)[0]
            pos = 2
            if v5:
                self.props, pos = decode_properties(b, pos)
            self.reasons = list(b[pos:])
        elif self.kind == DISCONNECT:
            self.reason = b[0] if b else 0
            if v5 and len(b) > 1:
                self.props, _ = decode_properties(b, 1)


def decode_varint(b, pos):
    n, shift = 0, 0
    while True:
        byte = b[pos]
        pos += 1
        n |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return n, pos


def decode_properties(b, pos):
    length, pos = decode_varint(b, pos)
    end = pos + length
    props = []
    while pos < end:
        ident, pos = decode_varint(b, pos)
        kind = PROPERTY_TYPES[ident]
        if kind == _BYTE:
            value, pos = b[pos], pos + 1
        elif kind == _U16:
            value, pos = struct.unpack_from("!H", b, pos)[0], pos + 2
        elif kind == _U32:
            value, pos = struct.unpack_from("!I", b, pos)[0], pos + 4
        elif kind == _VARINT:
            value, pos = decode_varint(b, pos)
        elif kind in (_STR, _BIN):
            n = struct.unpack_from("!H", b, pos)[0]
            value = bytes(b[pos + 2:pos + 2 + n])
            value = value.decode("utf-8") if kind == _STR else value
            pos += 2 + n
        else:
            n = struct.unpack_from("!H", b, pos)[0]
            name = bytes(b[pos + 2:pos + 2 + n]).decode("utf-8")
            pos += 2 + n
            n = struct.unpack_from("!H", b, pos)[0]
            value = (name, bytes(b[pos + 2:pos + 2 + n]).decode("utf-8"))
            pos += 2 + n
        props.append((ident, value))
    return props, end


class Closed(Exception):
    """The broker closed the connection."""


class RawClient:
    """An MQTT client on a plain socket that sends exactly the bytes a test gives it."""

    def __init__(self, port, version=5, timeout=5.0):
        self.version = version
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = bytearray()
        self.closed = False

    def close(self):
        self.sock.close()

    def send(self, data):
        self.sock.sendall(data)

    def connect(self, client_id, clean=True, expect_success=True, **kwargs):
        self.send(connect_packet(client_id, version=self.version, clean=clean, **kwargs))
        ack = self.expect(CONNACK)
        if expect_success and ack.reason != 0:
            raise AssertionError("CONNACK refused %s: %#x" % (client_id, ack.reason))
        return ack

    def subscribe(self, topic_filter, qos=0, packet_id=1, options=None, props=()):
        opts = qos if options is None else options
        self.send(subscribe_packet(packet_id, [(topic_filter, opts)], self.version, props))
        return self.expect(SUBACK)

    def publish(self, topic, payload, qos=0, packet_id=1, retain=False, props=()):
        self.send(publish_packet(topic, payload, qos, retain, packet_id, self.version, props))

    def disconnect(self, reason=0):
        self.send(disconnect_packet(self.version, reason))

    def read_packet(self, timeout):
        """The next packet, or None after `timeout` seconds; raises Closed at end of stream."""
        deadline = time.monotonic() + timeout
        while True:
            pkt = self._take()
            if pkt is not None:
                return pkt
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                return None
            except (ConnectionResetError, BrokenPipeError):
                data = b""
            if not data:
                self.closed = True
                raise Closed()
            self.buffer += data

    def _take(self):
        b = self.buffer
        if len(b) < 2:
            return None
        length, shift, pos = 0, 0, 1
        while True:
            if pos >= len(b):
                return None
            byte = b[pos]
            pos += 1
            length |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        if len(b) < pos + length:
            return None
        pkt = Packet(b[0] >> 4, b[0] & 0x0F, bytes(b[pos:pos + length]), self.version)
        del b[:pos + length]
        return pkt

    def expect(self, kind, timeout=5.0):
        """The next packet, which must be of type `kind` (PINGRESP in between are skipped)."""
        deadline = time.monotonic() + timeout
        while True:
            pkt = self.read_packet(max(0.0, deadline - time.monotonic()))
            if pkt is None:
                raise AssertionError("no packet of type %d within %.1f s" % (kind, timeout))
            if pkt.kind == PINGRESP and kind != PINGRESP:
                continue
            if pkt.kind != kind:
                raise AssertionError("expected packet type %d, got %r" % (kind, pkt))
            return pkt

    def expect_closed(self, timeout=5.0):
        """Reads until the broker closes the connection; returns the packets received before."""
        deadline = time.monotonic() + timeout
        packets = []
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("connection still open after %.1f s (got %r)"
                                     % (timeout, packets))
            try:
                pkt = self.read_packet(left)
            except Closed:
                return packets
            if pkt is not None:
                packets.append(pkt)

    def receive_publishes(self, count, timeout=5.0, ack=True):
        """Collects `count` PUBLISH packets, acknowledging QoS 1 and 2 (full QoS 2 flow)."""
        got = []
        deadline = time.monotonic() + timeout
        while len(got) < count:
            pkt = self.read_packet(max(0.0, deadline - time.monotonic()))
            if pkt is None:
                break
            if pkt.kind == PUBLISH:
                got.append(pkt)
                if ack and pkt.qos == 1:
                    self.send(ack_packet(PUBACK, pkt.packet_id, self.version))
                elif ack and pkt.qos == 2:
                    self.send(ack_packet(PUBREC, pkt.packet_id, self.version))
            elif pkt.kind == PUBREL and ack:
                self.send(ack_packet(PUBCOMP, pkt.packet_id, self.version))
        return got

    def no_publish(self, timeout):
        """True when no PUBLISH arrives within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return True
            pkt = self.read_packet(left)
            if pkt is not None and pkt.kind == PUBLISH:
                return False


def main():
    unittest.main(verbosity=2)
