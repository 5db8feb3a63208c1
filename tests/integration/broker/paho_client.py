"""A synchronous face on python3-paho-mqtt 1.6 for the tests: connect and wait for CONNACK,
subscribe and wait for SUBACK, publish and wait for the acknowledgement, wait for N messages.
Never reconnects on its own, so takeovers and kills stay visible."""

import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCodes
from paho.mqtt.subscribeoptions import SubscribeOptions

V311, V5 = 4, 5


def code(rc):
    """A paho reason code (ReasonCodes object or int) as an int."""
    return getattr(rc, "value", rc)


def publish_properties(**values):
    """Properties(PUBLISH) from keyword arguments named as paho names them (UserProperty=...)."""
    props = Properties(PacketTypes.PUBLISH)
    for name, value in values.items():
        setattr(props, name, value)
    return props


class Client:
    def __init__(self, port, client_id, version=V5, transport="tcp", ws_path="/mqtt"):
        self.port = port
        self.version = version
        self.client = mqtt.Client(
            client_id=client_id, protocol=mqtt.MQTTv5 if version == V5 else mqtt.MQTTv311,
            transport=transport, reconnect_on_failure=False,
            clean_session=None if version == V5 else True)
        if transport == "websockets":
            self.client.ws_set_options(path=ws_path)
        self.cond = threading.Condition()
        self.messages = []
        self.connack = None  # (session present, reason code, properties)
        self.disconnects = []  # reason codes (v3.1.1: paho's rc)
        self.subacks = {}
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        self.client.on_disconnect = self._on_disconnect
        self.client.on_unsubscribe = self._on_unsubscribe
        # Only the loop thread writes to the socket. Without paho's own thread (loop_start),
        # paho 1.6 writes a packet from whichever thread queues it, so a publish() from the test
        # thread races the loop thread's PUBACK/PUBREL: over WebSocket both share one frame
        # buffer (WebsocketWrapper._sendbuffer), and a frame is sent twice while the next packet
        # is dropped ("0, 0, 2, ..."; one QoS 1 PUBLISH never acknowledged). With a register-write
        # callback paho only queues the packet and wakes the loop's select() to write it.
        self.client.on_socket_register_write = lambda client, userdata, sock: None
        self.unsubacks = set()
        self.thread = None
        self.stopping = threading.Event()

    def _loop(self):
        # Our own network loop rather than paho's loop_start(), whose loop_stop() waits up to a
        # second for select() to return.
        while not self.stopping.is_set():
            if self.client.loop(0.02) != mqtt.MQTT_ERR_SUCCESS:
                self.stopping.wait(0.02)

    # ---- callbacks (paho's thread)

    def _on_connect(self, client, userdata, flags, rc, properties=None):
        with self.cond:
            self.connack = (bool(flags.get("session present")), code(rc), properties)
            self.cond.notify_all()

    def _on_message(self, client, userdata, message):
        with self.cond:
            self.messages.append(message)
            self.cond.notify_all()

    def _on_subscribe(self, client, userdata, mid, granted, properties=None):
        with self.cond:
            self.subacks[mid] = [code(g) for g in granted]
            self.cond.notify_all()

    def _on_unsubscribe(self, client, userdata, mid, *args):
        with self.cond:
            self.unsubacks.add(mid)
            self.cond.notify_all()

    def _on_disconnect(self, client, userdata, rc, properties=None):
        with self.cond:
            self.disconnects.append(code(rc))
            self.cond.notify_all()

    def _wait(self, predicate, timeout, what):
        with self.cond:
            if not self.cond.wait_for(predicate, timeout):
                raise AssertionError("%s: timed out after %.1f s waiting for %s"
                                     % (self.client._client_id.decode(), timeout, what))

    # ---- the tests' API

    def connect(self, clean=True, expiry=None, will=None, keepalive=60, username=None,
                password=None, timeout=5.0, expect_success=True, properties=None):
        """`will`: dict(topic, payload, qos=0, retain=False, properties=None)."""
        if self.version == V311:
            self.client._clean_session = clean
        if will:
            self.client.will_set(will["topic"], will["payload"], will.get("qos", 0),
                                 will.get("retain", False), will.get("properties"))
        if username is not None:
            self.client.username_pw_set(username, password)
        kwargs = {}
        if self.version == V5:
            props = properties or Properties(PacketTypes.CONNECT)
            if expiry is not None:
                props.SessionExpiryInterval = expiry
            kwargs = {"clean_start": clean, "properties": props}
        self.connack = None
        self.client.connect("127.0.0.1", self.port, keepalive, **kwargs)
        if self.thread is None:
            self.stopping.clear()
            self.thread = threading.Thread(target=self._loop, daemon=True)
            self.thread.start()
        self._wait(lambda: self.connack is not None or self.disconnects, timeout, "CONNACK")
        if expect_success and (self.connack is None or self.connack[1] != 0):
            raise AssertionError("connect refused: %r / %r" % (self.connack, self.disconnects))
        return self.connack

    def subscribe(self, topic, qos=0, options=None, properties=None, timeout=5.0):
        """Returns the granted QoS / reason codes of the SUBACK."""
        if options is not None:
            rc, mid = self.client.subscribe(topic, options=options, properties=properties)
        else:
            rc, mid = self.client.subscribe(topic, qos, properties=properties)
        assert rc == mqtt.MQTT_ERR_SUCCESS, rc
        self._wait(lambda: mid in self.subacks, timeout, "SUBACK")
        return self.subacks[mid]

    def unsubscribe(self, topic, timeout=5.0):
        rc, mid = self.client.unsubscribe(topic)
        assert rc == mqtt.MQTT_ERR_SUCCESS, rc
        self._wait(lambda: mid in self.unsubacks, timeout, "UNSUBACK")

    def publish(self, topic, payload, qos=0, retain=False, properties=None, timeout=5.0):
        """Returns once the PUBLISH is written (QoS 0) or acknowledged (QoS 1 and 2): the loop
        thread writes it, and a test may count on the broker having it before it goes on."""
        info = self.client.publish(topic, payload, qos, retain, properties)
        info.wait_for_publish(timeout)
        if not info.is_published():
            raise AssertionError("PUBLISH %s QoS %d not %s" % (
                topic, qos, "written" if qos == 0 else "acknowledged"))
        return info

    def wait_messages(self, count, timeout=5.0, topic=None):
        """Waits until `count` messages (on `topic`, if given) arrived; returns them."""
        def matching():
            return [m for m in self.messages if topic is None or m.topic == topic]
        with self.cond:
            self.cond.wait_for(lambda: len(matching()) >= count, timeout)
            return matching()

    def quiet_for(self, seconds):
        """The messages received in the next `seconds`: used to show that nothing arrives."""
        before = len(self.messages)
        time.sleep(seconds)
        with self.cond:
            return self.messages[before:]

    def wait_disconnected(self, timeout=5.0):
        self._wait(lambda: self.disconnects, timeout, "the connection to end")
        return self.disconnects[0]

    def disconnect(self, properties=None):
        self.client.disconnect(properties=properties)
        self._wait(lambda: self.client.socket() is None, 5, "DISCONNECT to be sent")
        self.stop()

    def drop(self):
        """Closes the socket without DISCONNECT: an abnormal end, as a crash would be."""
        self.stop()
        sock = self.client.socket()
        if sock is not None:
            sock.close()

    def stop(self):
        if self.thread is not None:
            self.stopping.set()
            self.thread.join(5)
            self.thread = None


def subscribe_options(qos=0, no_local=False, retain_as_published=False, retain_handling=0):
    return SubscribeOptions(qos=qos, noLocal=no_local, retainAsPublished=retain_as_published,
                            retainHandling=retain_handling)


def subscribe_properties(identifier):
    props = Properties(PacketTypes.SUBSCRIBE)
    props.SubscriptionIdentifier = identifier
    return props


def will_properties(delay):
    props = Properties(PacketTypes.WILLMESSAGE)
    props.WillDelayInterval = delay
    return props


def disconnect_reason(value):
    return ReasonCodes(PacketTypes.DISCONNECT, identifier=value)
