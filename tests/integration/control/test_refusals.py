"""Requests a node must not execute, sent to a real node over a real Mosquitto: a forged
signature, an untrusted key, a replayed request, an expired one, a retained one, one for another
node, a payload that is not JSON, and an unsigned request published with mosquitto_pub. Each is
refused with its code in the reply (exit status 1 through psos cmd), counted in $metrics'
commands.refused, logged on $log, and the node keeps working: the next good request succeeds.

The crafted requests are signed with examples/python/psos_call.py's build_request (the
documented wire format) and published with paho, which sets the MQTT 5 Response Topic and
Correlation Data. Run with /usr/bin/python3. CTest sets PSOS_BINARY.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "examples", "python"))

import paho.mqtt.client as mqtt  # noqa: E402
from paho.mqtt.packettypes import PacketTypes  # noqa: E402
from paho.mqtt.properties import Properties  # noqa: E402
from fleettest import SYSTEM, SystemTestCase, main  # noqa: E402
from psos_call import build_request, load_private_key  # noqa: E402

CMD = f"psos/{SYSTEM}/n1/$cmd/"


def one_node(broker_url, embedded):
    return {"psos": 1, "system": SYSTEM, "brokers": {"lan": {"url": broker_url}},
            "nodes": {"n1": {"uplink": "lan", "metrics": "200ms", "services": [
                {"name": "tick", "module": "timer", "every": "1h", "pub": "fleet/tick"}]}}}


class Observer:
    """A paho MQTT 5 client that sends payloads to the node with a Response Topic and collects
    the replies (by Correlation Data), the node's $log records and its $metrics."""

    def __init__(self, port):
        self.cond = threading.Condition()
        self.replies = {}
        self.log = []
        self.metrics = []  # (arrival, payload)
        self.sent = 0
        self.client = mqtt.Client(client_id="", protocol=mqtt.MQTTv5)
        self.client.on_message = self.on_message
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *args: subscribed.set()
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self.client.subscribe([("refusals/reply", 1), (f"psos/{SYSTEM}/n1/$log", 1),
                               (f"psos/{SYSTEM}/n1/$metrics", 0)])
        if not subscribed.wait(10):
            raise RuntimeError("the observer's subscriptions were not acknowledged")

    def on_message(self, client, userdata, message):
        with self.cond:
            if message.topic == "refusals/reply":
                correlation = getattr(message.properties, "CorrelationData", b"").decode()
                self.replies[correlation] = json.loads(message.payload)
            elif message.topic.endswith("$log"):
                self.log.append(json.loads(message.payload))
            else:
                self.metrics.append((time.monotonic(), json.loads(message.payload)))
            self.cond.notify_all()

    def wait(self, predicate, timeout=10):
        with self.cond:
            return self.cond.wait_for(predicate, timeout)

    def send(self, payload, verb="ping", retain=False, reply=True):
        """Publishes `payload` to the node's $cmd/<verb>; its reply (None when none is asked)."""
        properties = Properties(PacketTypes.PUBLISH)
        self.sent += 1
        correlation = str(self.sent)
        if reply:
            properties.ResponseTopic = "refusals/reply"
            properties.CorrelationData = correlation.encode()
        self.client.publish(CMD + verb, payload, qos=1, retain=retain,
                            properties=properties).wait_for_publish(10)
        if not reply:
            return None
        self.wait(lambda: correlation in self.replies)
        return self.replies.get(correlation)

    def refused(self):
        """commands.refused of the first $metrics published from now on."""
        start = time.monotonic()
        fresh = lambda: [m for t, m in self.metrics if t > start]  # noqa: E731
        if not self.wait(lambda: fresh(), 10):
            raise AssertionError("no $metrics within 10 s")
        return fresh()[0]["commands"]["refused"]

    def stop(self):
        self.client.loop_stop()
        self.client.disconnect()


