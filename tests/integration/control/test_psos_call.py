"""examples/python/psos_call.py against a real `psos run` node, and against a stand-in node (a paho client
here that answers requests as a node would): the request goes to psos/<system>/<node>/$cmd/call
with an MQTT 5 Response Topic and Correlation Data, is signed over b"psos-cmd-v1\\n" + the
request text, and the example's exit status is 0 for a result, 1 for an error, 3 for no answer.
(tests/unit/control checks the same requests with the C++ RequestGate.)

Run with /usr/bin/python3. CTest sets PSOS_BINARY.
"""

import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
EXAMPLE = os.path.join(SOURCE, "examples", "python", "psos_call.py")
sys.path.insert(0, os.path.join(HERE, "..", "broker"))
sys.path.insert(0, os.path.dirname(EXAMPLE))

from brokertest import BrokerTestCase, main, psos_binary, wait_until  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.ed25519 import (  # noqa: E402
    Ed25519PrivateKey, Ed25519PublicKey)
from cryptography.hazmat.primitives import serialization  # noqa: E402
from psos_call import public_key_text  # noqa: E402


class StandInNode:
    """Subscribes to psos/greenhouse/gw/$cmd/+ and answers each request with answer(request),
    a reply dict (None: stay silent), on the request's Response Topic with its Correlation Data.
    Publishes a retained $state "ready", as a node does, so that a node name alone is found."""

    def __init__(self, port, answer):
        self.requests = []  # (topic, payload, response topic, correlation data)
        self.answer = answer
        self.client = mqtt.Client(client_id="stand-in-gw", protocol=mqtt.MQTTv5)
        self.client.on_message = self.on_message
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *args: subscribed.set()
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self.client.subscribe("psos/greenhouse/gw/$cmd/+", qos=1)
        if not subscribed.wait(10):
            raise RuntimeError("the stand-in node's subscription was not acknowledged")
        self.client.publish("psos/greenhouse/gw/$state", "ready", qos=1, retain=True).wait_for_publish(10)

    def on_message(self, client, userdata, message):
        props = message.properties
        response = getattr(props, "ResponseTopic", None)
        correlation = getattr(props, "CorrelationData", None)
        self.requests.append((message.topic, message.payload, response, correlation))
        reply = self.answer(json.loads(json.loads(message.payload)["req"]))
        if reply is not None and response:
            out = Properties(PacketTypes.PUBLISH)
            out.CorrelationData = correlation
            client.publish(response, json.dumps(reply), qos=1, properties=out)

    def stop(self):
        self.client.loop_stop()
        self.client.disconnect()


