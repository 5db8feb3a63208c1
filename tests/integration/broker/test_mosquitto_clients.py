"""Interoperability: Mosquitto's command-line clients (mosquitto_pub, mosquitto_sub) against
`psos broker`, MQTT 3.1.1 and 5: QoS 0/1/2 with counted messages, retained messages, wills
(SIGKILL and normal exit), persistent sessions, shared subscriptions, MQTT 5 properties."""

import signal
import socket
import subprocess
import time

from brokertest import BrokerTestCase, LineReader, main, wait_until

# -F output: retain flag, QoS, topic, payload; debug lines (-d) start with "Client ".
FORMAT = "MSG %r %q %t %p"


def is_message(line):
    return line.startswith("MSG ")


class MosquittoTestCase(BrokerTestCase):
    version = "mqttv311"

    def setUp(self):
        super().setUp()
        self.broker = self.start_broker()

    def common(self):
        return ["-h", "127.0.0.1", "-p", str(self.broker.port), "-V", self.version]

    def sub(self, topics, qos=0, extra=(), fmt=FORMAT, wait_subscribed=True):
        """Starts mosquitto_sub and waits for its SUBACK; returns (process, its output lines)."""
        # stdbuf: debug lines go to a pipe, which stdio would otherwise buffer until exit.
        args = ["stdbuf", "-oL", "mosquitto_sub", "-d", "-F", fmt, "-q", str(qos)]
        args += self.common() + list(extra)
        for t in ([topics] if isinstance(topics, str) else topics):
            args += ["-t", t]
        proc = self.processes.start(args)
        lines = LineReader(proc.stdout)
        if wait_subscribed:
            self.assertIsNotNone(lines.wait_for(lambda l: "received SUBACK" in l, 10),
                                 "mosquitto_sub got no SUBACK: %r" % lines.lines)
        return proc, lines

    def pub(self, topic, messages=None, qos=0, extra=(), timeout=20):
        """Runs mosquitto_pub to completion: one message per item of `messages` (through -l),
        or whatever `extra` says (-m, -n, ...)."""
        args = ["mosquitto_pub", "-q", str(qos), "-t", topic] + self.common() + list(extra)
        stdin = None
        if messages is not None:
            args.append("-l")
            stdin = ("".join(m + "\n" for m in messages)).encode()
        proc = self.processes.start(args, stdin=subprocess.PIPE if stdin else subprocess.DEVNULL)
        out, err = proc.communicate(stdin, timeout=timeout)
        self.assertEqual(proc.returncode, 0, "mosquitto_pub failed: %s" % err.decode())

    def messages(self, lines):
        return lines.matching(is_message)

    def test_qos_delivery_counts(self):
        n = 100
        for qos in (0, 1, 2):
            topic = "count/%d" % qos
            proc, lines = self.sub(topic, qos, ["-C", str(n)])
            self.pub(topic, [str(i) for i in range(n)], qos)
            self.assertEqual(proc.wait(15), 0)
            lines.join(5)
            self.assertEqual(self.messages(lines),
                             ["MSG 0 %d %s %d" % (qos, topic, i) for i in range(n)])

    def test_retained_set_replace_clear(self):
        self.pub("ret/a", qos=1, extra=["-r", "-m", "first"])
        self.pub("ret/a", qos=1, extra=["-r", "-m", "second"])
        proc, lines = self.sub("ret/a", 1, ["-C", "1"])
        self.assertEqual(proc.wait(10), 0)
        lines.join(5)
        self.assertEqual(self.messages(lines), ["MSG 1 1 ret/a second"])
        self.pub("ret/a", qos=1, extra=["-r", "-n"])
        proc, lines = self.sub("ret/a", 1, ["-W", "1"])
        proc.wait(10)
        lines.join(5)
        self.assertEqual(self.messages(lines), [])

    def test_will_on_sigkill(self):
        _, watcher = self.sub("will/#", 1)
        dying, _ = self.sub("unused", 0, ["--will-topic", "will/dying", "--will-payload", "gone",
                                           "--will-qos", "1"])
        dying.send_signal(signal.SIGKILL)
        self.assertTrue(watcher.wait_for(is_message, 5), "no will")
        self.assertEqual(self.messages(watcher), ["MSG 0 1 will/dying gone"])

    def test_no_will_on_normal_exit(self):
        _, watcher = self.sub("will/#", 1)
        leaving, _ = self.sub("bye", 0, ["-C", "1", "--will-topic", "will/leaving",
                                          "--will-payload", "should not be sent"])
        self.pub("bye", qos=0, extra=["-m", "exit now"])
        self.assertEqual(leaving.wait(10), 0)
        self.assertIsNone(watcher.wait_for(is_message, 0.5))

    def test_persistent_session(self):
        keeper = ["-c", "-i", "keeper-" + self.version]
        proc, _ = self.sub("away/#", 1, keeper + ["-E"])
        self.assertEqual(proc.wait(10), 0)
        self.pub("away/x", [str(i) for i in range(20)], 1)
        proc, lines = self.sub("away/#", 1, keeper + ["-C", "20"], wait_subscribed=False)
        self.assertEqual(proc.wait(10), 0, lines.lines)
        lines.join(5)
        self.assertEqual(self.messages(lines), ["MSG 0 1 away/x %d" % i for i in range(20)])

    def test_shared_subscription(self):
        n = 40
        readers = [self.sub("$share/workers/jobs/#", 1)[1] for _ in range(2)]
        self.pub("jobs/a", [str(i) for i in range(n)], 1)
        wait_until(lambda: sum(len(self.messages(r)) for r in readers) >= n, 5)
        time.sleep(0.2)  # time for a duplicate to show
        received = [[int(l.split()[-1]) for l in self.messages(r)] for r in readers]
        self.assertEqual(sorted(received[0] + received[1]), list(range(n)))
        self.assertTrue(received[0] and received[1], "not spread: %r" % received)


