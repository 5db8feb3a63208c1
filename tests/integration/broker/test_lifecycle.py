"""Connection and process lifecycle of `psos broker`: keep-alive enforcement at 1.5 x the keep
alive (with the will published), --max-keepalive (MQTT 5 Server Keep Alive), and a clean stop on
SIGTERM / SIGINT (MQTT 5 clients get DISCONNECT 0x8B, exit status 0 within 3 s)."""

import json
import os
import shutil
import signal
import tempfile
import time

from brokertest import (DISCONNECT, PINGREQ, PINGRESP, PUBLISH, BrokerTestCase, RawClient, main,
                        packet)
from paho_client import V5, Client

KEEP_ALIVE_TIMEOUT, SERVER_SHUTTING_DOWN = 0x8D, 0x8B
SERVER_KEEP_ALIVE = 0x13  # CONNACK property


class KeepAlive(BrokerTestCase):
    def setUp(self):
        super().setUp()
        self.broker = self.start_broker()
        self.watcher = RawClient(self.broker.port)
        self.addCleanup(self.watcher.close)
        self.watcher.connect("watcher")
        self.watcher.subscribe("will/#", qos=1)

    def silent_client(self, version):
        client = RawClient(self.broker.port, version)
        self.addCleanup(client.close)
        client.connect("silent-%d" % version, keep_alive=1,
                       will={"topic": "will/silent", "payload": "timed out", "qos": 1})
        return client

    def test_silent_client_disconnected(self):
        for version in (5, 4):
            client = self.silent_client(version)
            start = time.monotonic()
            packets = client.expect_closed(timeout=5)
            elapsed = time.monotonic() - start
            # 1.5 x 1 s; generous upper bound for a loaded machine.
            self.assertGreaterEqual(elapsed, 1.3)
            self.assertLess(elapsed, 3.5)
            if version == 5:
                self.assertEqual([(p.kind, p.reason) for p in packets],
                                 [(DISCONNECT, KEEP_ALIVE_TIMEOUT)])
            else:
                self.assertEqual(packets, [])
            got = self.watcher.receive_publishes(1, timeout=3)
            self.assertEqual([(p.topic, p.payload) for p in got], [("will/silent", b"timed out")])

    def test_pinging_client_stays(self):
        client = RawClient(self.broker.port)
        self.addCleanup(client.close)
        client.connect("pinger", keep_alive=1)
        for _ in range(6):  # 3 s, twice the limit
            time.sleep(0.5)
            client.send(packet(PINGREQ, 0, b""))
            self.assertEqual(client.expect(PINGRESP).kind, PINGRESP)
        self.assertTrue(self.watcher.no_publish(0.1))

    def test_server_keep_alive_not_imposed_by_default(self):
        client = RawClient(self.broker.port)
        self.addCleanup(client.close)
        ack = client.connect("forever", keep_alive=0)
        self.assertIsNone(ack.prop(0x13))  # no Server Keep Alive
        self.assertTrue(client.no_publish(2.0))
        client.send(packet(PINGREQ, 0, b""))
        client.expect(PINGRESP)


class MaxKeepAlive(BrokerTestCase):
    """--max-keepalive 1: MQTT 5 clients asking for more, or for none, are told 1 s and timed out
    at 1.5 s; MQTT 3.1.1 clients keep their own keep alive, as with Mosquitto's max_keepalive."""

    def setUp(self):
        super().setUp()
        self.broker = self.start_broker(extra=("--max-keepalive", "1"))

    def closed_after(self, client):
        start = time.monotonic()
        packets = client.expect_closed(timeout=8)
        return time.monotonic() - start, [(p.kind, p.reason) for p in packets]

    def test_paho_v5_sees_server_keep_alive(self):
        client = Client(self.broker.port, "paho-asks-60", V5)
        self.addCleanup(client.drop)
        _, reason, props = client.connect(keepalive=60)
        self.assertEqual(reason, 0)
        self.assertEqual(props.ServerKeepAlive, 1)

    def test_silent_v5_client_timed_out_by_the_cap(self):
        for asked in (0, 60):
            client = RawClient(self.broker.port, 5)
            self.addCleanup(client.close)
            ack = client.connect("silent-v5-%d" % asked, keep_alive=asked)
            self.assertEqual(ack.prop(SERVER_KEEP_ALIVE), 1)
            elapsed, packets = self.closed_after(client)
            # 1.5 x 1 s; generous upper bound for a loaded machine.
            self.assertGreaterEqual(elapsed, 1.3)
            self.assertLess(elapsed, 3.5)
            self.assertEqual(packets, [(DISCONNECT, KEEP_ALIVE_TIMEOUT)])

    def test_v5_client_within_the_cap_is_not_told(self):
        client = RawClient(self.broker.port, 5)
        self.addCleanup(client.close)
        self.assertIsNone(client.connect("within", keep_alive=1).prop(SERVER_KEEP_ALIVE))

    def test_set_in_the_config_file(self):
        config = os.path.join(tempfile.mkdtemp(prefix="psos-config-"), "broker.json")
        self.addCleanup(shutil.rmtree, os.path.dirname(config), True)
        with open(config, "w") as f:
            json.dump({"max-keepalive": 2}, f)
        broker = self.start_broker(extra=("--config", config))
        client = RawClient(broker.port, 5)
        self.addCleanup(client.close)
        self.assertEqual(client.connect("configured", keep_alive=0).prop(SERVER_KEEP_ALIVE), 2)

    def test_v311_client_keeps_its_own_keep_alive(self):
        client = RawClient(self.broker.port, 4)
        self.addCleanup(client.close)
        client.connect("silent-v3", keep_alive=3)
        elapsed, _ = self.closed_after(client)
        # Timed out at 1.5 x its own 3 s, not at 1.5 x the cap.
        self.assertGreaterEqual(elapsed, 4.3)
        self.assertLess(elapsed, 7.5)


