"""QoS flows and session rules of `psos broker` that ready-made clients hide, driven through the
raw client: the client's Receive Maximum, resending in-flight messages with DUP after a
reconnect, QoS 2 duplicate suppression, the client's Maximum Packet Size, topic aliases toward
the client, assigned client identifiers, limits (connections, queued messages), $SYS."""

import time

from brokertest import (DISCONNECT, PINGREQ, PUBACK, PUBCOMP, PUBLISH, PUBREC, PUBREL,
                        BrokerTestCase, RawClient, ack_packet, encode_properties, main, packet,
                        subscribe_packet)

RECEIVE_MAXIMUM, ASSIGNED_CLIENT_ID, TOPIC_ALIAS_MAXIMUM, TOPIC_ALIAS = 0x21, 0x12, 0x22, 0x23
MAXIMUM_PACKET_SIZE, SESSION_EXPIRY, MESSAGE_EXPIRY = 0x27, 0x11, 0x02


class Delivery(BrokerTestCase):
    extra = ()

    def setUp(self):
        super().setUp()
        self.broker = self.start_broker(extra=self.extra)

    def raw(self, client_id=None, version=5, **connect):
        client = RawClient(self.broker.port, version)
        self.addCleanup(client.close)
        if client_id is not None:
            client.connect(client_id, **connect)
        return client

    def publisher(self):
        return self.raw("publisher")

    def publish_acked(self, client, topic, payload, qos=1, packet_id=1, **kwargs):
        client.publish(topic, payload, qos=qos, packet_id=packet_id, **kwargs)
        if qos == 1:
            return client.expect(PUBACK)
        rec = client.expect(PUBREC)
        client.send(ack_packet(PUBREL, packet_id))
        client.expect(PUBCOMP)
        return rec


