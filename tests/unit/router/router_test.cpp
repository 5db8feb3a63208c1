// psos::router::Router driven directly, without sockets: fake links record what the router
// sends, an io_context runs its timers. QoS flows, retained messages, wills, sessions, limits.
#include "router/router.hpp"

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "mqtt/codec.hpp"
#include "router/security/acl.hpp"

namespace psos::router {
namespace {

using namespace std::chrono_literals;
using mqtt::QoS;
using mqtt::ReasonCode;
using mqtt::Version;

// A connection as the router sees it: records every packet it is given.
class FakeLink final : public Link {
 public:
  struct SentPublish {
    Delivery delivery;
    std::uint16_t packet_id;
    bool dup;
  };

  void send_publish(const Delivery& d, std::uint16_t packet_id, bool dup) override {
    publishes.push_back({d, packet_id, dup});
    if (closed) ++after_close;
  }
  void send(const mqtt::Packet& packet) override { packets.push_back(packet); }
  void close() override { closed = true; }
  std::size_t backlog() const noexcept override { return 0; }

  // The packets of type P sent so far.
  template <class P>
  std::vector<P> sent() const {
    std::vector<P> out;
    for (const mqtt::Packet& p : packets)
      if (const auto* x = std::get_if<P>(&p)) out.push_back(*x);
    return out;
  }
  std::vector<std::string> payloads() const {
    std::vector<std::string> out;
    for (const SentPublish& p : publishes)
      out.push_back(p.delivery.message->payload);
    return out;
  }

  std::vector<SentPublish> publishes;
  std::vector<mqtt::Packet> packets;
  bool closed = false;
  int after_close = 0;  // PUBLISH packets sent after close(): never allowed
};

struct ConnectOptions {
  Version version = Version::v5;
  bool clean = true;
  std::optional<std::uint32_t> expiry;
  std::optional<mqtt::Will> will;
  std::optional<std::uint16_t> receive_maximum;
  std::uint16_t keep_alive = 60;
};

class RouterTest : public ::testing::Test {
 protected:
  RouterTest() {
    spdlog::set_level(spdlog::level::warn);
    options.sys_interval_seconds = 0;
  }

  Router& router() {
    if (!router_) router_ = std::make_unique<Router>(io.get_executor(), options);
    return *router_;
  }

  SessionId connect(FakeLink& link, std::string_view client_id, ConnectOptions o = {}) {
    mqtt::Connect c;
    c.version = o.version;
    c.client_id = client_id;
    c.clean_start = o.clean;
    c.properties.session_expiry_interval = o.expiry;
    c.properties.receive_maximum = o.receive_maximum;
    c.will = o.will;
    c.keep_alive = o.keep_alive;
    last_connect = router().connect(link, c, "test");
    return last_connect.session;
  }

  void subscribe(SessionId id, FakeLink& link, std::string_view filter, QoS qos,
                 std::uint32_t identifier = 0, bool no_local = false) {
    mqtt::Subscribe s{.packet_id = 1};
    s.topics.push_back(mqtt::SubscribeTopic{filter, qos, no_local});
    if (identifier != 0) s.properties.subscription_identifiers.push_back(identifier);
    router().handle(id, link, s);
  }

  void publish(SessionId id, FakeLink& link, std::string_view topic, std::string_view payload,
               QoS qos = QoS::AtMostOnce, std::uint16_t packet_id = 0, bool retain = false) {
    mqtt::Publish p;
    p.topic = topic;
    p.payload = payload;
    p.qos = qos;
    p.packet_id = packet_id;
    p.retain = retain;
    router().handle(id, link, p);
  }

  void disconnect(SessionId id, FakeLink& link, ReasonCode reason = ReasonCode::Success) {
    mqtt::Disconnect d;
    d.reason = reason;
    router().handle(id, link, d);
    router().connection_lost(id, link);
  }

  boost::asio::io_context io;
  RouterOptions options;
  ConnectResult last_connect;