class MosquittoV311(MosquittoTestCase):
    version = "mqttv311"


class MosquittoV5(MosquittoTestCase):
    version = "mqttv5"

    def test_properties_pass_through(self):
        fmt = "MSG %t|%P|%C|%R|%D|%F|%p"
        proc, lines = self.sub("props/#", 1, ["-C", "1"], fmt=fmt)
        self.pub("props/t", qos=1, extra=[
            "-m", "payload",
            "-D", "publish", "user-property", "k", "v",
            "-D", "publish", "content-type", "text/plain",
            "-D", "publish", "response-topic", "reply/to",
            "-D", "publish", "correlation-data", "corr",
            "-D", "publish", "payload-format-indicator", "1"])
        self.assertEqual(proc.wait(10), 0)
        lines.join(5)
        self.assertEqual(self.messages(lines),
                         ["MSG props/t|k:v|text/plain|reply/to|corr|1|payload"])

    def test_message_expiry(self):
        keeper = ["-c", "-i", "expiring", "-x", "60"]
        proc, _ = self.sub("exp/#", 1, keeper + ["-E"])
        self.assertEqual(proc.wait(10), 0)
        self.pub("exp/short", qos=1, extra=["-m", "gone", "-D", "publish",
                                            "message-expiry-interval", "1"])
        self.pub("exp/long", qos=1, extra=["-m", "kept", "-D", "publish",
                                           "message-expiry-interval", "60"])
        time.sleep(2.2)
        proc, lines = self.sub("exp/#", 1, keeper + ["-W", "1"], wait_subscribed=False)
        proc.wait(10)
        lines.join(5)
        self.assertEqual(self.messages(lines), ["MSG 0 1 exp/long kept"])


class MosquittoIPv6(BrokerTestCase):
    def test_ipv6_listener(self):
        try:
            socket.socket(socket.AF_INET6).bind(("::1", 0))
        except OSError:
            self.skipTest("no IPv6 loopback here")
        broker = self.start_broker(listen=("mqtt://[::1]:0",))
        where = ["-h", "::1", "-p", str(broker.port_of("mqtt")), "-t", "v6", "-q", "1"]
        sub = self.processes.start(["stdbuf", "-oL", "mosquitto_sub", "-d", "-F", FORMAT, "-C",
                                    "1"] + where)
        lines = LineReader(sub.stdout)
        self.assertIsNotNone(lines.wait_for(lambda l: "received SUBACK" in l, 10))
        pub = subprocess.run(["mosquitto_pub", "-m", "over IPv6"] + where, capture_output=True,
                             timeout=10)
        self.assertEqual(pub.returncode, 0, pub.stderr)
        self.assertEqual(sub.wait(10), 0)
        lines.join(5)
        self.assertEqual(lines.matching(is_message), ["MSG 0 1 v6 over IPv6"])


del MosquittoTestCase  # a base, not a test

if __name__ == "__main__":
    main()