class Flows(Delivery):
    def test_client_receive_maximum(self):
        sub = self.raw("slow", props=[(RECEIVE_MAXIMUM, 2)])
        sub.subscribe("rm/#", qos=1)
        pub = self.publisher()
        for i in range(5):
            self.publish_acked(pub, "rm/t", str(i), packet_id=i + 1)
        first = sub.receive_publishes(5, timeout=1, ack=False)
        self.assertEqual([p.payload for p in first], [b"0", b"1"], "window of 2")
        sub.send(ack_packet(PUBACK, first[0].packet_id))
        third = sub.receive_publishes(5, timeout=1, ack=False)
        self.assertEqual([p.payload for p in third], [b"2"])
        for p in first[1:] + third:
            sub.send(ack_packet(PUBACK, p.packet_id))
        rest = sub.receive_publishes(2, timeout=2)
        self.assertEqual([p.payload for p in rest], [b"3", b"4"])

    def test_message_expiring_in_a_connected_sessions_queue(self):
        # Spec 3.3.2.3.3: a message whose expiry passes before onward delivery starts is not
        # sent, also to a connected subscriber whose window is full.
        sub = self.raw("slow", props=[(RECEIVE_MAXIMUM, 1)])
        sub.subscribe("exp/#", qos=1)
        pub = self.publisher()
        self.publish_acked(pub, "exp/t", "first", packet_id=1)
        self.publish_acked(pub, "exp/t", "expires", packet_id=2, props=[(MESSAGE_EXPIRY, 1)])
        self.publish_acked(pub, "exp/t", "last", packet_id=3, props=[(MESSAGE_EXPIRY, 60)])
        first = sub.receive_publishes(1, ack=False)
        time.sleep(2.1)
        sub.send(ack_packet(PUBACK, first[0].packet_id))
        rest = sub.receive_publishes(2, timeout=1)
        self.assertEqual([p.payload for p in first + rest], [b"first", b"last"])
        self.assertLessEqual(rest[0].prop(MESSAGE_EXPIRY), 58)

    def test_unacknowledged_resent_with_dup_after_reconnect(self):
        for version in (5, 4):
            expiry = [(SESSION_EXPIRY, 60)] if version == 5 else []
            cid = "resend-%d" % version
            sub = self.raw(cid, version, clean=False, props=expiry)
            sub.subscribe("dup/%d" % version, qos=2)
            pub = self.publisher() if version == 5 else self.raw("publisher-2")
            self.publish_acked(pub, "dup/%d" % version, "q1", qos=1)
            self.publish_acked(pub, "dup/%d" % version, "q2", qos=2, packet_id=2)
            got = sub.receive_publishes(2, ack=False)
            self.assertEqual([(p.payload, p.dup) for p in got], [(b"q1", False), (b"q2", False)])
            sub.close()  # no acknowledgements, no DISCONNECT
            again = self.raw(cid, version, clean=False, props=expiry)
            resent = again.receive_publishes(2, ack=False)
            self.assertEqual([(p.payload, p.dup, p.packet_id) for p in resent],
                             [(b"q1", True, got[0].packet_id), (b"q2", True, got[1].packet_id)])
            # Finish the QoS 2 flow halfway, drop again: PUBREL is what comes back.
            again.send(ack_packet(PUBACK, resent[0].packet_id))
            again.send(ack_packet(PUBREC, resent[1].packet_id))
            self.assertEqual(again.expect(PUBREL).packet_id, resent[1].packet_id)
            again.close()
            third = self.raw(cid, version, clean=False, props=expiry)
            rel = third.expect(PUBREL)
            self.assertEqual(rel.packet_id, resent[1].packet_id)
            third.send(ack_packet(PUBCOMP, rel.packet_id))
            self.assertTrue(third.no_publish(0.3))

    def test_qos2_duplicate_publish_delivered_once(self):
        sub = self.raw("sub")
        sub.subscribe("q2/#", qos=2)
        pub = self.publisher()
        pub.publish("q2/t", "once", qos=2, packet_id=9)
        self.assertEqual(pub.expect(PUBREC).reason, 0)
        pub.publish("q2/t", "once", qos=2, packet_id=9)  # resent before PUBREL
        self.assertEqual(pub.expect(PUBREC).reason, 0)
        pub.send(ack_packet(PUBREL, 9))
        self.assertEqual(pub.expect(PUBCOMP).reason, 0)
        # After PUBCOMP the id is free: the same id is a new message.
        self.publish_acked(pub, "q2/t", "again", qos=2, packet_id=9)
        got = sub.receive_publishes(3, timeout=1.5)
        self.assertEqual([p.payload for p in got], [b"once", b"again"])

    def test_pubrel_for_unknown_id(self):
        pub = self.publisher()
        pub.send(ack_packet(PUBREL, 77))
        self.assertEqual(pub.expect(PUBCOMP).reason, 0x92)
        v3 = self.raw("v3", 4)
        v3.send(ack_packet(PUBREL, 77, version=4))
        self.assertEqual(v3.expect(PUBCOMP).packet_id, 77)

    def test_puback_no_matching_subscribers(self):
        pub = self.publisher()
        self.assertEqual(self.publish_acked(pub, "nobody/listens", "x").reason, 0x10)
        self.assertEqual(self.publish_acked(pub, "nobody/listens", "x", qos=2).reason, 0x10)

    def test_client_maximum_packet_size(self):
        sub = self.raw("small", props=[(MAXIMUM_PACKET_SIZE, 200)])
        sub.subscribe("size/#", qos=1)
        pub = self.publisher()
        self.publish_acked(pub, "size/t", "x" * 500, packet_id=1)  # too large for "small"
        self.publish_acked(pub, "size/t", "fits", packet_id=2)
        pub.publish("size/t", "z" * 500, qos=0)
        self.publish_acked(pub, "size/t", "fits too", packet_id=3)
        got = sub.receive_publishes(3, timeout=1.5)
        self.assertEqual([p.payload for p in got], [b"fits", b"fits too"])

    def test_topic_aliases_toward_client(self):
        sub = self.raw("aliased", props=[(TOPIC_ALIAS_MAXIMUM, 2)])
        sub.subscribe("alias/#", qos=0)
        pub = self.publisher()
        for topic in ("alias/a", "alias/a", "alias/b", "alias/c", "alias/a", "alias/c"):
            pub.publish(topic, topic, qos=0)
        got = sub.receive_publishes(6)
        aliases = {}
        for p in got:
            alias = p.prop(TOPIC_ALIAS)
            if alias is not None:
                self.assertTrue(1 <= alias <= 2, alias)
                if p.topic:
                    aliases[alias] = p.topic
                else:
                    p.topic = aliases[alias]
            self.assertEqual(p.topic, p.payload.decode())
        self.assertEqual(got[1].topic, "alias/a")
        self.assertIsNotNone(got[1].prop(TOPIC_ALIAS), "the second message used the alias")

    def test_no_aliases_without_topic_alias_maximum(self):
        sub = self.raw("plain")
        sub.subscribe("alias/#")
        pub = self.publisher()
        for _ in range(3):
            pub.publish("alias/a", "x")
        got = sub.receive_publishes(3)
        self.assertTrue(all(p.topic == "alias/a" and p.prop(TOPIC_ALIAS) is None for p in got))


