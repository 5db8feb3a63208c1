"""Protocol edge cases against `psos broker`, through a raw client on a plain socket: each bad
packet ends the offending connection (MQTT 5: DISCONNECT with the spec's reason code first),
while a bystander subscriber keeps receiving and the broker keeps running."""

import struct
import subprocess

from brokertest import (AUTH, CONNACK, CONNECT, DISCONNECT, MAXIMUM_PACKET_SIZE, PINGREQ, PUBACK,
                        BrokerTestCase, RawClient, connect_packet, encode_properties, main,
                        mqtt_string, packet, publish_packet, subscribe_packet, varint)

AUTHENTICATION_METHOD = 0x15

PROTOCOL_ERROR, MALFORMED, TOPIC_NAME_INVALID, PACKET_TOO_LARGE = 0x82, 0x81, 0x90, 0x95


class ProtocolEdgeCases(BrokerTestCase):
    MAX_PACKET = 4096

    def setUp(self):
        super().setUp()
        self.broker = self.start_broker(extra=["--max-packet-size", str(self.MAX_PACKET)])
        self.bystander = RawClient(self.broker.port)
        self.addCleanup(self.bystander.close)
        self.bystander.connect("bystander")
        self.assertEqual(self.bystander.subscribe("watch/#", qos=1).reasons, [1])

    def tearDown(self):
        # Whatever happened to the offender, the broker runs and others are served.
        self.assertBrokerAlive(self.broker)
        publisher = RawClient(self.broker.port)
        try:
            publisher.connect("after")
            publisher.publish("watch/after", "still here", qos=1, packet_id=7)
            self.assertEqual(publisher.expect(PUBACK).reason, 0)
        finally:
            publisher.close()
        got = self.bystander.receive_publishes(1)
        self.assertEqual([(p.topic, p.payload) for p in got], [("watch/after", b"still here")])
        super().tearDown()

    def offender(self, version=5, client_id="offender"):
        client = RawClient(self.broker.port, version=version)
        self.addCleanup(client.close)
        if client_id is not None:
            client.connect(client_id)
        return client

    def assertDisconnected(self, client, reason):
        """v5: the connection ends with DISCONNECT `reason`; v3.1.1: it just ends."""
        packets = client.expect_closed()
        if client.version == 5:
            self.assertTrue(packets, "closed without DISCONNECT")
            self.assertEqual(packets[-1].kind, DISCONNECT, packets)
            self.assertEqual(hex(packets[-1].reason), hex(reason), packets[-1].props)
        else:
            self.assertEqual([p for p in packets if p.kind == DISCONNECT], [])

    def test_first_packet_not_connect_closes(self):
        for first in (packet(PINGREQ, 0, b""), publish_packet("watch/x", "no", version=4),
                      subscribe_packet(1, [("watch/#", 0)], version=4)):
            client = self.offender(client_id=None)
            client.send(first)
            packets = client.expect_closed()
            self.assertEqual([p for p in packets if p.kind == CONNACK], [])
        self.assertTrue(self.bystander.no_publish(0.2))

    def test_second_connect_v5(self):
        client = self.offender()
        client.send(connect_packet("offender"))
        self.assertDisconnected(client, PROTOCOL_ERROR)

    def test_second_connect_v3(self):
        client = self.offender(version=4)
        client.send(connect_packet("offender", version=4))
        self.assertDisconnected(client, PROTOCOL_ERROR)

    def test_second_connect_with_unsupported_version(self):
        # The decoder's 0x84 (Unsupported Protocol Version) is a CONNACK code: the DISCONNECT
        # says Protocol Error (found alongside the fuzz finding below).
        client = self.offender()
        body = mqtt_string("MQTT") + bytes([6, 2]) + struct.pack("!H", 60)
        client.send(packet(CONNECT, 0, body + varint(0) + mqtt_string("offender")))
        self.assertDisconnected(client, PROTOCOL_ERROR)

    def test_auth_without_authentication_method(self):
        # fuzz/fuzz_router_session: the broker answered DISCONNECT 0x8C (Bad authentication
        # method), a reason code a DISCONNECT may not carry.
        client = self.offender()
        client.send(packet(AUTH, 0, b""))
        self.assertDisconnected(client, PROTOCOL_ERROR)

    def test_connect_with_authentication_method(self):
        # Enhanced authentication is not supported: CONNACK 0x8C, then close (spec 4.12).
        client = self.offender(client_id=None)
        client.send(connect_packet("scram", props=[(AUTHENTICATION_METHOD, "SCRAM-SHA-1")]))
        packets = client.expect_closed()
        self.assertEqual([(p.kind, p.reason) for p in packets], [(CONNACK, 0x8C)])

    def test_wildcard_in_publish_topic(self):
        for version in (5, 4):
            for topic in ("watch/+", "watch/#"):
                client = self.offender(version)
                client.publish(topic, "wild", qos=0)
                self.assertDisconnected(client, TOPIC_NAME_INVALID)
        self.assertTrue(self.bystander.no_publish(0.2))

    def test_empty_topic_without_alias(self):
        client = self.offender()
        client.publish("", "nowhere")
        self.assertDisconnected(client, PROTOCOL_ERROR)

    def test_qos_3(self):
        for version in (5, 4):
            client = self.offender(version)
            body = mqtt_string("watch/q3") + struct.pack("!H", 1)
            if version == 5:
                body += b"\x00"
            client.send(packet(3, 0x06, body + b"bad qos"))
            self.assertDisconnected(client, MALFORMED)
        self.assertTrue(self.bystander.no_publish(0.2))

    def test_packet_id_0(self):
        for version in (5, 4):
            client = self.offender(version)
            client.publish("watch/id0", "zero", qos=1, packet_id=0)
            self.assertDisconnected(client, PROTOCOL_ERROR)
            client = self.offender(version)
            client.send(subscribe_packet(0, [("a/b", 0)], version))
            self.assertDisconnected(client, PROTOCOL_ERROR)
        self.assertTrue(self.bystander.no_publish(0.2))

    def test_oversize_packet(self):
        for version in (5, 4):
            client = self.offender(version)
            client.publish("watch/big", b"x" * (self.MAX_PACKET + 1), qos=0)
            self.assertDisconnected(client, PACKET_TOO_LARGE)
        self.assertTrue(self.bystander.no_publish(0.2))

    def test_oversize_packet_announced_by_header_only(self):
        # The broker must refuse on the fixed header, without waiting for the body.
        client = self.offender()
        client.send(bytes([0x30]) + varint(10 * 1024 * 1024) + mqtt_string("watch/huge"))
        self.assertDisconnected(client, PACKET_TOO_LARGE)

    def test_connack_announces_maximum_packet_size(self):
        client = RawClient(self.broker.port)
        self.addCleanup(client.close)
        ack = client.connect("sizes")
        self.assertEqual(ack.prop(MAXIMUM_PACKET_SIZE), self.MAX_PACKET)
        client.disconnect()

    def test_unknown_property(self):
        client = self.offender()
        # Property 0x7F does not exist.
        body = mqtt_string("watch/prop") + varint(2) + bytes([0x7F, 0x00]) + b"payload"
        client.send(packet(3, 0, body))
        self.assertDisconnected(client, MALFORMED)

    def test_unknown_property_in_connect(self):
        client = self.offender(client_id=None)
        body = mqtt_string("MQTT") + bytes([5, 2]) + struct.pack("!H", 60)
        body += varint(2) + bytes([0x7F, 0x00]) + mqtt_string("c")
        client.send(packet(CONNECT, 0, body))
        packets = client.expect_closed()
        # A CONNACK refusing with 0x81 or a bare close are both allowed (spec 4.13.1).
        self.assertTrue(all(p.kind == CONNACK and p.reason == MALFORMED for p in packets), packets)

    def test_property_not_allowed_in_publish(self):
        client = self.offender()
        # Session Expiry Interval belongs to CONNECT, CONNACK and DISCONNECT only.
        props = encode_properties([(0x11, 10)])
        client.send(packet(3, 0, mqtt_string("watch/p") + props + b"x"))
        self.assertDisconnected(client, MALFORMED)

    def test_reserved_flags(self):
        client = self.offender()
        body = struct.pack("!H", 1) + b"\x00" + mqtt_string("a/b") + b"\x00"
        client.send(packet(8, 0, body))  # SUBSCRIBE must have flags 0b0010
        self.assertDisconnected(client, MALFORMED)

    def test_unsupported_protocol_versions(self):
        # Spec 3.1.2-2 (3.1.1): CONNACK 0x01 (unacceptable protocol version), then close.
        for level, name in ((3, "MQIsdp"), (6, "MQTT"), (2, "MQTT")):
            client = self.offender(version=4, client_id=None)
            body = mqtt_string(name) + bytes([level, 2]) + struct.pack("!H", 60)
            client.send(packet(CONNECT, 0, body + mqtt_string("old")))
            packets = client.expect_closed()
            self.assertEqual([(p.kind, p.reason) for p in packets], [(CONNACK, 1)], (level, name))
        proc = subprocess.run(["mosquitto_pub", "-p", str(self.broker.port), "-V", "mqttv31",
                               "-t", "watch/old", "-m", "x"], capture_output=True, timeout=10)
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn(b"protocol version", proc.stderr)

    def test_will_published_after_protocol_error(self):
        for version in (5, 4):
            client = RawClient(self.broker.port, version)
            self.addCleanup(client.close)
            client.connect("willing", will={"topic": "watch/will", "payload": "v%d" % version})
            client.publish("watch/#", "wild")
            client.expect_closed()
            got = self.bystander.receive_publishes(1)
            self.assertEqual([(p.topic, p.payload) for p in got],
                             [("watch/will", b"v%d" % version)])

    def test_garbage(self):
        for junk in (b"\xff" * 64, b"\x10\xff\xff\xff\xff\x7f", b"\x10\x04MQTT"):
            client = self.offender(client_id=None)
            client.send(junk)
            client.expect_closed()

    def test_topic_alias_above_maximum(self):
        client = self.offender()
        client.publish("watch/alias", "x", props=[(0x23, 60000)])
        self.assertDisconnected(client, 0x94)


if __name__ == "__main__":
    main()