 private:
  std::unique_ptr<Router> router_;
};

TEST_F(RouterTest, Qos1FlowIsAcknowledgedAndDelivered) {
  FakeLink sub_link, pub_link;
  const SessionId sub = connect(sub_link, "sub");
  const SessionId pub = connect(pub_link, "pub");
  subscribe(sub, sub_link, "a/+", QoS::AtLeastOnce);
  publish(pub, pub_link, "a/b", "hello", QoS::AtLeastOnce, 5);

  ASSERT_EQ(pub_link.sent<mqtt::Puback>().size(), 1u);
  EXPECT_EQ(pub_link.sent<mqtt::Puback>()[0].packet_id, 5);
  EXPECT_EQ(pub_link.sent<mqtt::Puback>()[0].reason, ReasonCode::Success);
  ASSERT_EQ(sub_link.publishes.size(), 1u);
  EXPECT_EQ(sub_link.publishes[0].delivery.qos, QoS::AtLeastOnce);
  EXPECT_NE(sub_link.publishes[0].packet_id, 0);
}

TEST_F(RouterTest, NoMatchingSubscribers) {
  FakeLink link;
  const SessionId id = connect(link, "pub");
  publish(id, link, "nobody", "x", QoS::AtLeastOnce, 1);
  EXPECT_EQ(link.sent<mqtt::Puback>().at(0).reason, ReasonCode::NoMatchingSubscribers);
}

TEST_F(RouterTest, OverlappingSubscriptionsDeliverOnceWithEveryIdentifier) {
  FakeLink link;
  const SessionId id = connect(link, "sub");
  subscribe(id, link, "s/#", QoS::AtMostOnce, 7);
  subscribe(id, link, "s/+", QoS::AtLeastOnce, 9);
  FakeLink pub_link;
  publish(connect(pub_link, "pub"), pub_link, "s/x", "once", QoS::ExactlyOnce, 1);
  ASSERT_EQ(link.publishes.size(), 1u);
  EXPECT_EQ(link.publishes[0].delivery.qos, QoS::AtLeastOnce);
  EXPECT_EQ(link.publishes[0].delivery.subscription_ids, (std::vector<std::uint32_t>{7, 9}));
}

TEST_F(RouterTest, NoLocal) {
  FakeLink link;
  const SessionId id = connect(link, "me");
  subscribe(id, link, "t", QoS::AtMostOnce, 0, /*no_local=*/true);
  publish(id, link, "t", "mine");
  EXPECT_TRUE(link.publishes.empty());
  FakeLink other;
  publish(connect(other, "other"), other, "t", "theirs");
  EXPECT_EQ(link.payloads(), (std::vector<std::string>{"theirs"}));
}

TEST_F(RouterTest, RetainedSetReplaceClear) {
  FakeLink pub_link;
  const SessionId pub = connect(pub_link, "pub");
  publish(pub, pub_link, "r", "first", QoS::AtMostOnce, 0, true);
  publish(pub, pub_link, "r", "second", QoS::AtMostOnce, 0, true);
  EXPECT_EQ(router().retained_count(), 1u);
  FakeLink a;
  subscribe(connect(a, "a"), a, "#", QoS::AtLeastOnce);
  ASSERT_EQ(a.payloads(), (std::vector<std::string>{"second"}));
  EXPECT_TRUE(a.publishes[0].delivery.retain);
  publish(pub, pub_link, "r", "", QoS::AtMostOnce, 0, true);
  EXPECT_EQ(router().retained_count(), 0u);
  FakeLink b;
  subscribe(connect(b, "b"), b, "#", QoS::AtLeastOnce);
  EXPECT_TRUE(b.publishes.empty());
}

TEST_F(RouterTest, WillOnAbnormalLossOnly) {
  FakeLink watcher;
  subscribe(connect(watcher, "watcher"), watcher, "will/#", QoS::AtMostOnce);
  const mqtt::Will will{.topic = "will/x", .payload = "gone"};

  FakeLink leaving;
  disconnect(connect(leaving, "leaving", {.will = will}), leaving);
  EXPECT_TRUE(watcher.publishes.empty());

  FakeLink lost;
  router().connection_lost(connect(lost, "lost", {.will = will}), lost);
  EXPECT_EQ(watcher.payloads(), (std::vector<std::string>{"gone"}));

  FakeLink asked;
  disconnect(connect(asked, "asked", {.will = will}), asked, ReasonCode::DisconnectWithWill);
  EXPECT_EQ(watcher.payloads().size(), 2u);
}

// --max-keepalive: a v5 client asking for more, or for none, is told the cap (Server Keep Alive)
// and its link enforces it; a v3.1.1 client, which cannot be told, keeps its own.
TEST_F(RouterTest, MaxKeepAliveIsServerKeepAliveForV5Only) {
  options.limits.max_keep_alive = 10;
  const auto server_keep_alive = [](const FakeLink& link) {
    return link.sent<mqtt::Connack>().at(0).properties.server_keep_alive;
  };
  FakeLink asks_more, asks_none, within, v3;
  connect(asks_more, "more", {.keep_alive = 60});
  EXPECT_EQ(server_keep_alive(asks_more), 10);
  EXPECT_EQ(last_connect.keep_alive, 10);
  connect(asks_none, "none", {.keep_alive = 0});
  EXPECT_EQ(server_keep_alive(asks_none), 10);
  EXPECT_EQ(last_connect.keep_alive, 10);
  connect(within, "within", {.keep_alive = 5});
  EXPECT_EQ(server_keep_alive(within), std::nullopt);
  EXPECT_EQ(last_connect.keep_alive, 5);
  connect(v3, "v3", {.version = Version::v311, .keep_alive = 60});
  EXPECT_EQ(last_connect.keep_alive, 60);
}

// A clean stop closes the connections without a DISCONNECT from the clients: their wills are
// published first (MQTT 5 3.1.2.5), so that a connected subscriber gets them before its own
// DISCONNECT 0x8B.
TEST_F(RouterTest, CloseAllPublishesTheWillsBeforeTheDisconnects) {
  FakeLink watcher;
  subscribe(connect(watcher, "watcher"), watcher, "will/#", QoS::AtMostOnce);
  FakeLink leaving;
  const SessionId id =
      connect(leaving, "leaving", {.will = mqtt::Will{.topic = "will/x", .payload = "gone"}});
  router().close_all(ReasonCode::ServerShuttingDown);
  EXPECT_EQ(watcher.payloads(), (std::vector<std::string>{"gone"}));
  EXPECT_EQ(watcher.after_close, 0);
  const auto disconnects = watcher.sent<mqtt::Disconnect>();
  ASSERT_EQ(disconnects.size(), 1u);
  EXPECT_EQ(disconnects[0].reason, ReasonCode::ServerShuttingDown);
  EXPECT_TRUE(watcher.closed && leaving.closed);
  // The links report their end later: no will a second time.
  router().connection_lost(id, leaving);
  EXPECT_EQ(watcher.payloads().size(), 1u);
}

TEST_F(RouterTest, WillDelayAndReconnectWithinIt) {
  FakeLink watcher;
  subscribe(connect(watcher, "watcher"), watcher, "will/#", QoS::AtMostOnce);
  mqtt::Will will{.topic = "will/x", .payload = "late"};
  will.properties.will_delay_interval = 1;

  FakeLink first;
  router().connection_lost(connect(first, "delayed", {.expiry = 60, .will = will}), first);
  EXPECT_TRUE(watcher.publishes.empty());
  FakeLink back;
  connect(back, "delayed", {.clean = false, .expiry = 60});
  io.run_for(1300ms);
  EXPECT_TRUE(watcher.publishes.empty()) << "a reconnect within the delay cancels the will";

  router().connection_lost(connect(first, "other", {.expiry = 60, .will = will}), first);
  io.restart();
  io.run_for(1300ms);
  EXPECT_EQ(watcher.payloads(), (std::vector<std::string>{"late"}));
}

TEST_F(RouterTest, PersistentSessionQueuesQos1WhileAway) {
  FakeLink first;
  const SessionId id = connect(first, "keeper", {.expiry = 300});
  subscribe(id, first, "q", QoS::AtLeastOnce);
  disconnect(id, first);
  FakeLink pub_link;
  const SessionId pub = connect(pub_link, "pub");
  publish(pub, pub_link, "q", "kept", QoS::AtLeastOnce, 1);
  publish(pub, pub_link, "q", "not kept (QoS 0)");

  FakeLink back;
  EXPECT_EQ(connect(back, "keeper", {.clean = false, .expiry = 300}), id);
  ASSERT_EQ(back.sent<mqtt::Connack>().size(), 1u);
  EXPECT_TRUE(back.sent<mqtt::Connack>()[0].session_present);
  EXPECT_EQ(back.payloads(), (std::vector<std::string>{"kept"}));
}

TEST_F(RouterTest, TakeoverSendsSessionTakenOverWithAReasonString) {
  FakeLink first, second;
  connect(first, "twin");
  connect(second, "twin");
  ASSERT_EQ(first.sent<mqtt::Disconnect>().size(), 1u);
  const mqtt::Disconnect d = first.sent<mqtt::Disconnect>()[0];
  EXPECT_EQ(d.reason, ReasonCode::SessionTakenOver);
  // paho-mqtt 1.6 reads the reason code of a DISCONNECT only when it is longer than 2 bytes.
  EXPECT_TRUE(d.properties.reason_string.has_value());
  EXPECT_TRUE(first.closed);
  EXPECT_FALSE(second.closed);
}

TEST_F(RouterTest, SharedSubscriptionSpreadsMessages) {
  FakeLink a, b;
  subscribe(connect(a, "a"), a, "$share/g/jobs", QoS::AtLeastOnce);
  subscribe(connect(b, "b"), b, "$share/g/jobs", QoS::AtLeastOnce);
  FakeLink pub_link;
  const SessionId pub = connect(pub_link, "pub");
  for (int i = 0; i < 10; ++i)
    publish(pub, pub_link, "jobs", std::to_string(i));
  EXPECT_EQ(a.publishes.size() + b.publishes.size(), 10u);
  EXPECT_GT(a.publishes.size(), 0u);
  EXPECT_GT(b.publishes.size(), 0u);
}

// ---- the bugs the integration tests found

TEST_F(RouterTest, RefusedQos2MessageFreesItsPacketId) {
  options.acl = std::make_shared<Acl>(Acl::parse("topic readwrite open/#\n", "test acl"));
  // Anonymous clients may use open/# only.
  FakeLink sub_link, pub_link;
  subscribe(connect(sub_link, "sub"), sub_link, "open/#", QoS::ExactlyOnce);
  const SessionId pub = connect(pub_link, "pub");
  publish(pub, pub_link, "closed/x", "denied", QoS::ExactlyOnce, 4);
  ASSERT_EQ(pub_link.sent<mqtt::Pubrec>().size(), 1u);
  EXPECT_EQ(pub_link.sent<mqtt::Pubrec>()[0].reason, ReasonCode::NotAuthorized);
  // No PUBREL follows a refusal: the same id is a new message, not a duplicate.
  publish(pub, pub_link, "open/x", "allowed", QoS::ExactlyOnce, 4);
  ASSERT_EQ(pub_link.sent<mqtt::Pubrec>().size(), 2u);
  EXPECT_EQ(pub_link.sent<mqtt::Pubrec>()[1].reason, ReasonCode::Success);
  EXPECT_EQ(sub_link.payloads(), (std::vector<std::string>{"allowed"}));
}

TEST_F(RouterTest, FullOfflineQueueRefusesTheNewestWithQuotaExceeded) {
  options.limits.max_queued_messages = 2;
  FakeLink first;
  const SessionId id = connect(first, "away", {.expiry = 300});
  subscribe(id, first, "q", QoS::AtLeastOnce);
  disconnect(id, first);
  FakeLink pub_link;
  const SessionId pub = connect(pub_link, "pub");
  for (std::uint16_t i = 1; i <= 3; ++i)
    publish(pub, pub_link, "q", std::to_string(i), QoS::AtLeastOnce, i);
  const auto acks = pub_link.sent<mqtt::Puback>();
  ASSERT_EQ(acks.size(), 3u);
  EXPECT_EQ(acks[0].reason, ReasonCode::Success);
  EXPECT_EQ(acks[1].reason, ReasonCode::Success);
  EXPECT_EQ(acks[2].reason, ReasonCode::QuotaExceeded);
  EXPECT_EQ(router().stats().messages_dropped, 1u);
  FakeLink back;
  connect(back, "away", {.clean = false, .expiry = 300});
  EXPECT_EQ(back.payloads(), (std::vector<std::string>{"1", "2"}));
}

TEST_F(RouterTest, MessageThatExpiredInAConnectedSessionsQueueIsNotSent) {
  FakeLink link;
  const SessionId id = connect(link, "slow", {.receive_maximum = 1});
  subscribe(id, link, "e", QoS::AtLeastOnce);
  const auto message = [](std::string payload, std::optional<std::uint32_t> expiry,
                          Clock::time_point received) {
    auto m = std::make_shared<Message>();
    m->topic = "e";
    m->payload = std::move(payload);
    m->qos = QoS::AtLeastOnce;
    m->message_expiry_interval = expiry;
    m->received = received;
    return m;
  };
  const auto now = Clock::now();
  router().publish(message("first", std::nullopt, now));
  router().publish(message("expired", 1, now - 5s));  // waits behind "first", already expired
  router().publish(message("last", 60, now));
  ASSERT_EQ(link.payloads(), (std::vector<std::string>{"first"}));
  router().handle(id, link, mqtt::Puback{.packet_id = link.publishes[0].packet_id});
  EXPECT_EQ(link.payloads(), (std::vector<std::string>{"first", "last"}));
}

// ---- backpressure (Router::publisher_should_wait)

// Congestion without sockets: a FakeLink has no backlog, so a session is congested when more
// than max_queued_messages / 2 messages wait behind its window (Receive Maximum 1 here).
class BackpressureTest : public RouterTest {
 protected:
  BackpressureTest() { options.limits.max_queued_messages = 4; }