class Sessions(Delivery):
    extra = ("--sys-interval", "1")

    def test_assigned_client_id(self):
        client = self.raw()
        ack = client.connect("")
        assigned = ack.prop(ASSIGNED_CLIENT_ID)
        self.assertTrue(assigned)
        other = self.raw()
        self.assertNotEqual(other.connect("").prop(ASSIGNED_CLIENT_ID), assigned)
        v3 = self.raw(version=4)
        self.assertEqual(v3.connect("").reason, 0)

    def test_empty_client_id_needs_clean_session_in_v3(self):
        v3 = self.raw(version=4)
        self.assertEqual(v3.connect("", clean=False, expect_success=False).reason, 2)
        v3.expect_closed()

    def test_takeover_raw(self):
        for version in (5, 4):
            first = self.raw("twin", version)
            second = self.raw("twin", version)
            packets = first.expect_closed()
            if version == 5:
                self.assertEqual([(p.kind, p.reason) for p in packets], [(DISCONNECT, 0x8E)])
            else:
                self.assertEqual(packets, [])
            second.subscribe("twin/t", qos=1)
            self.publish_acked(self.raw("p%d" % version), "twin/t", "hi")
            self.assertEqual(len(second.receive_publishes(1)), 1)

    def test_shared_subscription_with_no_local_is_a_protocol_error(self):
        client = self.raw("sharer")
        client.send(subscribe_packet(1, [("$share/g/t", 0x04 | 1)]))  # No Local
        packets = client.expect_closed()
        self.assertEqual([(p.kind, p.reason) for p in packets], [(DISCONNECT, 0x82)])

    def test_session_expiry(self):
        expiry = [(SESSION_EXPIRY, 1)]
        c = self.raw("brief", props=expiry)
        c.subscribe("x", qos=1)
        c.disconnect()
        time.sleep(1.6)
        self.assertFalse(self.raw().connect("brief", clean=False, props=expiry).session_present)

    def test_disconnect_changes_session_expiry(self):
        c = self.raw("changes", props=[(SESSION_EXPIRY, 60)])
        c.subscribe("x", qos=1)
        c.send(packet(DISCONNECT, 0, bytes([0]) + encode_properties([(SESSION_EXPIRY, 0)])))
        c.expect_closed()
        time.sleep(0.1)
        again = self.raw().connect("changes", clean=False, props=[(SESSION_EXPIRY, 60)])
        self.assertFalse(again.session_present, "expiry 0 in DISCONNECT ends the session")
        # A session that was to end with its connection cannot be extended (spec 3.14.2.2.2).
        c = self.raw("short")
        c.send(packet(DISCONNECT, 0, bytes([0]) + encode_properties([(SESSION_EXPIRY, 10)])))
        self.assertEqual([(p.kind, p.reason) for p in c.expect_closed()], [(DISCONNECT, 0x82)])

    def test_sys_topics(self):
        everything = self.raw("everything")
        everything.subscribe("#", qos=0)
        sys = self.raw("sys")
        sys.subscribe("$SYS/broker/uptime", qos=0)
        got = sys.receive_publishes(1, timeout=3)
        self.assertEqual(len(got), 1)
        self.assertRegex(got[0].payload.decode(), r"^\d+ seconds$")
        self.assertTrue(everything.no_publish(0.2), "# matched a $SYS topic")
        # Clients may not publish to $SYS.
        pub = self.publisher()
        self.assertEqual(self.publish_acked(pub, "$SYS/broker/uptime", "fake").reason, 0x87)


class SlowConsumer(Delivery):
    def rss_kib(self):
        with open("/proc/%d/status" % self.broker.proc.pid) as f:
            return next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))

    def test_stuck_subscriber_pauses_its_publishers_only(self):
        stuck = self.raw("stuck")
        stuck.subscribe("flood", qos=1)  # and never reads again
        before = self.rss_kib()
        for qos in (0, 1):
            flooder = self.raw("flooder-%d" % qos)
            flooder.sock.settimeout(2)
            try:  # 120 MB: far more than socket buffers hold
                for i in range(2000):
                    flooder.publish("flood", b"x" * 60000, qos=qos, packet_id=i % 60000 + 1)
                self.fail("the broker kept reading a publisher whose subscriber is stuck")
            except OSError:
                pass  # backpressure: the broker stopped reading the flooder
        # Memory stays bounded (limits are a few MB per session, not the 240 MB offered).
        self.assertLess(self.rss_kib() - before, 64 * 1024)
        # Others are not held up.
        sub = self.raw("other-sub")
        sub.subscribe("other", qos=1)
        pub = self.publisher()
        self.assertEqual(self.publish_acked(pub, "other", "unaffected").reason, 0)
        self.assertEqual([p.payload for p in sub.receive_publishes(1)], [b"unaffected"])


