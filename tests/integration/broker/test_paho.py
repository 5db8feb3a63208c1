"""Interoperability: python3-paho-mqtt 1.6 (MQTT 3.1.1 and 5) against `psos broker`: QoS 0/1/2
with counted messages, retained messages, wills, persistent sessions, shared subscriptions,
session takeover, and the MQTT 5 features (properties, expiry, aliases, subscription
identifiers, No Local, Retain Handling, Retain As Published, will delay)."""

import unittest
import time

from brokertest import BrokerTestCase, main, wait_until
from paho_client import (V5, V311, Client, disconnect_reason, publish_properties,
                         subscribe_options, subscribe_properties, will_properties)

SESSION_TAKEN_OVER = 0x8E


class PahoTestCase(BrokerTestCase):
    version = V5

    def setUp(self):
        super().setUp()
        self.broker = self.start_broker()

    def client(self, client_id, version=None, **kwargs):
        c = Client(self.broker.port, client_id, version or self.version, **kwargs)
        self.addCleanup(c.drop)
        return c

    def connected(self, client_id, **kwargs):
        c = self.client(client_id)
        c.connect(**kwargs)
        return c

    def payloads(self, messages):
        return [m.payload.decode() for m in messages]

    def persistent(self, client_id, fresh=False):
        """Connects with a session that outlives the connection (v3.1.1: clean session 0; v5:
        session expiry 300 s, clean start when `fresh`); returns (client, session present)."""
        c = self.client(client_id)
        if self.version == V5:
            ack = c.connect(clean=fresh, expiry=300)
        else:
            ack = c.connect(clean=False)
        return c, ack[0]


