"""`psos dashboard`'s HTTP and WebSocket server against a real node over a real Mosquitto: the
page's assets, bad and oversized requests, the WebSocket's first frame and commands, oversized
and malformed WebSocket messages, another site's origin refused, a login and HTTPS required off
loopback, and a browser that stops reading dropped while the dashboard's memory stays bounded.

Run with /usr/bin/python3. CTest sets PSOS_BINARY.
"""

import json
import os
import socket
import ssl
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from dashtest import (SYSTEM, Dashboard, SystemTestCase, WebSocket, get, http,  # noqa: E402
                      main, psos_binary, wait_until)


def one_node(broker_url, embedded):
    return {"psos": 1, "system": SYSTEM, "brokers": {"lan": {"url": broker_url}},
            "nodes": {"n1": {"uplink": "lan", "metrics": "300ms", "services": [
                {"name": "tick", "module": "timer", "every": "200ms", "pub": "dash/tick"},
                {"name": "echo", "module": "pipe", "sub": "dash/tick", "pub": "dash/echo"}]}}}


class ServerTest(SystemTestCase):
    definition = staticmethod(one_node)

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.definitions = os.path.join(cls.tmp, "no-definitions")
        os.makedirs(cls.definitions)
        cls.dash = Dashboard(cls.processes, cls.system.url, "--definitions", cls.definitions)
        cls.port = cls.dash.port()

    # ---------------------------------------------------------------- HTTP

    def test_serves_the_page_and_its_assets(self):
        status, headers, body = get(self.port, "/")
        self.assertEqual(status, 200)
        self.assertEqual(headers["content-type"], "text/html; charset=utf-8")
        self.assertIn(b'<script src="/app.js"', body)
        self.assertIn("default-src 'self'", headers["content-security-policy"])
        status, headers, body = get(self.port, "/app.js")
        self.assertEqual((status, headers["content-type"]), (200, "text/javascript; charset=utf-8"))
        with open(os.path.join(os.path.dirname(__file__), "..", "..", "..", "src", "dashboard",
                               "web", "app.js"), "rb") as f:
            self.assertEqual(body, f.read())

    def test_unknown_path_is_404(self):
        status, _, body = get(self.port, "/nope.js")
        self.assertEqual(status, 404)
        self.assertEqual(body, b"not found: /nope.js\n")

    def test_other_methods_are_405(self):
        status, headers, body = http(self.port, b"DELETE /index.html HTTP/1.1\r\nHost: x\r\n"
                                                b"Content-Length: 0\r\n\r\n")
        self.assertEqual(status, 405)
        self.assertEqual(headers["allow"], "GET, HEAD")

    def test_garbage_is_400_and_closed(self):
        status, headers, body = http(self.port, b"HELLO\x00\x01 what\r\n\r\n")
        self.assertEqual(status, 400)
        self.assertTrue(body.startswith(b"bad request: "), body)

    def test_oversized_headers_are_431(self):
        status, _, body = http(self.port, b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " +
                               b"a" * 20000 + b"\r\n\r\n")
        self.assertEqual(status, 431)
        self.assertEqual(body, b"request headers larger than 16384 bytes\n")

    def test_oversized_body_is_413(self):
        status, _, body = http(self.port, b"POST /login HTTP/1.1\r\nHost: x\r\n"
                               b"Content-Length: 100000\r\n\r\n" + b"a" * 100000)
        self.assertEqual(status, 413)
        self.assertEqual(body, b"request body larger than 16384 bytes\n")

    def test_no_login_page_on_loopback_without_passwd(self):
        status, _, _ = http(self.port, b"POST /login HTTP/1.1\r\nHost: x\r\n"
                                       b"Content-Length: 3\r\n\r\na=b")
        self.assertEqual(status, 404)

    # ---------------------------------------------------------------- WebSocket

    def test_first_frame_has_the_node_and_topics_follow(self):
        ws = WebSocket(self.port)
        self.addCleanup(ws.close)
        self.assertEqual(ws.status, 101)
        first = ws.json_until(lambda f: True)
        self.assertEqual(first["hello"], {"user": "", "login": False, "frame_ms": 250})
        node = next(n for n in first["snapshot"] if n["id"] == f"{SYSTEM}/n1")
        self.assertEqual(node["state"], "ready")
        self.assertEqual([s["name"] for s in node["info"]["services"]], ["tick", "echo"])
        frame = ws.json_until(lambda f: any(t["t"] == "dash/echo" for t in f.get("topics", [])))
        self.assertIsNotNone(frame, "dash/echo never came")

    def test_a_command_is_signed_and_answered(self):
        ws = WebSocket(self.port)
        self.addCleanup(ws.close)
        ws.send_json({"type": "cmd", "id": 7, "node": f"{SYSTEM}/n1", "verb": "ping"})
        frame = ws.json_until(lambda f: f.get("replies"))
        reply = frame["replies"][0]
        self.assertEqual((reply["id"], reply["ok"], reply["result"]["node"]), (7, True, "n1"))
        ws.send_json({"type": "cmd", "id": 8, "node": f"{SYSTEM}/n1", "verb": "call",
                      "args": {"service": "nope", "function": "status", "args": {}}})
        reply = ws.json_until(lambda f: f.get("replies"))["replies"][0]
        self.assertEqual((reply["id"], reply["ok"], reply["error"]["code"]),
                         (8, False, "unknown_service"))

    def test_bad_messages_are_answered_not_fatal(self):
        ws = WebSocket(self.port)
        self.addCleanup(ws.close)
        for text, message in [(b"{not json", 'expected a JSON object with a "type"'),
                              (b'{"type": "dance"}', 'unknown type "dance"'),
                              (b'{"type": "cmd", "node": "a/b/c", "verb": "ping"}',
                               "node name 'a/b/c': ")]:
            ws.send_frame(text)
            reply = ws.json_until(lambda f: f.get("replies"))["replies"][0]
            self.assertFalse(reply["ok"])
            self.assertTrue(reply["error"]["message"].startswith(message), reply)
        ws.send_json({"type": "cmd", "id": 1, "node": f"{SYSTEM}/n1", "verb": "ping"})
        self.assertTrue(ws.json_until(lambda f: f.get("replies"))["replies"][0]["ok"])

    def test_deploy_requests_name_only_listed_files(self):
        ws = WebSocket(self.port)
        self.addCleanup(ws.close)
        for message, code, text in [
                ({"type": "definitions"}, None, None),
                ({"type": "deploy.plan"}, "bad_request", 'deploy.plan needs a "file"'),
                ({"type": "deploy.plan", "file": "../control/fleettest.py"}, "not_found",
                 "no definition ../control/fleettest.py in "),
                ({"type": "deploy.plan", "file": "/etc/passwd.json"}, "not_found",
                 "no definition /etc/passwd.json in "),
                ({"type": "deploy.plan", "file": "x.secrets.json"}, "not_found",
                 "no definition x.secrets.json in "),
                ({"type": "deploy.start", "file": "a.json", "nodes": "all"}, "bad_request",
                 'deploy.start needs "nodes" (a list of names)'),
                ({"type": "deploy.start", "file": "a.json", "nodes": [], "confirm": -1},
                 "bad_request", 'deploy.start needs "nodes" (a list of names)'),
                ({"type": "deploy.start", "file": "a.json", "nodes": [], "sha256": ""},
                 "not_found", "no definition a.json in ")]:
            ws.send_json({**message, "id": 3})
            reply = ws.json_until(lambda f: f.get("replies"))["replies"][0]
            if code is None:
                self.assertTrue(reply["ok"], reply)
                self.assertEqual(reply["result"]["files"], [])
                continue
            self.assertFalse(reply["ok"], reply)
            self.assertEqual(reply["error"]["code"], code, reply)
            self.assertTrue(reply["error"]["message"].startswith(text), reply)

    def test_oversized_message_closes_with_1009(self):
        ws = WebSocket(self.port)
        self.addCleanup(ws.close)
        # Only the header of a 70,000-byte text frame: the server refuses it from its length,
        # and no unread payload makes the close a reset.
        ws.sock.sendall(bytes([0x81, 0x80 | 127]) + (70000).to_bytes(8, "big") + os.urandom(4))
        ws.sock.settimeout(5)
        code = None
        while code is None:
            opcode, payload = ws.frame()
            if opcode == 8:
                code = int.from_bytes(payload[:2], "big")
        self.assertEqual(code, 1009)
        # The server goes on.
        self.assertEqual(get(self.port, "/")[0], 200)

    def test_websocket_from_another_origin_is_refused(self):
        ws = WebSocket(self.port, headers="Origin: http://evil.example\r\n")
        self.addCleanup(ws.close)
        self.assertEqual(ws.status, 403)
        ok = WebSocket(self.port, headers=f"Origin: http://127.0.0.1:{self.port}\r\n")
        self.addCleanup(ok.close)
        self.assertEqual(ok.status, 101)

    def test_websocket_at_another_path_is_404(self):
        ws = WebSocket(self.port, path="/mqtt")
        self.addCleanup(ws.close)
        self.assertEqual(ws.status, 404)

    def test_a_browser_that_stops_reading_is_dropped_with_memory_bounded(self):
        dash = Dashboard(self.processes, self.system.url, "--write-timeout", "1")
        port = dash.port()
        reader = WebSocket(port)
        self.addCleanup(reader.close)
        reader.json_until(lambda f: True)
        # A browser that keeps reading, in a thread, while the flood runs.
        frames = []
        browsers = []  # the server's count of connected browsers, from each frame's stats

        def read():
            try:
                while True:
                    opcode, payload = reader.frame()
                    if opcode == 1:
                        frames.append(len(payload))
                        stats = json.loads(payload).get("stats")
                        if stats:
                            browsers.append(stats["browsers"])
            except (OSError, ConnectionError) as e:
                frames.append(e)
        reader.sock.settimeout(None)
        thread = threading.Thread(target=read, daemon=True)
        thread.start()
        # A socket with a small receive buffer that never reads.
        raw = socket.socket()
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        raw.connect(("127.0.0.1", port))
        stalled = WebSocket(port, sock=raw)
        self.addCleanup(stalled.close)
        self.assertEqual(stalled.status, 101)
        before = dash.rss()
        # 3,000 topics with 3 KB payloads, round after round until the stalled browser is
        # dropped (at most 40 rounds): every frame is as large as the server allows, and the flood
        # lasts until the stalled socket's buffers are full whatever the machine's load (one pass
        # could end before they filled, and then there was nothing left to stall on).
        flood = subprocess.Popen(
            ["/usr/bin/python3", "-c", FLOOD, self.system.url.rsplit(":", 1)[1]],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.addCleanup(lambda: flood.poll() is None and (flood.kill(), flood.wait()))

        # Not read from the stalled socket while waiting (that would unstall it): the server's
        # own count of browsers, as the reader sees it, goes from 2 to 1.
        self.assertTrue(wait_until(lambda: browsers[-1:] == [1] and 2 in browsers, 60),
                        f"the stalled browser was not dropped: browsers {browsers[-5:]}")
        self.assertIsNone(flood.poll(), "the flood ended before the stalled browser was dropped")
        flood.kill()
        flood.wait()
        # The reader got the flood's frames and is still connected (the stalled one's socket was
        # closed by the server: reading what is buffered ended with EOF or a reset).
        self.assertTrue(wait_until(lambda: sum(isinstance(f, int) and f > 100_000
                                               for f in frames) >= 5, 10), frames[-5:])
        self.assertFalse(any(isinstance(f, Exception) for f in frames), frames[-5:])

        def closed():
            stalled.sock.settimeout(0.2)
            try:
                while stalled.sock.recv(1 << 20):
                    pass
                return True
            except socket.timeout:
                return False
            except ConnectionResetError:
                return True
        self.assertTrue(wait_until(closed, 10), "the stalled browser's socket was not closed")
        growth = dash.rss() - before
        # The model holds 3,000 topics of 3 KB (9 MB); a queue for the stalled browser would
        # add tens of MB (every frame the server built for it).
        self.assertLess(growth, 40 << 20, f"RSS grew by {growth >> 20} MiB")


FLOOD = r"""
import sys, paho.mqtt.client as mqtt
c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2) if hasattr(mqtt, "CallbackAPIVersion") else mqtt.Client()
c.connect("127.0.0.1", int(sys.argv[1]))
c.loop_start()
payload = "x" * 3000
for rnd in range(40):
    for i in range(3000):
        c.publish(f"flood/{i}", f'{{"n": {rnd}, "pad": "{payload}"}}').wait_for_publish()
c.disconnect()
c.loop_stop()
"""


class OffLoopbackTest(SystemTestCase):
    """A dashboard on 0.0.0.0 needs HTTPS and a password file; with them, a login."""

    definition = staticmethod(one_node)

    def test_refused_without_https_and_passwd(self):
        out = subprocess.run([psos_binary(), "dashboard", "--broker", self.system.url,
                              "--listen", "http://0.0.0.0:0"], capture_output=True, text=True,
                             timeout=20)
        self.assertEqual(out.returncode, 2)
        self.assertEqual(out.stderr,
                         "psos dashboard: --listen http://0.0.0.0:0 is not a loopback address: "
                         "a dashboard there needs https:// with --https-cert and --https-key, "
                         "and --passwd FILE (users made with psos passwd)\n")

    def test_login_over_https(self):
        passwd = os.path.join(self.tmp, "users")
        out = subprocess.run([psos_binary(), "passwd", "-b", passwd, "alice", "s3cret"],
                             capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr)
        cert, key = os.path.join(self.tmp, "dash.pem"), os.path.join(self.tmp, "dash.key")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert,
                        "-days", "1", "-subj", "/CN=127.0.0.1"], check=True,
                       capture_output=True, timeout=30)
        dash = Dashboard(self.processes, self.system.url, "--listen", "https://0.0.0.0:0",
                         "--passwd", passwd, "--https-cert", cert, "--https-key", key)
        port = dash.port()
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE

        def tls():
            return context.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10))

        def request(raw):
            with tls() as s:
                s.sendall(raw)
                data = b""
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                    if b"\r\n\r\n" in data and b"Content-Length" in data:
                        head, _, body = data.partition(b"\r\n\r\n")
                        n = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
                        if len(body) >= n:
                            break
            head, _, body = data.partition(b"\r\n\r\n")
            lines = head.decode().split("\r\n")
            return int(lines[0].split()[1]), dict(
                (l.split(":", 1)[0].lower(), l.split(":", 1)[1].strip()) for l in lines[1:]), body

        status, headers, _ = request(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        self.assertEqual((status, headers["location"]), (303, "/login"))
        status, headers, body = request(b"GET /login HTTP/1.1\r\nHost: x\r\n"
                                        b"Connection: close\r\n\r\n")
        self.assertEqual(status, 200)
        self.assertIn(b'<form method="post" action="/login"', body)
        ws = WebSocket(port, sock=tls(), host=f"127.0.0.1:{port}")
        self.assertEqual(ws.status, 401)
        ws.close()

        def login(password):
            body = f"user=alice&password={password}".encode()
            return request(b"POST /login HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                           b"Content-Type: application/x-www-form-urlencoded\r\n"
                           b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        status, headers, _ = login("wrong")
        self.assertEqual((status, headers["location"]), (303, "/login?failed"))
        self.assertNotIn("set-cookie", headers)
        status, headers, _ = login("s3cret")
        self.assertEqual((status, headers["location"]), (303, "/"))
        cookie = headers["set-cookie"].split(";")[0]
        self.assertIn("HttpOnly", headers["set-cookie"])
        self.assertIn("Secure", headers["set-cookie"])
        status, _, body = request(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nCookie: " +
                                  cookie.encode() + b"\r\n\r\n")
        self.assertEqual(status, 200)
        ws = WebSocket(port, sock=tls(), headers=f"Cookie: {cookie}\r\n")
        self.addCleanup(ws.close)
        self.assertEqual(ws.status, 101)
        self.assertEqual(ws.json_until(lambda f: True)["hello"]["user"], "alice")


if __name__ == "__main__":
    main()