class Backpressure(Delivery):
    """Clients that publish to what they (or each other) subscribe to, and fall behind: the
    broker pauses publishers feeding a congested session, but must never pause one that would
    thereby stop reading the PUBACKs that drain it."""
    QUEUED = 10  # a session is congested past QUEUED / 2 messages behind its window
    extra = ("--max-queued", str(QUEUED))

    def slow(self, client_id):
        return self.raw(client_id, props=[(RECEIVE_MAXIMUM, 1)])

    def exchange(self, clients, publishes, timeout=5.0):
        """Reads every client round robin, acknowledging what it receives, until each got
        `publishes` PUBLISH packets and a PUBACK for each of its own; returns (payloads
        received, PUBACK reasons) per client."""
        got = {c: [] for c in clients}
        acks = {c: [] for c in clients}
        deadline = time.monotonic() + timeout
        while any(len(got[c]) < publishes or len(acks[c]) < publishes for c in clients):
            if time.monotonic() > deadline:
                self.fail("stalled: %r" % [(len(got[c]), len(acks[c])) for c in clients])
            for c in clients:
                pkt = c.read_packet(0.02)
                if pkt is None:
                    continue
                if pkt.kind == PUBLISH:
                    got[c].append(pkt.payload)
                    c.send(ack_packet(PUBACK, pkt.packet_id))
                elif pkt.kind == PUBACK:
                    acks[c].append(pkt.reason)
        return [(got[c], acks[c]) for c in clients]

    def test_publisher_subscribed_to_its_own_topic(self):
        loop = self.slow("loop")
        loop.subscribe("loop/t", qos=1)
        count = self.QUEUED  # 1 in flight + 9 queued: congested, never over the limit
        for i in range(count):
            loop.publish("loop/t", str(i), qos=1, packet_id=i + 1)
        [(got, acks)] = self.exchange([loop], count)
        self.assertEqual(got, [str(i).encode() for i in range(count)])
        self.assertEqual(acks, [0] * count)

    def test_two_clients_feeding_each_other(self):
        a, b = self.slow("a"), self.slow("b")
        a.subscribe("to/a", qos=1)
        b.subscribe("to/b", qos=1)
        count = self.QUEUED
        for i in range(count):
            b.publish("to/a", "b%d" % i, qos=1, packet_id=i + 1)
        for i in range(count):
            a.publish("to/b", "a%d" % i, qos=1, packet_id=i + 1)
        (a_got, a_acks), (b_got, b_acks) = self.exchange([a, b], count)
        self.assertEqual(a_got, [b"b%d" % i for i in range(count)])
        self.assertEqual(b_got, [b"a%d" % i for i in range(count)])
        self.assertEqual(a_acks + b_acks, [0] * (2 * count))

    def test_paused_publisher_is_not_timed_out_by_keep_alive(self):
        # A publisher paused longer than 1.5 x its keep alive is not disconnected for silence:
        # it spoke, the broker did not listen.
        stuck = self.slow("stuck")
        stuck.subscribe("stuck/t", qos=1)  # and never acknowledges
        pub = self.raw("pub", keep_alive=1)
        for i in range(self.QUEUED):
            pub.publish("stuck/t", str(i), qos=1, packet_id=i + 1)
        acks = []
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            pub.send(packet(PINGREQ, 0, b""))
            pkt = pub.read_packet(0.5)  # raises Closed if the broker hung up
            if pkt is not None and pkt.kind == PUBACK:
                acks.append(pkt.reason)
        self.assertLess(len(acks), self.QUEUED, "the publisher was never paused")
        got = stuck.receive_publishes(self.QUEUED)
        self.assertEqual(len(got), self.QUEUED)
        while len(acks) < self.QUEUED:
            pkt = pub.read_packet(5)
            self.assertIsNotNone(pkt, "the publisher was not resumed")
            if pkt.kind == PUBACK:
                acks.append(pkt.reason)
        self.assertEqual(acks, [0] * self.QUEUED)


class Limits(Delivery):
    extra = ("--max-connections", "3", "--max-queued", "5")

    def test_connection_limit(self):
        clients = [self.raw("c%d" % i) for i in range(3)]
        refused = self.raw()
        self.assertEqual(refused.connect("c3", expect_success=False).reason, 0x89)
        refused.expect_closed()
        v3 = self.raw(version=4)
        self.assertEqual(v3.connect("c4", expect_success=False).reason, 3)  # server unavailable
        clients[0].disconnect()
        time.sleep(0.2)
        self.assertEqual(self.raw().connect("c5").reason, 0)

    def test_offline_queue_full(self):
        sub = self.raw("away", clean=True, props=[(SESSION_EXPIRY, 60)])
        sub.subscribe("q/#", qos=1)
        sub.disconnect()
        time.sleep(0.1)
        pub = self.publisher()
        reasons = [self.publish_acked(pub, "q/t", str(i), packet_id=i + 1).reason
                   for i in range(8)]
        # The newest are refused with Quota exceeded; the queued ones are kept.
        self.assertEqual(reasons, [0] * 5 + [0x97] * 3)
        pub.disconnect()
        back = self.raw("away", clean=False, props=[(SESSION_EXPIRY, 60)])
        got = back.receive_publishes(8, timeout=1.5)
        self.assertEqual([p.payload for p in got], [b"0", b"1", b"2", b"3", b"4"])


if __name__ == "__main__":
    main()
