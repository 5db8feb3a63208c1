"""`psos pub` and `psos sub` against `psos broker` and a real Mosquitto: QoS 0/1/2 in MQTT v5 and
3.1.1, retained messages, -C, -W (exit 27), -R, -F, -E/-U, the last will of a killed client,
WebSocket, and a clear error when no broker listens."""

import signal
import time

from clitest import CliTestCase, free_port, main


class PubSubTest(CliTestCase):
    def round_trips(self, url):
        for version in ("mqttv5", "mqttv311"):
            for qos in ("0", "1", "2"):
                with self.subTest(version=version, qos=qos):
                    topic = f"rt/{version}/{qos}"
                    sub = self.sub("--broker", url, "-V", version, "-q", qos, "-t", topic,
                                   "-v", "-C", "3", "-W", "15")
                    for i in range(3):
                        self.pub("--broker", url, "-V", version, "-q", qos, "-t", topic,
                                 "-m", f"m{i}")
                    status, lines = sub.wait()
                    self.assertEqual(status, 0, sub.stderr_text())
                    self.assertEqual(lines, [f"{topic} m0", f"{topic} m1", f"{topic} m2"])

    def test_qos_levels_psos_broker(self):
        broker = self.start_broker()
        self.round_trips(broker.url("mqtt"))

    def test_qos_levels_mosquitto(self):
        mosquitto = self.start_mosquitto()
        self.round_trips(mosquitto.url())

    def test_retained_then_new_subscriber(self):
        for url in (self.start_broker().url("mqtt"), self.start_mosquitto().url()):
            with self.subTest(url=url):
                self.pub("--broker", url, "-t", "ret/t", "-m", "kept", "-r", "-q", "1")
                out = self.psos("sub", "--broker", url, "-t", "ret/t", "-C", "1", "-W", "10",
                                "-F", "%t|%p|%r|%q")
                self.assertEqual((out.returncode, out.stdout), (0, "ret/t|kept|1|0\n"),
                                 out.stderr)
                # -R: a stale (retained) message is not printed, so this one times out.
                out = self.psos("sub", "--broker", url, "-t", "ret/t", "-C", "1", "-W", "1",
                                "-R")
                self.assertEqual((out.returncode, out.stdout), (27, ""), out.stderr)
                # An empty retained message clears it.
                self.pub("--broker", url, "-t", "ret/t", "-n", "-r")
                out = self.psos("sub", "--broker", url, "-t", "ret/t", "-C", "1", "-W", "1")
                self.assertEqual((out.returncode, out.stdout), (27, ""), out.stderr)

    def test_count_exits_after_n_messages(self):
        url = self.start_broker().url("mqtt")
        sub = self.sub("--broker", url, "-t", "count/#", "-C", "2", "-W", "15")
        for i in range(4):
            self.pub("--broker", url, "-t", f"count/{i}", "-m", str(i), "-q", "1")
        status, lines = sub.wait()
        self.assertEqual((status, lines), (0, ["0", "1"]), sub.stderr_text())

    def test_timeout_exits_27(self):
        url = self.start_broker().url("mqtt")
        began = time.monotonic()
        out = self.psos("sub", "--broker", url, "-t", "quiet/t", "-W", "1")
        self.assertEqual(out.returncode, 27, out.stderr)
        self.assertLess(time.monotonic() - began, 8)

    def test_exit_after_subscribe_and_unsubscribe(self):
        url = self.start_broker().url("mqtt")
        # A persistent session's subscription, made with -E, collects a message while away...
        out = self.psos("sub", "--broker", url, "-c", "-i", "eu", "-q", "1", "-t", "eu/t", "-E")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.pub("--broker", url, "-t", "eu/t", "-m", "while away", "-q", "1")
        out = self.psos("sub", "--broker", url, "-c", "-i", "eu", "-q", "1", "-t", "eu/t",
                        "-C", "1", "-W", "10")
        self.assertEqual((out.returncode, out.stdout), (0, "while away\n"), out.stderr)
        # ... and -U removes it: nothing is kept for the session any more.
        out = self.psos("sub", "--broker", url, "-c", "-i", "eu", "-U", "eu/t", "-E")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.pub("--broker", url, "-t", "eu/t", "-m", "not kept", "-q", "1")
        out = self.psos("sub", "--broker", url, "-c", "-i", "eu", "-q", "1", "-t", "other/t",
                        "-C", "1", "-W", "1")
        self.assertEqual((out.returncode, out.stdout), (27, ""), out.stderr)

    def test_will_fires_when_subscriber_is_killed(self):
        for url in (self.start_broker().url("mqtt"), self.start_mosquitto().url()):
            with self.subTest(url=url):
                watcher = self.sub("--broker", url, "-t", "will/t", "-v", "-C", "1", "-W", "15")
                victim = self.sub("--broker", url, "-t", "victim/t", "-k", "5",
                                  "--will-topic", "will/t", "--will-payload", "victim died",
                                  "--will-qos", "1")
                victim.proc.send_signal(signal.SIGKILL)
                status, lines = watcher.wait()
                self.assertEqual((status, lines), (0, ["will/t victim died"]),
                                 watcher.stderr_text())

    def test_no_will_after_clean_exit(self):
        url = self.start_broker().url("mqtt")
        victim = self.sub("--broker", url, "-t", "x/t", "--will-topic", "will2/t",
                          "--will-payload", "died")
        watcher = self.sub("--broker", url, "-t", "will2/t", "-C", "1", "-W", "2")
        victim.proc.send_signal(signal.SIGTERM)
        self.assertEqual(victim.wait()[0], 0)
        self.assertEqual(watcher.wait(), (27, []))

    def test_websocket(self):
        broker = self.start_broker(listen=("mqtt://127.0.0.1:0", "ws://127.0.0.1:0/mqtt"))
        url = broker.url("ws")
        for qos in ("0", "1", "2"):
            sub = self.sub("--broker", url, "-t", "ws/t", "-q", qos, "-C", "1", "-W", "10")
            self.pub("--broker", url, "-t", "ws/t", "-q", qos, "-m", "over websocket")
            status, lines = sub.wait()
            self.assertEqual((status, lines), (0, ["over websocket"]), sub.stderr_text())

    def test_message_sources(self):
        url = self.start_broker().url("mqtt")
        path = f"{self.tmp}/payload.bin"
        with open(path, "w") as f:
            f.write("line one\nline two\n")
        sub = self.sub("--broker", url, "-t", "src/t", "-C", "3", "-W", "10", "-F", "[%p]")
        self.pub("--broker", url, "-t", "src/t", "-f", path)
        self.pub("--broker", url, "-t", "src/t", "-s", input="from stdin")
        self.pub("--broker", url, "-t", "src/t", "-n")
        status, lines = sub.wait()
        self.assertEqual((status, lines), (0, ["[line one", "line two", "]", "[from stdin]", "[]"]))

    def test_no_broker_is_a_clear_error(self):
        port = free_port()
        began = time.monotonic()
        for command in (["pub", "-m", "x"], ["sub"]):
            out = self.psos(*command, "-t", "t", "-p", str(port))
            self.assertEqual(out.returncode, 1)
            self.assertIn("is the broker running?", out.stderr)
        self.assertLess(time.monotonic() - began, 8)

    def test_bad_usage_exits_1(self):
        self.assertEqual(self.psos("pub", "-t", "t").returncode, 1)            # no message
        self.assertEqual(self.psos("pub", "-t", "a/#", "-m", "x").returncode, 1)
        self.assertEqual(self.psos("sub", "-t", "t", "-c").returncode, 1)      # -c needs -i
        self.assertEqual(self.psos("sub", "-t", "t", "-q", "3").returncode, 1)
        out = self.psos("sub", "-t", "t", "-V", "mqttv31")
        self.assertEqual(out.returncode, 1)
        self.assertIn("not supported", out.stderr)


if __name__ == "__main__":
    main()
