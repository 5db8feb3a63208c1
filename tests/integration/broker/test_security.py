"""Authentication (--passwd, --allow-anonymous) and authorization (--acl) of `psos broker`, with
Mosquitto's clients and the raw client: CONNACK codes, SUBACK refusals, refused PUBLISH."""

import os
import subprocess
import tempfile
import time

from brokertest import (CONNACK, PUBACK, PUBCOMP, PUBREC, PUBREL, BrokerTestCase, RawClient,
                        ack_packet, connect_packet, main, psos_binary)

ACL = """\
# anonymous clients
topic read public/#

user alice
topic readwrite alice/#
topic read shared/#

user admin
topic readwrite #

pattern write clients/%c/status
"""


class SecurityTestCase(BrokerTestCase):
    def setUp(self):
        super().setUp()
        self.dir = tempfile.TemporaryDirectory(prefix="psos-security-")
        self.addCleanup(self.dir.cleanup)
        self.passwd = os.path.join(self.dir.name, "passwd")
        for user, password in (("alice", "wonderland"), ("admin", "s3cret")):
            # The minimum iterations keep the test fast; the format is the same.
            subprocess.run([psos_binary(), "passwd", "-I", "100000", "-b", self.passwd, user,
                            password], check=True, timeout=30, capture_output=True)

    def mosquitto_pub(self, *args, version="mqttv311"):
        proc = subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(self.broker.port),
                               "-V", version, "-t", "alice/x", "-m", "hi", "-q", "1"] +
                              list(args), capture_output=True, timeout=20)
        return proc.returncode, proc.stderr.decode()


class Authentication(SecurityTestCase):
    def setUp(self):
        super().setUp()
        self.broker = self.start_broker(extra=["--passwd", self.passwd])

    def test_mosquitto_pub_logins(self):
        for version in ("mqttv311", "mqttv5"):
            self.assertEqual(self.mosquitto_pub("-u", "alice", "-P", "wonderland",
                                                version=version)[0], 0)
            rc, err = self.mosquitto_pub("-u", "alice", "-P", "wrong", version=version)
            self.assertNotEqual(rc, 0, "wrong password accepted")
            rc, err = self.mosquitto_pub("-u", "nobody", "-P", "wonderland", version=version)
            self.assertNotEqual(rc, 0, "unknown user accepted")
            rc, err = self.mosquitto_pub(version=version)
            self.assertNotEqual(rc, 0, "anonymous accepted")

    def test_connack_codes(self):
        cases = [  # (version, username, password, expected CONNACK code)
            (5, "alice", "wonderland", 0x00), (4, "alice", "wonderland", 0),
            (5, "alice", "wrong", 0x86), (4, "alice", "wrong", 4),
            (5, "nobody", "x", 0x86), (4, "nobody", "x", 4),
            (5, "alice", None, 0x86), (4, "alice", None, 4),
            (5, None, None, 0x87), (4, None, None, 5),
        ]
        for version, user, password, expected in cases:
            client = RawClient(self.broker.port, version)
            try:
                ack = client.connect("c", username=user, password=password,
                                     expect_success=False)
                self.assertEqual(ack.reason, expected, (version, user, password))
                if expected != 0:
                    client.expect_closed()
            finally:
                client.close()


class AnonymousAllowed(SecurityTestCase):
    def setUp(self):
        super().setUp()
        self.broker = self.start_broker(extra=["--passwd", self.passwd, "--allow-anonymous"])

    def test_anonymous_and_named(self):
        self.assertEqual(self.mosquitto_pub()[0], 0, "anonymous refused")
        self.assertEqual(self.mosquitto_pub("-u", "alice", "-P", "wonderland")[0], 0)
        self.assertNotEqual(self.mosquitto_pub("-u", "alice", "-P", "wrong")[0], 0,
                            "a named user must still give the right password")


class LoginOffTheEventLoop(SecurityTestCase):
    """Password hashing is slow on purpose; the broker does it off its event loop
    (docs/security.md), so a burst of logins does not hold up routing."""

    def setUp(self):
        super().setUp()
        self.broker = self.start_broker(extra=["--passwd", self.passwd, "--allow-anonymous"])

    def test_login_burst_does_not_stall_routing(self):
        sub = RawClient(self.broker.port)
        self.addCleanup(sub.close)
        sub.connect("sub")
        sub.subscribe("ping", qos=1)
        pub = RawClient(self.broker.port)
        self.addCleanup(pub.close)
        pub.connect("pub")
        logins = []
        for i in range(12):
            c = RawClient(self.broker.port)
            self.addCleanup(c.close)
            c.send(connect_packet("login-%d" % i, username="alice", password="wrong"))
            logins.append(c)
        time.sleep(0.05)  # the CONNECTs are in before the PUBLISH
        pub.publish("ping", "pong", qos=1)
        self.assertEqual([p.payload for p in sub.receive_publishes(1)], [b"pong"])
        answered = sum(1 for c in logins if c.read_packet(0) is not None)
        # Hashing 12 passwords takes far longer than routing one message.
        self.assertLess(answered, 6, "routing waited for the password checks")
        for c in logins:
            self.assertEqual(c.expect(CONNACK, timeout=20).reason, 0x86)


