"""1,000 concurrent connections on loopback to one `psos broker`: all are accepted and
subscribed, $SYS counts them, and one published message reaches every one of them."""

import resource
import selectors
import time

from brokertest import (CONNACK, PUBLISH, SUBACK, BrokerTestCase, RawClient, connect_packet,
                        main, subscribe_packet)

CLIENTS = 1000


def raise_open_files(needed):
    """The broker inherits this process's limit; both need one descriptor per connection."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        if hard != resource.RLIM_INFINITY and hard < needed:
            raise AssertionError("RLIMIT_NOFILE hard limit %d is below %d" % (hard, needed))
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


class ManyConnections(BrokerTestCase):
    def setUp(self):
        raise_open_files(CLIENTS + 500)
        super().setUp()
        self.broker = self.start_broker(extra=["--sys-interval", "1"])

    def collect(self, clients, wanted, timeout):
        """Reads from every client until each has one packet of type `wanted`; returns how many
        did."""
        selector = selectors.DefaultSelector()
        waiting = set()
        for c in clients:
            c.sock.setblocking(False)
            selector.register(c.sock, selectors.EVENT_READ, c)
            waiting.add(c)
        try:
            for c in list(waiting):
                if self._got(c, wanted):
                    waiting.discard(c)
            deadline = time.monotonic() + timeout
            while waiting and time.monotonic() < deadline:
                for key, _ in selector.select(0.2):
                    c = key.data
                    if c not in waiting:
                        continue
                    data = c.sock.recv(65536)
                    if not data:
                        raise AssertionError("the broker closed a connection")
                    c.buffer += data
                    if self._got(c, wanted):
                        waiting.discard(c)
        finally:
            selector.close()
        return len(clients) - len(waiting)

    @staticmethod
    def _got(client, wanted):
        while True:
            pkt = client._take()
            if pkt is None:
                return False
            if pkt.kind == wanted:
                client.last = pkt
                return True

    def test_thousand_subscribers(self):
        clients = []
        self.addCleanup(lambda: [c.close() for c in clients])
        for i in range(CLIENTS):
            c = RawClient(self.broker.port, version=5 if i % 2 else 4, timeout=10)
            clients.append(c)
            # CONNECT and SUBSCRIBE in one write: the broker must handle both in order.
            c.send(connect_packet("many-%d" % i, version=c.version) +
                   subscribe_packet(1, [("fan/out", 1)], version=c.version))
        # CONNACK first, then SUBACK: _got() skips to the wanted type and nothing else comes.
        self.assertEqual(self.collect(clients, CONNACK, 60), CLIENTS)
        self.assertTrue(all(c.last.reason == 0 for c in clients))
        self.assertEqual(self.collect(clients, SUBACK, 60), CLIENTS)
        self.assertTrue(all(c.last.reasons == [1] for c in clients))

        watcher = RawClient(self.broker.port)
        self.addCleanup(watcher.close)
        watcher.connect("watcher")
        watcher.subscribe("$SYS/broker/clients/connected")
        deadline = time.monotonic() + 10
        connected = None
        while time.monotonic() < deadline:
            got = watcher.receive_publishes(1, timeout=2)
            if got:
                connected = int(got[0].payload)
                if connected == CLIENTS + 1:
                    break
        self.assertEqual(connected, CLIENTS + 1)

        watcher.publish("fan/out", "to everyone", qos=1, packet_id=1)
        self.assertEqual(self.collect(clients, PUBLISH, 60), CLIENTS)
        self.assertTrue(all(c.last.payload == b"to everyone" for c in clients))
        self.assertBrokerAlive(self.broker)


if __name__ == "__main__":
    main()