class RefusalTest(SystemTestCase):
    definition = staticmethod(one_node)
    broker_node = None

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.key = load_private_key(os.path.join(os.environ["XDG_CONFIG_HOME"], "psos",
                                                "admin.key"))
        cls.observer = Observer(cls.system.mosquitto.port)
        cls.addClassCleanup(cls.observer.stop)

    def request(self, verb="ping", args=None, **kwargs):
        return build_request(self.key, SYSTEM, "n1", verb, args or {}, **kwargs)[1]

    def assertRefused(self, code, action, message=None):
        """`action()` (which returns the reply, or None when it asked for none) is refused with
        `code`: in the reply (its message matching `message`), in $metrics (one more) and on
        $log; then a good request succeeds."""
        before = self.observer.refused().get(code, 0)
        logged = len(self.observer.log)
        reply = action()
        if reply is not None:
            self.assertEqual((reply["ok"], reply["error"]["code"]), (False, code), reply)
            if message:
                self.assertRegex(reply["error"]["message"], message)
        self.assertEqual(self.observer.refused().get(code, 0), before + 1)
        self.assertTrue(self.observer.wait(lambda: any(
            f"({code})" in r["msg"] and r["level"] == "warn"
            for r in self.observer.log[logged:])), self.observer.log[logged:])
        self.assertEqual(json.loads(self.ok("cmd", "n1", "ping"))["node"], "n1")

    def test_a_forged_signature(self):
        payload = json.loads(self.request())
        signature = bytearray(payload["sig"].encode())
        signature[10] = ord("A") if signature[10] != ord("A") else ord("B")
        payload["sig"] = signature.decode()
        self.assertRefused("bad_signature", lambda: self.observer.send(json.dumps(payload)),
                           r"^signature does not match the request text and its key$")

    def test_an_untrusted_key(self):
        def call():
            out = self.fleet("cmd", "n1", "ping", "--key", self.untrusted_key)
            self.assertEqual(out.returncode, 1, out.stderr)
            self.assertRegex(out.stderr, rf"^psos cmd: {SYSTEM}/n1 answered untrusted_key: key "
                                         r"ed25519:\S+ is not trusted by this node\n$")
        self.assertRefused("untrusted_key", call)

    def test_a_replayed_request(self):
        payload = self.request()
        self.assertTrue(self.observer.send(payload)["ok"])
        self.assertRefused("replayed", lambda: self.observer.send(payload),
                           r"^request was already received \(its nonce was seen\): a request is "
                           r"executed at most once$")

    def test_an_expired_request(self):
        issued = int(time.time() * 1000) - 200_000
        self.assertRefused("expired", lambda: self.observer.send(self.request(now_ms=issued)),
                           r"^request expired \d+ ms ago \(clock skew allowance 30000 ms\)$")

    def test_a_retained_request(self):
        try:
            self.assertRefused("retained", lambda: self.observer.send(
                self.request("service", {"op": "stop", "name": "tick"}), verb="service",
                retain=True),
                r"^request was published with the retain flag: retained requests are never "
                r"executed$")
        finally:  # an empty retained message clears it (the node refuses that one too)
            self.observer.send("", verb="service", retain=True, reply=False)
        self.assertEqual(json.loads(self.ok("call", "n1", "tick", "status"))["status"],
                         "running")

    def test_a_request_for_another_node(self):
        other = build_request(self.key, SYSTEM, "n2", "ping", {})[1]
        self.assertRefused("wrong_target", lambda: self.observer.send(other),
                           rf'^request is for node "{SYSTEM}/n2", this is "{SYSTEM}/n1"$')

    def test_a_payload_that_is_not_json(self):
        def send():
            reply = self.observer.send("not json")
            self.assertIsNone(reply["id"])
            return reply
        self.assertRefused("bad_request", send, r"^payload is not JSON: at line 1, column 2: ")

    def test_an_unsigned_request_from_mosquitto_pub_does_nothing(self):
        mosquitto_pub = shutil.which("mosquitto_pub") or "/usr/bin/mosquitto_pub"

        def publish():
            subprocess.run([mosquitto_pub, "-h", "127.0.0.1", "-p",
                            str(self.system.mosquitto.port), "-q", "1", "-t", CMD + "service",
                            "-m", '{"op": "stop", "name": "tick"}'], check=True, timeout=10)
        self.assertRefused("bad_request", publish)
        self.assertEqual(json.loads(self.ok("call", "n1", "tick", "status"))["status"],
                         "running")
        node_log = self.system.nodes["n1"]
        self.assertTrue(re.search(r"control: refused a service request: .* \(bad_request\)",
                                  node_log.text()), node_log.text())


if __name__ == "__main__":
    main()
