#!/usr/bin/python3
"""Calls a function of a service on a psos node, as `psos call` does, in plain Python.

The example of docs/control.md: it builds a request, signs it with your Ed25519 key, publishes
it to psos/<system>/<node>/$cmd/call with an MQTT 5 Response Topic and Correlation Data, waits
for the reply and prints the result as JSON.

    psos_call.py [--broker URL] [--key FILE] [--timeout S] NODE SERVICE FUNCTION [ARGS_JSON]
    psos_call.py --print-request SYSTEM/NODE SERVICE FUNCTION [ARGS_JSON]

NODE is SYSTEM/NODE, or a node name alone when one system on the broker has a node of that
name (found from the retained psos/+/NODE/$state). --print-request prints the signed payload
and exits without connecting (the topic goes to stderr).

Exit status, as the psos fleet commands: 0 the node answered with a result, 1 the node answered
with an error (refused, failed), 2 usage (or no usable key), 3 no answer (offline, unreachable
or timed out).

Needs Debian's python3-paho-mqtt (1.6) and python3-cryptography, which belong to
/usr/bin/python3.
"""

import argparse
import base64
import json
import os
import secrets
import ssl
import sys
import threading
import time
import urllib.parse

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

SIGNED_PREFIX = b"psos-cmd-v1\n"
DEFAULT_LIFETIME_MS = 60_000


def default_key_path():
    """$XDG_CONFIG_HOME/psos/admin.key (an absolute XDG_CONFIG_HOME), else ~/.config/psos/."""
    config = os.environ.get("XDG_CONFIG_HOME", "")
    if not config.startswith("/"):
        config = os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(config, "psos", "admin.key")