  // Publishes `count` QoS 1 messages on `topic`; true if the router asked to pause after any.
  bool flood(SessionId id, FakeLink& link, std::string_view topic, int count) {
    bool waited = false;
    for (int i = 0; i < count; ++i) {
      publish(id, link, topic, std::to_string(i), QoS::AtLeastOnce, next_id_++);
      waited = waited || router().publisher_should_wait();
    }
    return waited;
  }
  // Acknowledges what `link` was sent (and what that lets the router send next).
  void ack_all(SessionId id, FakeLink& link) {
    for (std::size_t i = 0; i < link.publishes.size(); ++i)
      router().handle(id, link, mqtt::Puback{.packet_id = link.publishes[i].packet_id});
  }

  std::uint16_t next_id_ = 1;
};

TEST_F(BackpressureTest, ASlowSubscriberPausesItsPublisher) {
  FakeLink sub_link, pub_link;
  const SessionId sub = connect(sub_link, "sub", {.receive_maximum = 1});
  subscribe(sub, sub_link, "t", QoS::AtLeastOnce);
  const SessionId pub = connect(pub_link, "pub");
  EXPECT_TRUE(flood(pub, pub_link, "t", 4));
  bool resumed = false;
  router().when_uncongested(pub, [&] { resumed = true; });
  EXPECT_FALSE(resumed);
  ack_all(sub, sub_link);
  EXPECT_TRUE(resumed);
  EXPECT_EQ(sub_link.publishes.size(), 4u);
}

TEST_F(BackpressureTest, APublisherNeverWaitsForItsOwnSubscription) {
  // It would stop reading the very PUBACKs that drain its queue: a self-deadlock.
  FakeLink link;
  const SessionId self = connect(link, "loop", {.receive_maximum = 1});
  subscribe(self, link, "loop/t", QoS::AtLeastOnce);
  EXPECT_FALSE(flood(self, link, "loop/t", 4));
  // Its session is congested all the same: another publisher does wait for it.
  FakeLink other_link;
  EXPECT_TRUE(flood(connect(other_link, "other"), other_link, "loop/t", 1));
}

TEST_F(BackpressureTest, RetainedMessagesOnSubscribeNeverPauseTheSubscriber) {
  FakeLink pub_link;
  const SessionId pub = connect(pub_link, "pub");
  for (int i = 0; i < 4; ++i)
    publish(pub, pub_link, "r/" + std::to_string(i), "kept", QoS::AtLeastOnce, 1, true);
  FakeLink link;
  const SessionId sub = connect(link, "sub", {.receive_maximum = 1});
  subscribe(sub, link, "r/#", QoS::AtLeastOnce);
  EXPECT_FALSE(router().publisher_should_wait());
}

TEST_F(BackpressureTest, OnlyTheLastHandledPacketCounts) {
  FakeLink sub_link, pub_link;
  const SessionId sub = connect(sub_link, "sub", {.receive_maximum = 1});
  subscribe(sub, sub_link, "t", QoS::AtLeastOnce);
  const SessionId pub = connect(pub_link, "pub");
  EXPECT_TRUE(flood(pub, pub_link, "t", 4));
  // Not a PUBLISH: nothing to wait for, although the subscriber is still congested.
  router().handle(pub, pub_link, mqtt::Pingreq{});
  EXPECT_FALSE(router().publisher_should_wait());
  // Nor a PUBLISH that no congested session gets.
  EXPECT_FALSE(flood(pub, pub_link, "elsewhere", 1));
  // Nor a CONNECT.
  EXPECT_TRUE(flood(pub, pub_link, "t", 1));
  FakeLink late;
  connect(late, "late");
  EXPECT_FALSE(router().publisher_should_wait());
}

TEST_F(BackpressureTest, ClientsThatFeedEachOtherDoNotWaitForEachOther) {
  // a subscribes to what b publishes and the reverse, both slow. Once b waits for a, a must
  // not wait for b: neither would read the PUBACKs that drain it.
  FakeLink a_link, b_link;
  const SessionId a = connect(a_link, "a", {.receive_maximum = 1});
  const SessionId b = connect(b_link, "b", {.receive_maximum = 1});
  subscribe(a, a_link, "to/a", QoS::AtLeastOnce);
  subscribe(b, b_link, "to/b", QoS::AtLeastOnce);
  ASSERT_TRUE(flood(b, b_link, "to/a", 4));
  bool b_resumed = false;
  router().when_uncongested(b, [&] { b_resumed = true; });
  // b is paused (it reads nothing); b's queue fills all the same.
  EXPECT_FALSE(flood(a, a_link, "to/b", 4));
  ack_all(a, a_link);
  EXPECT_TRUE(b_resumed);
  ack_all(b, b_link);
  EXPECT_EQ(a_link.publishes.size(), 4u);
  EXPECT_EQ(b_link.publishes.size(), 4u);
  // Resumed, b is waited for again.
  FakeLink c_link;
  const SessionId c = connect(c_link, "c");
  flood(b, b_link, "to/b", 4);  // b's own: no pause, but b is congested now
  EXPECT_TRUE(flood(c, c_link, "to/b", 1));
}

TEST_F(BackpressureTest, APausedPublisherThatDisconnectsIsWaitedForAgainOnItsNextConnection) {
  FakeLink sub_link, first;
  const SessionId sub = connect(sub_link, "sub", {.receive_maximum = 1});
  subscribe(sub, sub_link, "t", QoS::AtLeastOnce);
  const SessionId pub = connect(first, "pub", {.expiry = 60, .receive_maximum = 1});
  subscribe(pub, first, "back", QoS::AtLeastOnce);
  ASSERT_TRUE(flood(pub, first, "t", 4));
  bool resumed = false;
  router().when_uncongested(pub, [&] { resumed = true; });
  router().connection_lost(pub, first);
  FakeLink second;
  ASSERT_EQ(connect(second, "pub", {.clean = false, .expiry = 60, .receive_maximum = 1}), pub);
  flood(pub, second, "back", 4);  // congests its own session
  FakeLink other;
  EXPECT_TRUE(flood(connect(other, "other"), other, "back", 1));
  ack_all(sub, sub_link);
  EXPECT_TRUE(resumed);  // the old connection's pause ends; nothing is left waiting
}

// ---- what fuzz/fuzz_router_session found

// Whatever the router sends must encode: the fuzz harness checks every packet the same way.
template <class P>
void expect_encodes(const P& packet, Version version) {
  std::string out;
  const mqtt::Error e = mqtt::encode(mqtt::Packet(packet), version, out);
  EXPECT_FALSE(e) << mqtt::to_string(e);
}

TEST_F(RouterTest, AuthAfterConnectIsAProtocolErrorWithADisconnectThatEncodes) {
  // The fuzzer's input: a v5 client without an Authentication Method sends AUTH. The router
  // answered DISCONNECT 0x8C (Bad authentication method), a code only CONNACK may carry.
  FakeLink link;
  const SessionId id = connect(link, "auth");
  ASSERT_NE(id, 0u);
  router().handle(id, link, mqtt::Auth{});
  ASSERT_EQ(link.sent<mqtt::Disconnect>().size(), 1u);
  const mqtt::Disconnect d = link.sent<mqtt::Disconnect>()[0];
  EXPECT_EQ(d.reason, ReasonCode::ProtocolError);
  expect_encodes(d, Version::v5);
  EXPECT_TRUE(link.closed);
}

TEST_F(RouterTest, ConnectAskingForEnhancedAuthenticationIsRefused) {
  FakeLink link;
  mqtt::Connect c;
  c.client_id = "scram";
  c.properties.authentication_method = "SCRAM-SHA-1";
  EXPECT_EQ(router().connect(link, c, "test").session, 0u);
  ASSERT_EQ(link.sent<mqtt::Connack>().size(), 1u);
  const mqtt::Connack ack = link.sent<mqtt::Connack>()[0];
  EXPECT_EQ(ack.reason, ReasonCode::BadAuthenticationMethod);
  expect_encodes(ack, Version::v5);
  EXPECT_TRUE(link.closed);
  EXPECT_EQ(router().connected_count(), 0u);
}

}  // namespace
}  // namespace psos::router