class Common:
    """Tests that run for both protocol versions (mixed into the classes below)."""

    def test_qos_delivery_counts(self):
        n = 100
        sub = self.connected("sub")
        for qos in (0, 1, 2):
            self.assertEqual(sub.subscribe("count/%d" % qos, qos), [qos])
        pub = self.connected("pub")
        for qos in (0, 1, 2):
            for i in range(n):
                pub.publish("count/%d" % qos, str(i), qos)
        for qos in (0, 1, 2):
            got = sub.wait_messages(n, topic="count/%d" % qos)
            self.assertEqual(self.payloads(got), [str(i) for i in range(n)], "QoS %d" % qos)
            self.assertTrue(all(m.qos == qos for m in got))
        self.assertEqual(sub.quiet_for(0.3), [], "duplicates")

    def test_granted_qos_caps_delivery(self):
        sub = self.connected("sub")
        self.assertEqual(sub.subscribe("cap/#", 1), [1])
        pub = self.connected("pub")
        pub.publish("cap/a", "two", 2)
        pub.publish("cap/b", "zero", 0)
        got = sub.wait_messages(2)
        self.assertEqual(sorted((m.topic, m.qos) for m in got), [("cap/a", 1), ("cap/b", 0)])

    def test_retained_set_replace_clear(self):
        pub = self.connected("pub")
        pub.publish("ret/a", "first", 1, retain=True)
        pub.publish("ret/a", "second", 1, retain=True)
        pub.publish("ret/b", "other", 1, retain=True)
        sub = self.connected("sub1")
        sub.subscribe("ret/#", 1)
        got = sub.wait_messages(2)
        self.assertEqual(sorted((m.topic, m.payload, m.retain) for m in got),
                         [("ret/a", b"second", True), ("ret/b", b"other", True)])
        # A live message on a subscription is not flagged retained (v5: unless Retain As
        # Published), even when it was published with RETAIN.
        pub.publish("ret/a", "third", 1, retain=True)
        live = sub.wait_messages(3)[2]
        self.assertEqual((live.payload, live.retain), (b"third", False))
        pub.publish("ret/a", "", 1, retain=True)  # clears ret/a
        sub.wait_messages(4)
        sub2 = self.connected("sub2")
        sub2.subscribe("ret/#", 1)
        got = sub2.wait_messages(1)
        self.assertEqual([(m.topic, m.payload) for m in got], [("ret/b", b"other")])
        self.assertEqual(sub2.quiet_for(0.3), [])

    def test_will_on_socket_close(self):
        watcher = self.connected("watcher")
        watcher.subscribe("will/#", 1)
        dying = self.connected("dying", will={"topic": "will/dying", "payload": "gone",
                                              "qos": 1})
        dying.drop()
        got = watcher.wait_messages(1)
        self.assertEqual([(m.topic, m.payload) for m in got], [("will/dying", b"gone")])

    def test_no_will_on_disconnect(self):
        watcher = self.connected("watcher")
        watcher.subscribe("will/#", 1)
        leaving = self.connected("leaving", will={"topic": "will/leaving", "payload": "x"})
        leaving.disconnect()
        self.assertEqual(watcher.quiet_for(0.5), [])

    def test_retained_will(self):
        dying = self.connected("dying", will={"topic": "will/ret", "payload": "lost",
                                              "qos": 1, "retain": True})
        dying.drop()
        time.sleep(0.3)
        sub = self.connected("late")
        sub.subscribe("will/ret", 1)
        got = sub.wait_messages(1)
        self.assertEqual([(m.payload, m.retain) for m in got], [(b"lost", True)])

    def test_persistent_session_resume(self):
        sub, present = self.persistent("keeper", fresh=True)
        self.assertFalse(present)
        sub.subscribe("away/#", 1)
        sub.disconnect()
        pub = self.connected("pub")
        for i in range(20):
            pub.publish("away/x", str(i), 1)
        pub.publish("away/q0", "not queued", 0)
        sub, present = self.persistent("keeper")
        self.assertTrue(present)
        got = sub.wait_messages(20)
        self.assertEqual(self.payloads(got), [str(i) for i in range(20)])
        self.assertEqual(self.payloads(sub.quiet_for(0.3)), [])
        # The subscription survived too.
        pub.publish("away/live", "live", 1)
        self.assertEqual(self.payloads(sub.wait_messages(21))[-1], "live")

    def test_persistent_session_after_abnormal_loss(self):
        sub, _ = self.persistent("keeper", fresh=True)
        sub.subscribe("away/#", 2)
        sub.drop()
        pub = self.connected("pub")
        for i in range(10):
            pub.publish("away/x", str(i), 2)
        sub, present = self.persistent("keeper")
        self.assertTrue(present)
        self.assertEqual(self.payloads(sub.wait_messages(10)), [str(i) for i in range(10)])
        self.assertEqual(sub.quiet_for(0.3), [])

    def test_clean_start_discards_session(self):
        sub, _ = self.persistent("keeper", fresh=True)
        sub.subscribe("away/#", 1)
        sub.disconnect()
        pub = self.connected("pub")
        pub.publish("away/x", "dropped", 1)
        sub = self.client("keeper")
        self.assertFalse(sub.connect(clean=True)[0], "session present after clean start")
        self.assertEqual(sub.quiet_for(0.3), [])
        pub.publish("away/x", "no subscription any more", 1)
        self.assertEqual(sub.quiet_for(0.3), [])

    def test_shared_subscription(self):
        members = [self.connected("member%d" % i) for i in range(3)]
        for m in members:
            self.assertEqual(m.subscribe("$share/g/jobs/+", 1), [1])
        plain = self.connected("plain")
        plain.subscribe("jobs/+", 1)
        pub = self.connected("pub")
        n = 60
        for i in range(n):
            pub.publish("jobs/x", str(i), 1)
        self.assertEqual(len(plain.wait_messages(n)), n)
        self.assertTrue(wait_until(lambda: sum(len(m.messages) for m in members) >= n, 5))
        time.sleep(0.2)
        received = [self.payloads(m.messages) for m in members]
        everything = sorted(int(p) for r in received for p in r)
        self.assertEqual(everything, list(range(n)), "each message to exactly one member")
        self.assertTrue(all(len(r) > 0 for r in received), [len(r) for r in received])

    def test_shared_subscription_member_leaves(self):
        a = self.connected("a")
        b = self.connected("b")
        a.subscribe("$share/g/work", 1)
        b.subscribe("$share/g/work", 1)
        b.disconnect()
        pub = self.connected("pub")
        for i in range(10):
            pub.publish("work", str(i), 1)
        self.assertEqual(self.payloads(a.wait_messages(10)), [str(i) for i in range(10)])

    def test_session_takeover(self):
        first = self.connected("same-id")
        first.subscribe("take/#", 1)
        second = self.client("same-id")
        second.connect()
        reason = first.wait_disconnected()
        if self.version == V5:
            self.assertEqual(reason, SESSION_TAKEN_OVER)
        second.subscribe("take/#", 1)
        pub = self.connected("pub")
        pub.publish("take/x", "to the second", 1)
        self.assertEqual(self.payloads(second.wait_messages(1)), ["to the second"])
        self.assertEqual(first.messages, [])

    def test_unsubscribe(self):
        sub = self.connected("sub")
        sub.subscribe("u/#", 1)
        pub = self.connected("pub")
        pub.publish("u/1", "a", 1)
        sub.wait_messages(1)
        sub.unsubscribe("u/#")
        pub.publish("u/1", "b", 1)
        self.assertEqual(len(sub.quiet_for(0.3)), 0)


