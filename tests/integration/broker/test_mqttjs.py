"""Interoperability: MQTT.js 5 (tools/npm) against `psos broker` over TCP and WebSocket, MQTT
3.1.1 and 5. The scenarios are in mqttjs_interop.js; each test runs one against a new broker."""

import os
import shutil
import subprocess

from brokertest import HERE, BrokerTestCase, main

SCRIPT = os.path.join(HERE, "mqttjs_interop.js")


class MqttJsTestCase(BrokerTestCase):
    scheme = "mqtt"
    version = 5

    def setUp(self):
        super().setUp()
        self.node = os.environ.get("NODE") or shutil.which("node")
        if not self.node:
            self.fail("node (Node.js) not found: run scripts/setup")
        self.broker = self.start_broker(listen=("mqtt://127.0.0.1:0", "ws://127.0.0.1:0/mqtt"))

    def scenario(self, name):
        proc = self.processes.start([self.node, SCRIPT, self.broker.url(self.scheme),
                                     str(self.version), name])
        try:
            out, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            self.fail("MQTT.js scenario %s timed out:\n%s" % (name, err.decode()))
        self.assertEqual(proc.returncode, 0, err.decode() + out.decode())

    def test_qos(self):
        self.scenario("qos")

    def test_retained(self):
        self.scenario("retained")

    def test_will(self):
        self.scenario("will")

    def test_session(self):
        self.scenario("session")

    def test_shared(self):
        self.scenario("shared")


class MqttJsV311(MqttJsTestCase):
    version = 4


class MqttJsV5(MqttJsTestCase):
    version = 5

    def test_properties(self):
        self.scenario("properties")


class MqttJsWebSocketV311(MqttJsTestCase):
    scheme = "ws"
    version = 4


class MqttJsWebSocketV5(MqttJsTestCase):
    scheme = "ws"
    version = 5

    def test_properties(self):
        self.scenario("properties")


del MqttJsTestCase  # a base, not a test

if __name__ == "__main__":
    main()