class CleanStop(BrokerTestCase):
    def stop_with(self, sig):
        broker = self.start_broker(listen=("mqtt://127.0.0.1:0", "ws://127.0.0.1:0/mqtt"))
        v5 = [RawClient(broker.port, 5) for _ in range(3)]
        v3 = RawClient(broker.port, 4)
        for i, c in enumerate(v5 + [v3]):
            self.addCleanup(c.close)
            c.connect("c%d" % i)
            c.subscribe("t/#", qos=1)
        start = time.monotonic()
        broker.proc.send_signal(sig)
        for c in v5:
            packets = c.expect_closed(timeout=3)
            self.assertEqual([(p.kind, p.reason) for p in packets],
                             [(DISCONNECT, SERVER_SHUTTING_DOWN)])
        self.assertEqual(v3.expect_closed(timeout=3), [])
        status = broker.proc.wait(max(0.1, 3 - (time.monotonic() - start)))
        self.assertEqual(status, 0)
        self.assertLess(time.monotonic() - start, 3.0)

    def test_sigterm(self):
        self.stop_with(signal.SIGTERM)

    def test_sigint(self):
        self.stop_with(signal.SIGINT)

    def test_sigterm_publishes_the_wills_before_disconnecting(self):
        # MQTT 5 3.1.2.5: the server closes the connection without a DISCONNECT from the client.
        broker = self.start_broker()
        watcher = RawClient(broker.port, 5)
        self.addCleanup(watcher.close)
        watcher.connect("watcher")
        watcher.subscribe("will/#", qos=1)
        for version in (5, 4):
            c = RawClient(broker.port, version)
            self.addCleanup(c.close)
            c.connect("leaving-%d" % version,
                      will={"topic": "will/%d" % version, "payload": "gone", "qos": 1})
        broker.proc.send_signal(signal.SIGTERM)
        packets = watcher.expect_closed(timeout=3)
        self.assertEqual(sorted((p.topic, p.payload) for p in packets if p.kind == PUBLISH),
                         [("will/4", b"gone"), ("will/5", b"gone")])
        self.assertEqual((packets[-1].kind, packets[-1].reason), (DISCONNECT, SERVER_SHUTTING_DOWN))
        self.assertEqual(broker.terminate(3), 0)

    def test_sigterm_idle(self):
        broker = self.start_broker()
        start = time.monotonic()
        self.assertEqual(broker.terminate(3), 0)
        self.assertLess(time.monotonic() - start, 3.0)

    def test_sigterm_with_silent_client(self):
        # A client that stops reading must not hold the broker up.
        broker = self.start_broker()
        stuck = RawClient(broker.port)
        self.addCleanup(stuck.close)
        stuck.connect("stuck")
        stuck.subscribe("flood", qos=0)
        pub = RawClient(broker.port)
        self.addCleanup(pub.close)
        pub.connect("flooder")
        payload = b"x" * 60000
        pub.sock.settimeout(1)
        try:
            for _ in range(200):  # until backpressure stops the broker reading it
                pub.publish("flood", payload)
        except OSError:
            pass
        start = time.monotonic()
        self.assertEqual(broker.terminate(3), 0)
        self.assertLess(time.monotonic() - start, 3.0)


if __name__ == "__main__":
    main()