class PahoV311(PahoTestCase, Common):
    version = V311


class OverWebSocket:
    """Mixed in before PahoTestCase: the same client over the broker's WebSocket listener."""

    def setUp(self):
        BrokerTestCase.setUp(self)
        self.broker = self.start_broker(listen=("mqtt://127.0.0.1:0", "ws://127.0.0.1:0/mqtt"))

    def client(self, client_id, version=None, **kwargs):
        c = Client(self.broker.port_of("ws"), client_id, version or self.version,
                   transport="websockets", **kwargs)
        self.addCleanup(c.drop)
        return c

    test_qos_delivery_counts = Common.test_qos_delivery_counts
    test_will_on_socket_close = Common.test_will_on_socket_close
    test_persistent_session_resume = Common.test_persistent_session_resume


class PahoWebSocketV311(OverWebSocket, PahoTestCase):
    version = V311


class PahoWebSocketV5(OverWebSocket, PahoTestCase):
    version = V5


class PahoV5(PahoTestCase, Common):
    version = V5

    def test_properties_pass_through(self):
        sub = self.connected("sub")
        sub.subscribe("props/#", 2)
        pub = self.connected("pub")
        props = publish_properties(
            UserProperty=[("k", "v1"), ("k", "v2"), ("other", "x y")], ContentType="text/plain",
            ResponseTopic="reply/here", CorrelationData=b"\x00\x01corr", PayloadFormatIndicator=1)
        for qos in (0, 1, 2):
            pub.publish("props/%d" % qos, "with properties", qos, properties=props)
        got = sub.wait_messages(3)
        self.assertEqual(len(got), 3)
        for m in got:
            p = m.properties
            self.assertEqual(p.UserProperty, [("k", "v1"), ("k", "v2"), ("other", "x y")])
            self.assertEqual(p.ContentType, "text/plain")
            self.assertEqual(p.ResponseTopic, "reply/here")
            self.assertEqual(p.CorrelationData, b"\x00\x01corr")
            self.assertEqual(p.PayloadFormatIndicator, 1)

    def test_request_response(self):
        responder = self.connected("responder")
        responder.subscribe("service/req", 1)
        requester = self.connected("requester")
        requester.subscribe("reply/requester", 1)
        requester.publish("service/req", "2+2", 1, properties=publish_properties(
            ResponseTopic="reply/requester", CorrelationData=b"42"))
        req = responder.wait_messages(1)[0]
        responder.publish(req.properties.ResponseTopic, "4", 1, properties=publish_properties(
            CorrelationData=req.properties.CorrelationData))
        reply = requester.wait_messages(1)[0]
        self.assertEqual((reply.payload, reply.properties.CorrelationData), (b"4", b"42"))

    def test_message_expiry(self):
        sub, _ = self.persistent("keeper", fresh=True)
        sub.subscribe("exp/#", 1)
        sub.disconnect()
        pub = self.connected("pub")
        pub.publish("exp/short", "expires", 1, properties=publish_properties(
            MessageExpiryInterval=1))
        pub.publish("exp/long", "stays", 1, properties=publish_properties(
            MessageExpiryInterval=100))
        pub.publish("exp/none", "forever", 1)
        time.sleep(2.2)
        sub, _ = self.persistent("keeper")
        got = sub.wait_messages(2)
        self.assertEqual(self.payloads(got), ["stays", "forever"])
        self.assertLessEqual(got[0].properties.MessageExpiryInterval, 98)
        self.assertFalse(hasattr(got[1].properties, "MessageExpiryInterval"))
        self.assertEqual(sub.quiet_for(0.3), [])

    def test_expired_retained_message(self):
        pub = self.connected("pub")
        pub.publish("exp/ret", "old news", 1, retain=True,
                    properties=publish_properties(MessageExpiryInterval=1))
        time.sleep(2.2)
        sub = self.connected("sub")
        sub.subscribe("exp/#", 1)
        self.assertEqual(sub.quiet_for(0.4), [])

    def test_topic_alias_from_client(self):
        sub = self.connected("sub")
        sub.subscribe("alias/#", 1)
        pub = self.connected("pub")
        self.assertGreaterEqual(pub.connack[2].TopicAliasMaximum, 1)
        pub.publish("alias/long/topic/name", "set", 1, properties=publish_properties(TopicAlias=1))
        pub.publish("", "used", 1, properties=publish_properties(TopicAlias=1))
        pub.publish("alias/other", "reset", 1, properties=publish_properties(TopicAlias=1))
        pub.publish("", "used again", 1, properties=publish_properties(TopicAlias=1))
        got = sub.wait_messages(4)
        self.assertEqual([(m.topic, m.payload.decode()) for m in got],
                         [("alias/long/topic/name", "set"), ("alias/long/topic/name", "used"),
                          ("alias/other", "reset"), ("alias/other", "used again")])

    def test_subscription_identifiers(self):
        sub = self.connected("sub")
        sub.subscribe("sid/#", 1, properties=subscribe_properties(7))
        sub.subscribe("sid/+/x", 1, properties=subscribe_properties(9))
        sub.subscribe("sid/plain/y", 1)
        pub = self.connected("pub")
        pub.publish("sid/a/x", "both", 1)
        pub.publish("sid/a/b", "one", 1)
        pub.publish("sid/plain/y", "none of the ids but 7", 1)
        got = sub.wait_messages(3)
        self.assertEqual(sub.quiet_for(0.3), [], "overlapping subscriptions deliver once")
        ids = {m.payload.decode(): sorted(m.properties.SubscriptionIdentifier) for m in got}
        self.assertEqual(ids, {"both": [7, 9], "one": [7], "none of the ids but 7": [7]})

    def test_no_local(self):
        me = self.connected("me")
        me.subscribe("nl/t", options=subscribe_options(1, no_local=True))
        me.subscribe("nl/echo", 1)
        other = self.connected("other")
        me.publish("nl/t", "mine", 1)
        me.publish("nl/echo", "mine, echoed", 1)
        other.publish("nl/t", "theirs", 1)
        got = me.wait_messages(2)
        self.assertEqual(sorted(self.payloads(got)), ["mine, echoed", "theirs"])
        self.assertEqual(me.quiet_for(0.3), [])

    def test_retain_handling(self):
        pub = self.connected("pub")
        pub.publish("rh/t", "kept", 1, retain=True)
        for handling, expected in ((0, [1, 1]), (1, [1, 0]), (2, [0, 0])):
            sub = self.connected("sub%d" % handling)
            counts = []
            for _ in range(2):  # subscribe, then subscribe again to the same filter
                before = len(sub.messages)
                sub.subscribe("rh/t", options=subscribe_options(1, retain_handling=handling))
                sub.wait_messages(before + 1, timeout=0.5)  # the retained message, if any
                counts.append(len(sub.messages) - before)
            self.assertEqual(counts, expected, "Retain Handling %d" % handling)

    def test_retain_as_published(self):
        keep = self.connected("keep")
        keep.subscribe("rap/t", options=subscribe_options(1, retain_as_published=True))
        clear = self.connected("clear")
        clear.subscribe("rap/t", options=subscribe_options(1, retain_as_published=False))
        pub = self.connected("pub")
        pub.publish("rap/t", "flagged", 1, retain=True)
        pub.publish("rap/t", "plain", 1)
        self.assertEqual([(m.payload, m.retain) for m in keep.wait_messages(2)],
                         [(b"flagged", True), (b"plain", False)])
        self.assertEqual([(m.payload, m.retain) for m in clear.wait_messages(2)],
                         [(b"flagged", False), (b"plain", False)])

    def will_with_delay(self, delay, expiry):
        c = self.client("delayed")
        c.connect(expiry=expiry, will={"topic": "will/delayed", "payload": "late", "qos": 1,
                                       "properties": will_properties(delay)})
        return c

    def test_will_delay_interval(self):
        watcher = self.connected("watcher")
        watcher.subscribe("will/#", 1)
        dying = self.will_with_delay(delay=2, expiry=60)
        dying.drop()
        lost_at = time.monotonic()
        got = watcher.wait_messages(1, timeout=6)
        self.assertEqual(self.payloads(got), ["late"])
        self.assertGreaterEqual(time.monotonic() - lost_at, 1.5, "will sent before its delay")

    def test_will_delay_cancelled_by_reconnect(self):
        watcher = self.connected("watcher")
        watcher.subscribe("will/#", 1)
        dying = self.will_with_delay(delay=2, expiry=60)
        dying.drop()
        back = self.client("delayed")
        self.assertTrue(back.connect(clean=False, expiry=60)[0])
        self.assertEqual(watcher.quiet_for(2.5), [])

    def test_will_sent_when_session_ends_before_delay(self):
        watcher = self.connected("watcher")
        watcher.subscribe("will/#", 1)
        dying = self.will_with_delay(delay=30, expiry=1)
        dying.drop()
        got = watcher.wait_messages(1, timeout=4)
        self.assertEqual(self.payloads(got), ["late"])

    def test_disconnect_with_will(self):
        watcher = self.connected("watcher")
        watcher.subscribe("will/#", 1)
        leaving = self.connected("leaving", will={"topic": "will/asked", "payload": "asked"})
        leaving.client.disconnect(reasoncode=disconnect_reason(0x04))
        leaving.stop()
        self.assertEqual(self.payloads(watcher.wait_messages(1)), ["asked"])

    def test_v5_and_v311_interwork(self):
        old = self.client("old", version=V311)
        old.connect()
        old.subscribe("mix/#", 2)
        new = self.connected("new")
        new.publish("mix/t", "from v5", 2, properties=publish_properties(
            UserProperty=[("dropped", "for v3")]))
        self.assertEqual(self.payloads(old.wait_messages(1)), ["from v5"])
        new.subscribe("mix/#", 2)
        old.publish("mix/u", "from v3", 2)
        self.assertEqual(self.payloads(new.wait_messages(1)), ["from v3"])


if __name__ == "__main__":
    main()