def load_private_key(path):
    """The Ed25519 key in a PEM PKCS#8 file, as `psos keygen` writes it."""
    with open(path, "rb") as f:
        key = serialization.load_pem_private_key(f.read(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path}: not an Ed25519 key (make one with psos keygen)")
    return key


def public_key_text(key):
    """'ed25519:' + base64 of the 32 raw bytes of the public key."""
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "ed25519:" + base64.b64encode(raw).decode()


def build_request(key, system, node, verb, args, reply=None, now_ms=None,
                  lifetime_ms=DEFAULT_LIFETIME_MS, request_id=None):
    """The request id and the payload to publish to psos/<system>/<node>/$cmd/<verb>.

    The signature covers b"psos-cmd-v1\\n" + the UTF-8 bytes of the request text exactly as the
    payload carries it, so the text can be any JSON serialisation: nothing is canonicalised.
    """
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    request = {
        "v": 1,
        "id": request_id or secrets.token_hex(8),
        "system": system,
        "node": node,
        "verb": verb,
        "args": args,
        "issued": now_ms,
        "expires": now_ms + lifetime_ms,
        "nonce": base64.b64encode(secrets.token_bytes(16)).decode(),
        "key": public_key_text(key),
    }
    if reply is not None:
        request["reply"] = reply
    text = json.dumps(request, separators=(",", ":"))
    signature = key.sign(SIGNED_PREFIX + text.encode("utf-8"))
    payload = json.dumps({"req": text, "sig": base64.b64encode(signature).decode()})
    return request["id"], payload


def command_topic(system, node, verb):
    return f"psos/{system}/{node}/$cmd/{verb}"


class Usage(Exception):
    """Bad arguments: exit status 2."""


class NoAnswer(Exception):
    """The broker or the node did not answer: exit status 3."""


def connect(url, timeout):
    """A connected MQTT 5 paho client for mqtt://[user[:password]@]host[:port] or mqtts://."""
    import paho.mqtt.client as mqtt  # only needed when talking to a broker

    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        raise Usage(f"broker URL {url!r}: this example speaks mqtt:// and mqtts:// only")
    client = mqtt.Client(client_id="", protocol=mqtt.MQTTv5)
    if parts.username is not None:
        client.username_pw_set(urllib.parse.unquote(parts.username),
                               urllib.parse.unquote(parts.password or ""))
    if parts.scheme == "mqtts":
        client.tls_set(cert_reqs=ssl.CERT_REQUIRED)
    connected = threading.Event()
    client.on_connect = lambda c, userdata, flags, rc, properties=None: connected.set()
    port = parts.port or (8883 if parts.scheme == "mqtts" else 1883)
    try:
        client.connect(parts.hostname, port, keepalive=30)
    except OSError as error:
        raise NoAnswer(f"cannot connect to {url}: {error}")
    client.loop_start()
    if not connected.wait(timeout):
        client.loop_stop()
        raise NoAnswer(f"no CONNACK from {url} within {timeout:g} s")
    return client


def find_system(client, node, timeout):
    """The system of the only node named `node` that has a retained $state on the broker."""
    systems = set()
    client.on_message = lambda c, userdata, message: systems.add(message.topic.split("/")[1])
    client.subscribe(f"psos/+/{node}/$state", qos=1)
    time.sleep(min(timeout, 1.0))  # retained messages arrive right after the subscription
    client.unsubscribe(f"psos/+/{node}/$state")
    if not systems:
        raise NoAnswer(f"no node {node!r} on the broker (no retained psos/+/{node}/$state)")
    if len(systems) > 1:
        raise Usage(f"several systems have a node {node!r} ({', '.join(sorted(systems))}): "
                    f"name one as SYSTEM/{node}")
    return systems.pop()


def call(client, key, system, node, verb, args, timeout):
    """Publishes a signed request and returns the node's reply as a dict."""
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    reply_topic = f"psos-reply/{secrets.token_hex(8)}"
    replies = []
    answered = threading.Event()

    def on_message(c, userdata, message):
        replies.append(message)
        answered.set()

    client.on_message = on_message
    client.subscribe(reply_topic, qos=1)
    request_id, payload = build_request(key, system, node, verb, args)
    properties = Properties(PacketTypes.PUBLISH)
    properties.ResponseTopic = reply_topic
    properties.CorrelationData = request_id.encode()
    client.publish(command_topic(system, node, verb), payload, qos=1, properties=properties)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not answered.wait(max(0.0, deadline - time.monotonic())):
            break
        answered.clear()
        for message in replies:
            try:
                reply = json.loads(message.payload)
            except ValueError:
                continue
            if isinstance(reply, dict) and reply.get("id") in (request_id, None):
                return reply
        replies.clear()
    raise NoAnswer(f"no answer from {system}/{node} within {timeout:g} s")


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="psos_call.py", description="Call a function of a service on a psos node.")
    parser.add_argument("--broker", default=os.environ.get("PSOS_BROKER",
                                                           "mqtt://127.0.0.1:1883"))
    parser.add_argument("--key", default=os.environ.get("PSOS_KEY") or default_key_path(),
                        help="private key file (default: $PSOS_KEY, else the user's admin.key)")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds (default 10)")
    parser.add_argument("--print-request", action="store_true",
                        help="print the signed payload and exit without connecting")
    parser.add_argument("node", metavar="NODE", help="SYSTEM/NODE, or NODE")
    parser.add_argument("service", metavar="SERVICE")
    parser.add_argument("function", metavar="FUNCTION")
    parser.add_argument("args", metavar="ARGS_JSON", nargs="?", default="{}",
                        help="the function's arguments as a JSON object (default {})")
    options = parser.parse_args(argv)

    try:
        try:
            args = json.loads(options.args)
        except ValueError as error:
            raise Usage(f"ARGS_JSON is not JSON: {error}")
        if not isinstance(args, dict):
            raise Usage("ARGS_JSON must be a JSON object, like {\"limit\": 10}")
        try:
            key = load_private_key(options.key)
        except (OSError, ValueError) as error:
            raise Usage(f"cannot use the key {options.key}: {error}")
        system, _, node = options.node.rpartition("/")
        call_args = {"service": options.service, "function": options.function, "args": args}

        if options.print_request:
            if not system:
                raise Usage("--print-request needs SYSTEM/NODE (it does not ask the broker)")
            _, payload = build_request(key, system, node, "call", call_args)
            print(f"topic: {command_topic(system, node, 'call')}", file=sys.stderr)
            print(payload)
            return 0

        client = connect(options.broker, options.timeout)
        try:
            if not system:
                system = find_system(client, node, options.timeout)
            reply = call(client, key, system, node, "call", call_args, options.timeout)
        finally:
            client.loop_stop()
            client.disconnect()
    except Usage as error:
        print(f"psos_call.py: {error}", file=sys.stderr)
        return 2
    except NoAnswer as error:
        print(f"psos_call.py: {error}", file=sys.stderr)
        return 3

    if reply.get("ok") is True:
        print(json.dumps(reply.get("result")))
        return 0
    error = reply.get("error") or {}
    print(f"psos_call.py: {system}/{node} answered {error.get('code', 'error')}: "
          f"{error.get('message', '(no message)')}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