class PsosCallTest(BrokerTestCase):
    def setUp(self):
        super().setUp()
        self.tmp = tempfile.mkdtemp(prefix="psos-call-")
        self.key = Ed25519PrivateKey.generate()
        self.key_file = os.path.join(self.tmp, "admin.key")
        with open(self.key_file, "wb") as f:
            f.write(self.key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
        self.broker = self.start_broker()

    def tearDown(self):
        shutil.rmtree(self.tmp, True)

    def node(self, answer):
        node = StandInNode(self.broker.port, answer)
        self.addCleanup(node.stop)
        return node

    def call(self, *args, timeout="5", broker=None):
        return subprocess.run(
            ["/usr/bin/python3", EXAMPLE, "--broker", broker or self.broker.url("mqtt"),
             "--key", self.key_file, "--timeout", timeout, *args],
            capture_output=True, text=True, timeout=60)

    def test_result_exit_0(self):
        node = self.node(lambda r: {"id": r["id"], "ok": True, "result": {"rows": 2}})
        out = self.call("greenhouse/gw", "archive", "stats", '{"since": 5}')
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout, '{"rows": 2}\n')

        self.assertEqual(len(node.requests), 1)
        topic, payload, response, correlation = node.requests[0]
        self.assertEqual(topic, "psos/greenhouse/gw/$cmd/call")
        self.assertTrue(response.startswith("psos-reply/"), response)
        outer = json.loads(payload)
        self.assertEqual(sorted(outer), ["req", "sig"])
        request = json.loads(outer["req"])
        self.assertEqual(correlation, request["id"].encode())
        self.assertEqual(request["args"], {"service": "archive", "function": "stats",
                                           "args": {"since": 5}})
        self.assertEqual(request["key"], public_key_text(self.key))
        self.assertEqual(request["expires"] - request["issued"], 60000)
        self.assertGreaterEqual(len(base64.b64decode(request["nonce"])), 16)
        public = Ed25519PublicKey.from_public_bytes(base64.b64decode(request["key"][8:]))
        public.verify(base64.b64decode(outer["sig"]),
                      b"psos-cmd-v1\n" + outer["req"].encode())  # raises when it does not verify

    def test_error_exit_1(self):
        self.node(lambda r: {"id": r["id"], "ok": False,
                             "error": {"code": "no_function",
                                       "message": "service 'archive' has no function 'x'"}})
        out = self.call("greenhouse/gw", "archive", "x")
        self.assertEqual(out.returncode, 1, out.stderr)
        self.assertEqual(out.stdout, "")
        self.assertEqual(out.stderr, "psos_call.py: greenhouse/gw answered no_function: "
                                     "service 'archive' has no function 'x'\n")

    def test_no_answer_exit_3(self):
        node = self.node(lambda r: None)
        out = self.call("greenhouse/gw", "archive", "stats", timeout="1")
        self.assertEqual(out.returncode, 3, out.stderr)
        self.assertEqual(out.stderr, "psos_call.py: no answer from greenhouse/gw within 1 s\n")
        self.assertEqual(len(node.requests), 1)

    def test_node_name_alone_is_found_by_its_state(self):
        self.node(lambda r: {"id": r["id"], "ok": True, "result": r["system"]})
        out = self.call("gw", "archive", "stats")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout, '"greenhouse"\n')
        out = self.call("e01", "archive", "stats", timeout="1")
        self.assertEqual(out.returncode, 3, out.stderr)
        self.assertEqual(out.stderr, "psos_call.py: no node 'e01' on the broker "
                                     "(no retained psos/+/e01/$state)\n")

    def test_a_real_node_trusting_the_key_answers(self):
        """The example against `psos run`: a node that trusts the example's key (--trust with
        its public key line) calls timer's fire and answers status; a key it does not trust is
        refused with untrusted_key."""
        trust = os.path.join(self.tmp, "trust")
        with open(trust, "w") as f:
            f.write(public_key_text(self.key) + " python-example\n")
        definition = os.path.join(self.tmp, "py.json")
        with open(definition, "w") as f:
            json.dump({"psos": 1, "system": "greenhouse", "nodes": {"gw": {
                "uplink": "lan", "services": [
                    {"name": "tick", "module": "timer", "every": "1h", "pub": "py/tick"}]}},
                "brokers": {"lan": {"url": self.broker.url("mqtt")}}}, f)
        env = dict(os.environ, XDG_CONFIG_HOME=os.path.join(self.tmp, "config"))
        node = self.processes.start([psos_binary(), "run", definition, "--trust", trust,
                                     "--data", os.path.join(self.tmp, "data")], env=env,
                                    cwd=self.tmp, stdout=subprocess.DEVNULL)
        ready = lambda: subprocess.run(  # noqa: E731
            [psos_binary(), "sub", "--broker", self.broker.url("mqtt"), "-t",
             "psos/greenhouse/gw/$state", "-C", "1", "-W", "2"],
            capture_output=True, text=True).stdout.strip() == "ready"
        self.assertTrue(wait_until(ready, 15), "the node did not become ready")
        out = self.call("gw", "tick", "fire")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(json.loads(out.stdout), {"count": 1, "topic": "py/tick",
                                                  "payload": json.loads(out.stdout)["payload"]})
        out = self.call("greenhouse/gw", "tick", "status")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(json.loads(out.stdout)["status"], "running")
        other = os.path.join(self.tmp, "other.key")
        with open(other, "wb") as f:
            f.write(Ed25519PrivateKey.generate().private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption()))
        out = subprocess.run(["/usr/bin/python3", EXAMPLE, "--broker", self.broker.url("mqtt"),
                              "--key", other, "--timeout", "5", "gw", "tick", "status"],
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 1, out.stderr)
        self.assertIn("answered untrusted_key", out.stderr)
        node.terminate()
        node.wait(10)

    def test_unreachable_broker_exit_3(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]  # nothing listens on it once closed
        out = self.call("greenhouse/gw", "archive", "stats", broker=f"mqtt://127.0.0.1:{port}")
        self.assertEqual(out.returncode, 3, out.stderr)
        self.assertTrue(out.stderr.startswith(
            f"psos_call.py: cannot connect to mqtt://127.0.0.1:{port}: "), out.stderr)


if __name__ == "__main__":
    main()
