"""Shared pieces of the dashboard tests: `psos dashboard` as a process (its URL read from the line
it prints), a minimal WebSocket client on a plain socket (so that the tests control exactly what
is sent and read, including oversized frames and not reading at all), and the three-node system
over a real Mosquitto that the browser suite drives.

Run with /usr/bin/python3. CTest sets PSOS_BINARY.
"""

import base64
import json
import os
import re
import socket
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "control"))

from fleettest import (SYSTEM, Processes, System, SystemTestCase, main,  # noqa: E402,F401
                       psos_binary, wait_until)
from brokertest import LineReader  # noqa: E402

SERVING = re.compile(r"^psos dashboard: serving (https?://\S+)$")


class Dashboard:
    """A running `psos dashboard`; url is what it printed."""

    def __init__(self, processes, broker_url, *args, expect_start=True):
        listen = [] if "--listen" in args else ["--listen", "http://127.0.0.1:0"]
        self.proc = processes.start([psos_binary(), "dashboard", "--broker", broker_url,
                                     *listen, *args])
        self.out = LineReader(self.proc.stdout)
        self.err = LineReader(self.proc.stderr)
        self.url = None
        if expect_start:
            line = self.out.wait_for(lambda l: SERVING.match(l), 15)
            if line is None:
                self.err.join(0.5)
                raise AssertionError("psos dashboard did not start: " +
                                     "\n".join(l for l in self.err.lines if l))
            self.url = SERVING.match(line).group(1)

    def port(self):
        return int(self.url.rsplit(":", 1)[1])

    def rss(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        return 0


def http(port, raw, timeout=5):
    """Sends raw bytes, returns (status, headers dict lower-cased, body bytes) of the response."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(raw)
        data = b""
        while True:
            try:
                chunk = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not chunk:
                break
            data += chunk
            head, sep, body = data.partition(b"\r\n\r\n")
            if sep:
                length = re.search(rb"(?i)content-length: *(\d+)", head)
                if length and len(body) >= int(length.group(1)):
                    break
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1]) if lines and len(lines[0].split()) > 1 else None
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return status, headers, body


def get(port, path, headers=""):
    return http(port, f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{headers}"
                      f"Connection: close\r\n\r\n".encode())


class WebSocket:
    """A WebSocket client on a plain socket: handshake, masked text frames out, frames in."""

    def __init__(self, port, path="/ws", headers="", timeout=10, sock=None, host=None):
        self.sock = sock or socket.create_connection(("127.0.0.1", port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        host = host or f"127.0.0.1:{port}"
        self.sock.sendall((f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
                           f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                           f"Sec-WebSocket-Version: 13\r\n{headers}\r\n").encode())
        self.buffer = b""
        while b"\r\n\r\n" not in self.buffer:
            chunk = self.sock.recv(4096)
            if not chunk:
                break
            self.buffer += chunk
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        self.status = int(head.split()[1]) if head else None

    def send_frame(self, payload, opcode=1):
        header = bytes([0x80 | opcode])
        n = len(payload)
        if n < 126:
            header += bytes([0x80 | n])
        elif n < 65536:
            header += bytes([0x80 | 126]) + struct.pack("!H", n)
        else:
            header += bytes([0x80 | 127]) + struct.pack("!Q", n)
        mask = os.urandom(4)
        self.sock.sendall(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def send_json(self, value):
        self.send_frame(json.dumps(value).encode())

    def _read(self, n):
        while len(self.buffer) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buffer += chunk
        out, self.buffer = self.buffer[:n], self.buffer[n:]
        return out

    def _frame(self):
        b0, b1 = self._read(2)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self._read(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", self._read(8))[0]
        return bool(b0 & 0x80), b0 & 0x0F, self._read(n)

    def frame(self):
        """(opcode, payload) of the next message, its fragments joined, or control frame."""
        fin, opcode, payload = self._frame()
        while not fin:
            fin, _, more = self._frame()
            payload += more
        return opcode, payload

    def json_until(self, predicate, timeout=10):
        """Reads frames until one (parsed) satisfies predicate; returns it, or None."""
        import time
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            self.sock.settimeout(max(0.1, end - time.monotonic()))
            try:
                opcode, payload = self.frame()
            except socket.timeout:
                return None
            if opcode == 8:
                raise ConnectionError("closed by the server: " + repr(payload))
            if opcode == 1:
                value = json.loads(payload)
                if predicate(value):
                    return value
        return None

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