class AccessControl(SecurityTestCase):
    def setUp(self):
        super().setUp()
        acl = os.path.join(self.dir.name, "acl")
        with open(acl, "w") as f:
            f.write(ACL)
        self.broker = self.start_broker(extra=["--passwd", self.passwd, "--acl", acl])
        self.admin = RawClient(self.broker.port)
        self.addCleanup(self.admin.close)
        self.admin.connect("admin", username="admin", password="s3cret")
        self.assertEqual(self.admin.subscribe("#", qos=1).reasons, [1])

    def alice(self, version):
        client = RawClient(self.broker.port, version)
        self.addCleanup(client.close)
        client.connect("alice-%d" % version, username="alice", password="wonderland")
        return client

    def test_denied_subscribe(self):
        for version, refused in ((5, 0x87), (4, 0x80)):
            alice = self.alice(version)
            self.assertEqual(alice.subscribe("secret/#", qos=1).reasons, [refused])
            self.assertEqual(alice.subscribe("alice/#", qos=1, packet_id=2).reasons, [1])
            self.assertEqual(alice.subscribe("shared/+", qos=2, packet_id=3).reasons, [2])
            # Nothing on secret/ reaches her.
            self.admin.publish("secret/plans", "no", qos=1, packet_id=5)
            self.admin.publish("alice/inbox", "yes", qos=1, packet_id=6)
            got = alice.receive_publishes(1)
            self.assertEqual([(p.topic, p.payload) for p in got], [("alice/inbox", b"yes")])
            self.assertTrue(alice.no_publish(0.3))
            self.admin.receive_publishes(2)

    def test_denied_publish(self):
        for version in (5, 4):
            alice = self.alice(version)
            alice.publish("secret/x", "leak", qos=1, packet_id=1)
            ack = alice.expect(PUBACK)
            self.assertEqual(ack.reason, 0x87 if version == 5 else 0)
            alice.publish("shared/x", "read-only", qos=1, packet_id=2)
            self.assertEqual(alice.expect(PUBACK).reason, 0x87 if version == 5 else 0)
            alice.publish("alice/ok", "fine", qos=1, packet_id=3)
            self.assertEqual(alice.expect(PUBACK).reason, 0)
            got = self.admin.receive_publishes(1)
            self.assertEqual([(p.topic, p.payload) for p in got], [("alice/ok", b"fine")])
            self.assertTrue(self.admin.no_publish(0.3), "a denied message was delivered")

    def test_refused_qos2_frees_its_packet_id(self):
        for version in (5, 4):
            alice = self.alice(version)
            alice.publish("secret/x", "no", qos=2, packet_id=4)
            rec = alice.expect(PUBREC)
            if version == 5:
                # Refused: the flow ends with the PUBREC, the id is free again.
                self.assertEqual(rec.reason, 0x87)
            else:
                # v3.1.1 cannot refuse: the flow completes and the message is dropped.
                alice.send(ack_packet(PUBREL, 4, version))
                alice.expect(PUBCOMP)
            alice.publish("alice/ok", "yes", qos=2, packet_id=4)  # the same id: a new message
            self.assertEqual(alice.expect(PUBREC).reason, 0)
            alice.send(ack_packet(PUBREL, 4, version))
            self.assertEqual(alice.expect(PUBCOMP).reason, 0)
            got = self.admin.receive_publishes(1)
            self.assertEqual([(p.topic, p.payload) for p in got], [("alice/ok", b"yes")])
            self.assertTrue(self.admin.no_publish(0.2))

    def test_pattern_with_client_id(self):
        alice = self.alice(5)
        alice.publish("clients/alice-5/status", "up", qos=1, packet_id=1)
        self.assertEqual(alice.expect(PUBACK).reason, 0)
        alice.publish("clients/someone-else/status", "spoof", qos=1, packet_id=2)
        self.assertEqual(alice.expect(PUBACK).reason, 0x87)
        got = self.admin.receive_publishes(1)
        self.assertEqual([p.topic for p in got], ["clients/alice-5/status"])
        self.assertTrue(self.admin.no_publish(0.3))

    def test_mosquitto_sub_refused(self):
        proc = subprocess.run(
            ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(self.broker.port), "-V", "mqttv5",
             "-u", "alice", "-P", "wonderland", "-t", "secret/#", "-E", "-d"],
            capture_output=True, timeout=20)
        self.assertIn(b"received SUBACK", proc.stdout)
        self.assertIn(b"135", proc.stdout + proc.stderr)  # 0x87 Not authorized


if __name__ == "__main__":
    main()
