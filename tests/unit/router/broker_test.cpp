// psos::router::Broker, the broker state without I/O, driven directly: packets and timer events
// in, actions out. No sockets, no event loop, no waiting: a timer "expires" when the test fires
// it. QoS flows, retained messages, wills and their delay, keep alive, sessions and their expiry,
// takeover, limits, backpressure and the changes it asks to store.
#include "router/broker.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "mqtt/codec.hpp"
#include "recording_link.hpp"
#include "router/persistence.hpp"
#include "router/security/acl.hpp"

namespace psos::router {
namespace {

using namespace std::chrono_literals;
using mqtt::QoS;
using mqtt::ReasonCode;
using mqtt::Version;
using test::RecordingLink;

struct ConnectOptions {
  Version version = Version::v5;
  bool clean = true;
  std::optional<std::uint32_t> expiry;
  std::optional<mqtt::Will> will;
  std::optional<std::uint16_t> receive_maximum;
  std::uint16_t keep_alive = 60;
  bool in_process = false;
};

class BrokerTest : public ::testing::Test {
 protected:
  BrokerTest() { options.sys_interval_seconds = 0; }

  Broker& broker() {
    if (!broker_) {
      broker_ = std::make_unique<Broker>(options);
      broker_->start(std::move(stored_state), out);
      apply();
    }
    return *broker_;
  }

  // Carries out the actions of the last call as the router's shell would: what is for a link
  // goes to its RecordingLink; timers, store changes and log lines are kept for the test.
  void apply() {
    last.clear();
    for (Action& a : out.list()) {
      std::visit(
          [&](auto& x) {
            using A = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<A, action::Send>) {
              x.link->send(*x.packet);
            } else if constexpr (std::is_same_v<A, action::Acknowledge>) {
              x.link->send(packet_of(x));
            } else if constexpr (std::is_same_v<A, action::Publish>) {
              x.link->send_publish(x.delivery, x.packet_id, x.dup);
            } else if constexpr (std::is_same_v<A, action::Close>) {
              x.link->close();
            } else if constexpr (std::is_same_v<A, action::Pause>) {
              x.link->pause();
            } else if constexpr (std::is_same_v<A, action::Resume>) {
              x.link->resume();
            } else if constexpr (std::is_same_v<A, action::Arm>) {
              armed[x.timer] = x.after;
            } else if constexpr (std::is_same_v<A, action::Cancel>) {
              armed.erase(x.timer);
            } else if constexpr (std::is_same_v<A, action::Store>) {
              stored.push_back(x.change);
            } else if constexpr (std::is_same_v<A, action::SubscriptionChanged>) {
              subscription_changes.push_back((x.added ? "+" : "-") + x.filter);
            } else if constexpr (std::is_same_v<A, action::Log>) {
              logs.push_back(x.text);
            }
          },
          a);
      last.push_back(std::move(a));
    }
    out.clear();
  }

  SessionId connect(RecordingLink& link, std::string_view client_id, ConnectOptions o = {}) {
    mqtt::Connect c;
    c.version = o.version;
    c.client_id = client_id;
    c.clean_start = o.clean;
    c.properties.session_expiry_interval = o.expiry;
    c.properties.receive_maximum = o.receive_maximum;
    c.will = o.will;
    c.keep_alive = o.keep_alive;
    last_connect = broker().connect(link, c, {.remote = "test", .in_process = o.in_process}, out);
    apply();
    return last_connect.session;
  }

  void handle(SessionId id, RecordingLink& link, const mqtt::Packet& packet) {
    broker().handle(id, link, packet, out);
    apply();
  }

  void subscribe(SessionId id, RecordingLink& link, std::string_view filter, QoS qos,
                 std::uint32_t identifier = 0, bool no_local = false) {
    mqtt::Subscribe s{.packet_id = 1};
    s.topics.push_back(mqtt::SubscribeTopic{filter, qos, no_local});
    if (identifier != 0) s.properties.subscription_identifiers.push_back(identifier);
    handle(id, link, s);
  }

  void publish(SessionId id, RecordingLink& link, std::string_view topic, std::string_view payload,
               QoS qos = QoS::AtMostOnce, std::uint16_t packet_id = 0, bool retain = false) {
    mqtt::Publish p;
    p.topic = topic;
    p.payload = payload;
    p.qos = qos;
    p.packet_id = packet_id;
    p.retain = retain;
    handle(id, link, p);
  }

  void lost(SessionId id, RecordingLink& link) {
    broker().connection_lost(id, link, out);
    apply();
  }

  void disconnect(SessionId id, RecordingLink& link, ReasonCode reason = ReasonCode::Success) {
    mqtt::Disconnect d;
    d.reason = reason;
    handle(id, link, d);
    lost(id, link);
  }

  // The timer expires: the shell forgets it and tells the broker.
  void fire(Timer timer) {
    ASSERT_TRUE(armed.contains(timer)) << "the timer was not armed";
    armed.erase(timer);
    broker().timer_fired(timer, out);
    apply();
  }

  template <class Change>
  std::vector<Change> stored_changes() const {
    std::vector<Change> found;
    for (const StoreChange& c : stored)
      if (const auto* x = std::get_if<Change>(&c)) found.push_back(*x);
    return found;
  }

  RouterOptions options;
  StoredState stored_state;  // what start() restores
  Actions out{LogLevel::debug};
  std::vector<Action> last;  // the actions of the last call
  std::map<Timer, std::chrono::milliseconds> armed;
  std::vector<StoreChange> stored;
  std::vector<std::string> subscription_changes;
  std::vector<std::string> logs;
  ConnectResult last_connect;

  void destroy_broker() { broker_.reset(); }

 private:
  std::unique_ptr<Broker> broker_;
};

MessagePtr message(std::string topic, std::string payload, QoS qos = QoS::AtMostOnce) {
  auto m = std::make_shared<Message>();
  m->topic = std::move(topic);
  m->payload = std::move(payload);
  m->qos = qos;
  m->received = Clock::now();
  return m;
}

// ---- QoS flows, routing, retained messages

TEST_F(BrokerTest, Qos1FlowIsAcknowledgedAndDelivered) {
  RecordingLink sub_link, pub_link;
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

TEST_F(BrokerTest, NoMatchingSubscribers) {
  RecordingLink link;
  const SessionId id = connect(link, "pub");
  publish(id, link, "nobody", "x", QoS::AtLeastOnce, 1);
  EXPECT_EQ(link.sent<mqtt::Puback>().at(0).reason, ReasonCode::NoMatchingSubscribers);
}

TEST_F(BrokerTest, OverlappingSubscriptionsDeliverOnceWithEveryIdentifier) {
  RecordingLink link;
  const SessionId id = connect(link, "sub");
  subscribe(id, link, "s/#", QoS::AtMostOnce, 7);
  subscribe(id, link, "s/+", QoS::AtLeastOnce, 9);
  RecordingLink pub_link;
  publish(connect(pub_link, "pub"), pub_link, "s/x", "once", QoS::ExactlyOnce, 1);
  ASSERT_EQ(link.publishes.size(), 1u);
  EXPECT_EQ(link.publishes[0].delivery.qos, QoS::AtLeastOnce);
  EXPECT_EQ(link.publishes[0].delivery.subscription_ids, (std::vector<std::uint32_t>{7, 9}));
}

TEST_F(BrokerTest, NoLocal) {
  RecordingLink link;
  const SessionId id = connect(link, "me");
  subscribe(id, link, "t", QoS::AtMostOnce, 0, /*no_local=*/true);
  publish(id, link, "t", "mine");
  EXPECT_TRUE(link.publishes.empty());
  RecordingLink other;
  publish(connect(other, "other"), other, "t", "theirs");
  EXPECT_EQ(link.payloads(), (std::vector<std::string>{"theirs"}));
}

TEST_F(BrokerTest, LocalMessagesReachInProcessSessionsOnly) {
  options.local_prefix = "local/";
  RecordingLink service, client;
  subscribe(connect(service, "service", {.in_process = true}), service, "t", QoS::AtMostOnce);
  subscribe(connect(client, "client"), client, "t", QoS::AtMostOnce);
  broker().publish(message("local/t", "here only"), out);
  apply();
  EXPECT_EQ(service.payloads(), (std::vector<std::string>{"here only"}));
  EXPECT_TRUE(client.publishes.empty());
}

TEST_F(BrokerTest, RetainedSetReplaceClear) {
  RecordingLink pub_link;
  const SessionId pub = connect(pub_link, "pub");
  publish(pub, pub_link, "r", "first", QoS::AtMostOnce, 0, true);
  publish(pub, pub_link, "r", "second", QoS::AtMostOnce, 0, true);
  EXPECT_EQ(broker().retained_count(), 1u);
  RecordingLink a;
  subscribe(connect(a, "a"), a, "#", QoS::AtLeastOnce);
  ASSERT_EQ(a.payloads(), (std::vector<std::string>{"second"}));
  EXPECT_TRUE(a.publishes[0].delivery.retain);
  publish(pub, pub_link, "r", "", QoS::AtMostOnce, 0, true);
  EXPECT_EQ(broker().retained_count(), 0u);
  RecordingLink b;
  subscribe(connect(b, "b"), b, "#", QoS::AtLeastOnce);
  EXPECT_TRUE(b.publishes.empty());
}

TEST_F(BrokerTest, SharedSubscriptionSpreadsMessages) {
  RecordingLink a, b;
  subscribe(connect(a, "a"), a, "$share/g/jobs", QoS::AtLeastOnce);
  subscribe(connect(b, "b"), b, "$share/g/jobs", QoS::AtLeastOnce);
  RecordingLink pub_link;
  const SessionId pub = connect(pub_link, "pub");
  for (int i = 0; i < 10; ++i)
    publish(pub, pub_link, "jobs", std::to_string(i));
  EXPECT_EQ(a.publishes.size() + b.publishes.size(), 10u);
  EXPECT_GT(a.publishes.size(), 0u);
  EXPECT_GT(b.publishes.size(), 0u);
}

TEST_F(BrokerTest, SubscriptionChangesAreAnnounced) {
  RecordingLink link;
  const SessionId id = connect(link, "s");
  subscribe(id, link, "a/#", QoS::AtMostOnce);
  subscribe(id, link, "a/#", QoS::AtLeastOnce);  // the same filter again: not new
  handle(id, link, mqtt::Unsubscribe{.packet_id = 2, .filters = {"a/#"}});
  subscribe(id, link, "b", QoS::AtMostOnce);
  lost(id, link);  // the session ends with its connection
  EXPECT_EQ(subscription_changes, (std::vector<std::string>{"+a/#", "-a/#", "+b", "-b"}));
}

// ---- wills

TEST_F(BrokerTest, WillOnAbnormalLossOnly) {
  RecordingLink watcher;
  subscribe(connect(watcher, "watcher"), watcher, "will/#", QoS::AtMostOnce);
  const mqtt::Will will{.topic = "will/x", .payload = "gone"};

  RecordingLink leaving;
  disconnect(connect(leaving, "leaving", {.will = will}), leaving);
  EXPECT_TRUE(watcher.publishes.empty());

  RecordingLink gone;
  lost(connect(gone, "lost", {.will = will}), gone);
  EXPECT_EQ(watcher.payloads(), (std::vector<std::string>{"gone"}));

  RecordingLink asked;
  disconnect(connect(asked, "asked", {.will = will}), asked, ReasonCode::DisconnectWithWill);
  EXPECT_EQ(watcher.payloads().size(), 2u);
}

TEST_F(BrokerTest, WillDelayIsATimerThatAReconnectCancels) {
  RecordingLink watcher;
  subscribe(connect(watcher, "watcher"), watcher, "will/#", QoS::AtMostOnce);
  mqtt::Will will{.topic = "will/x", .payload = "late"};
  will.properties.will_delay_interval = 30;

  RecordingLink first;
  const SessionId id = connect(first, "delayed", {.expiry = 60, .will = will});
  lost(id, first);
  EXPECT_TRUE(watcher.publishes.empty());
  EXPECT_EQ(armed.at({TimerKind::WillDelay, id}), 30s);
  EXPECT_EQ(armed.at({TimerKind::SessionExpiry, id}), 60s);
  RecordingLink back;
  connect(back, "delayed", {.clean = false, .expiry = 60});
  EXPECT_FALSE(armed.contains({TimerKind::WillDelay, id})) << "a reconnect cancels the will";
  EXPECT_FALSE(armed.contains({TimerKind::SessionExpiry, id}));

  RecordingLink other;
  const SessionId other_id = connect(other, "other", {.expiry = 60, .will = will});
  lost(other_id, other);
  fire({TimerKind::WillDelay, other_id});
  EXPECT_EQ(watcher.payloads(), (std::vector<std::string>{"late"}));
}

TEST_F(BrokerTest, AWillDelayLongerThanTheSessionEndsWithTheSession) {
  RecordingLink watcher;
  subscribe(connect(watcher, "watcher"), watcher, "will/#", QoS::AtMostOnce);
  mqtt::Will will{.topic = "will/x", .payload = "at expiry"};
  will.properties.will_delay_interval = 300;
  RecordingLink link;
  const SessionId id = connect(link, "short", {.expiry = 10, .will = will});
  lost(id, link);
  fire({TimerKind::SessionExpiry, id});
  EXPECT_EQ(watcher.payloads(), (std::vector<std::string>{"at expiry"}));
  EXPECT_EQ(broker().session_count(), 1u);  // the watcher's
  EXPECT_FALSE(armed.contains({TimerKind::WillDelay, id}));
}

// A clean stop closes the connections without a DISCONNECT from the clients: their wills are
// published first (MQTT 5 3.1.2.5), so that a connected subscriber gets them before its own
// DISCONNECT 0x8B.
TEST_F(BrokerTest, CloseAllPublishesTheWillsBeforeTheDisconnects) {
  RecordingLink watcher;
  subscribe(connect(watcher, "watcher"), watcher, "will/#", QoS::AtMostOnce);
  RecordingLink leaving, service;
  const SessionId id =
      connect(leaving, "leaving", {.will = mqtt::Will{.topic = "will/x", .payload = "gone"}});
  connect(service, "service",
          {.will = mqtt::Will{.topic = "will/service", .payload = "no"}, .in_process = true});
  broker().close_all(ReasonCode::ServerShuttingDown, out);
  apply();
  EXPECT_EQ(watcher.payloads(), (std::vector<std::string>{"gone"}))
      << "in-process sessions end with the node: no will";
  EXPECT_EQ(watcher.after_close, 0);
  const auto disconnects = watcher.sent<mqtt::Disconnect>();
  ASSERT_EQ(disconnects.size(), 1u);
  EXPECT_EQ(disconnects[0].reason, ReasonCode::ServerShuttingDown);
  EXPECT_TRUE(watcher.closed && leaving.closed);
  // The links report their end later: no will a second time.
  lost(id, leaving);
  EXPECT_EQ(watcher.payloads().size(), 1u);
}

// ---- keep alive

TEST_F(BrokerTest, KeepAliveTimeoutClosesWithDisconnect0x8D) {
  RecordingLink link;
  const SessionId id = connect(link, "quiet", {.keep_alive = 10});
  const Timer timer{TimerKind::KeepAlive, id};
  EXPECT_EQ(armed.at(timer), 15s) << "1.5 x keep alive";

  link.read_at = Clock::now() - 5s;  // it spoke lately: the timer moves to 1.5 x after that
  fire(timer);
  EXPECT_FALSE(link.closed);
  EXPECT_GT(armed.at(timer), 9s);
  EXPECT_LE(armed.at(timer), 10s);

  link.read_at = Clock::now() - 16s;
  fire(timer);
  ASSERT_EQ(link.sent<mqtt::Disconnect>().size(), 1u);
  EXPECT_EQ(link.sent<mqtt::Disconnect>()[0].reason, ReasonCode::KeepAliveTimeout);
  EXPECT_TRUE(link.closed);
  EXPECT_FALSE(armed.contains(timer));
  lost(id, link);
  EXPECT_EQ(broker().connected_count(), 0u);
}

TEST_F(BrokerTest, KeepAliveOfAV311ClientClosesWithoutDisconnect) {
  RecordingLink link;
  const SessionId id = connect(link, "old", {.version = Version::v311, .keep_alive = 2});
  link.read_at = Clock::now() - 4s;
  fire({TimerKind::KeepAlive, id});
  EXPECT_TRUE(link.sent<mqtt::Disconnect>().empty());
  EXPECT_TRUE(link.closed);
}

TEST_F(BrokerTest, NoKeepAliveTimerForZeroOrInProcess) {
  RecordingLink none, service;
  const SessionId a = connect(none, "none", {.keep_alive = 0});
  const SessionId b = connect(service, "service", {.keep_alive = 10, .in_process = true});
  EXPECT_FALSE(armed.contains({TimerKind::KeepAlive, a}));
  EXPECT_FALSE(armed.contains({TimerKind::KeepAlive, b}));
}

TEST_F(BrokerTest, APausedConnectionIsNotTimedOut) {
  options.limits.max_queued_messages = 4;
  RecordingLink sub_link, pub_link;
  const SessionId sub = connect(sub_link, "sub", {.receive_maximum = 1});
  subscribe(sub, sub_link, "t", QoS::AtLeastOnce);
  const SessionId pub = connect(pub_link, "pub", {.keep_alive = 10});
  for (std::uint16_t i = 1; i <= 4; ++i)
    publish(pub, pub_link, "t", "x", QoS::AtLeastOnce, i);
  ASSERT_TRUE(pub_link.paused);
  pub_link.read_at = Clock::now() - 60s;
  fire({TimerKind::KeepAlive, pub});
  EXPECT_FALSE(pub_link.closed) << "it reads nothing on purpose";
  EXPECT_EQ(armed.at({TimerKind::KeepAlive, pub}), 15s);
}

// --max-keepalive: a v5 client asking for more, or for none, is told the cap (Server Keep Alive)
// and timed out by it; a v3.1.1 client, which cannot be told, keeps its own.
TEST_F(BrokerTest, MaxKeepAliveIsServerKeepAliveForV5Only) {
  options.limits.max_keep_alive = 10;
  const auto server_keep_alive = [](const RecordingLink& link) {
    return link.sent<mqtt::Connack>().at(0).properties.server_keep_alive;
  };
  RecordingLink asks_more, asks_none, within, v3, service;
  const SessionId more = connect(asks_more, "more", {.keep_alive = 60});
  EXPECT_EQ(server_keep_alive(asks_more), 10);
  EXPECT_EQ(last_connect.keep_alive, 10);
  EXPECT_EQ(armed.at({TimerKind::KeepAlive, more}), 15s);
  connect(asks_none, "none", {.keep_alive = 0});
  EXPECT_EQ(server_keep_alive(asks_none), 10);
  EXPECT_EQ(last_connect.keep_alive, 10);
  connect(within, "within", {.keep_alive = 5});
  EXPECT_EQ(server_keep_alive(within), std::nullopt);
  EXPECT_EQ(last_connect.keep_alive, 5);
  const SessionId old = connect(v3, "v3", {.version = Version::v311, .keep_alive = 60});
  EXPECT_EQ(last_connect.keep_alive, 60);
  EXPECT_EQ(armed.at({TimerKind::KeepAlive, old}), 90s);
  connect(service, "service", {.keep_alive = 0, .in_process = true});
  EXPECT_EQ(server_keep_alive(service), std::nullopt) << "an in-process session is not timed out";
}

// ---- sessions: resume, takeover, expiry

TEST_F(BrokerTest, PersistentSessionQueuesQos1WhileAway) {
  RecordingLink first;
  const SessionId id = connect(first, "keeper", {.expiry = 300});
  subscribe(id, first, "q", QoS::AtLeastOnce);
  disconnect(id, first);
  RecordingLink pub_link;
  const SessionId pub = connect(pub_link, "pub");
  publish(pub, pub_link, "q", "kept", QoS::AtLeastOnce, 1);
  publish(pub, pub_link, "q", "not kept (QoS 0)");

  RecordingLink back;
  EXPECT_EQ(connect(back, "keeper", {.clean = false, .expiry = 300}), id);
  ASSERT_EQ(back.sent<mqtt::Connack>().size(), 1u);
  EXPECT_TRUE(back.sent<mqtt::Connack>()[0].session_present);
  EXPECT_EQ(back.payloads(), (std::vector<std::string>{"kept"}));
}

TEST_F(BrokerTest, InFlightMessagesAreResentWithDupOnResume) {
  RecordingLink first;
  const SessionId id = connect(first, "keeper", {.expiry = 300});
  subscribe(id, first, "q", QoS::ExactlyOnce);
  RecordingLink pub_link;
  const SessionId pub = connect(pub_link, "pub");
  publish(pub, pub_link, "q", "one", QoS::ExactlyOnce, 1);
  publish(pub, pub_link, "q", "two", QoS::ExactlyOnce, 2);
  ASSERT_EQ(first.publishes.size(), 2u);
  handle(id, first, mqtt::Pubrec{.packet_id = first.publishes[0].packet_id});  // "one" received
  lost(id, first);

  RecordingLink back;
  connect(back, "keeper", {.clean = false, .expiry = 300});
  ASSERT_EQ(back.sent<mqtt::Pubrel>().size(), 1u);
  EXPECT_EQ(back.sent<mqtt::Pubrel>()[0].packet_id, first.publishes[0].packet_id);
  ASSERT_EQ(back.publishes.size(), 1u);
  EXPECT_EQ(back.publishes[0].delivery.message->payload, "two");
  EXPECT_TRUE(back.publishes[0].dup);
  EXPECT_EQ(back.publishes[0].packet_id, first.publishes[1].packet_id);
}

TEST_F(BrokerTest, TakeoverClosesTheOldConnectionAndPublishesItsWill) {
  RecordingLink watcher;
  subscribe(connect(watcher, "watcher"), watcher, "will/#", QoS::AtMostOnce);
  RecordingLink first, second;
  const SessionId id = connect(
      first, "twin", {.expiry = 60, .will = mqtt::Will{.topic = "will/twin", .payload = "x"}});
  subscribe(id, first, "t", QoS::AtLeastOnce);
  EXPECT_EQ(connect(second, "twin", {.clean = false, .expiry = 60}), id);
  ASSERT_EQ(first.sent<mqtt::Disconnect>().size(), 1u);
  const mqtt::Disconnect d = first.sent<mqtt::Disconnect>()[0];
  EXPECT_EQ(d.reason, ReasonCode::SessionTakenOver);
  // paho-mqtt 1.6 reads the reason code of a DISCONNECT only when it is longer than 2 bytes.
  EXPECT_TRUE(d.properties.reason_string.has_value());
  EXPECT_TRUE(first.closed);
  EXPECT_FALSE(second.closed);
  EXPECT_TRUE(second.sent<mqtt::Connack>().at(0).session_present);
  EXPECT_EQ(watcher.payloads(), (std::vector<std::string>{"x"}))
      << "the old connection did not end with a DISCONNECT";
  // The old connection's end, reported later, is ignored: the session is the new one's.
  lost(id, first);
  EXPECT_EQ(broker().connected_count(), 2u);
  RecordingLink pub_link;
  publish(connect(pub_link, "pub"), pub_link, "t", "to the new one", QoS::AtLeastOnce, 1);
  EXPECT_EQ(second.payloads(), (std::vector<std::string>{"to the new one"}));
}

TEST_F(BrokerTest, SessionExpiryEndsTheSession) {
  RecordingLink link;
  const SessionId id = connect(link, "brief", {.expiry = 120});
  subscribe(id, link, "t", QoS::AtLeastOnce);
  lost(id, link);
  EXPECT_EQ(armed.at({TimerKind::SessionExpiry, id}), 120s);
  EXPECT_EQ(broker().session_count(), 1u);
  fire({TimerKind::SessionExpiry, id});
  EXPECT_EQ(broker().session_count(), 0u);
  EXPECT_EQ(broker().subscription_count(), 0u);
  RecordingLink back;
  connect(back, "brief", {.clean = false, .expiry = 120});
  EXPECT_FALSE(back.sent<mqtt::Connack>().at(0).session_present);
}

// ---- limits

TEST_F(BrokerTest, FullOfflineQueueRefusesTheNewestWithQuotaExceeded) {
  options.limits.max_queued_messages = 2;
  RecordingLink first;
  const SessionId id = connect(first, "away", {.expiry = 300});
  subscribe(id, first, "q", QoS::AtLeastOnce);
  disconnect(id, first);
  RecordingLink pub_link;
  const SessionId pub = connect(pub_link, "pub");
  for (std::uint16_t i = 1; i <= 3; ++i)
    publish(pub, pub_link, "q", std::to_string(i), QoS::AtLeastOnce, i);
  const auto acks = pub_link.sent<mqtt::Puback>();
  ASSERT_EQ(acks.size(), 3u);
  EXPECT_EQ(acks[0].reason, ReasonCode::Success);
  EXPECT_EQ(acks[1].reason, ReasonCode::Success);
  EXPECT_EQ(acks[2].reason, ReasonCode::QuotaExceeded);
  EXPECT_EQ(broker().stats().messages_dropped, 1u);
  RecordingLink back;
  connect(back, "away", {.clean = false, .expiry = 300});
  EXPECT_EQ(back.payloads(), (std::vector<std::string>{"1", "2"}));
}

TEST_F(BrokerTest, Qos0ToALinkPastItsBacklogLimitIsDroppedAndCounted) {
  options.limits.max_backlog_bytes = 1000;
  RecordingLink slow, pub_link;
  subscribe(connect(slow, "slow"), slow, "t", QoS::AtMostOnce);
  const SessionId pub = connect(pub_link, "pub");
  publish(pub, pub_link, "t", "sent");
  slow.backlog_bytes = 1001;
  publish(pub, pub_link, "t", "dropped");
  EXPECT_EQ(slow.payloads(), (std::vector<std::string>{"sent"}));
  EXPECT_EQ(broker().stats().messages_dropped, 1u);
}

TEST_F(BrokerTest, MessageThatExpiredInAConnectedSessionsQueueIsNotSent) {
  RecordingLink link;
  const SessionId id = connect(link, "slow", {.receive_maximum = 1});
  subscribe(id, link, "e", QoS::AtLeastOnce);
  const auto expiring = [](std::string payload, std::optional<std::uint32_t> expiry,
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
  broker().publish(expiring("first", std::nullopt, now), out);
  broker().publish(expiring("expired", 1, now - 5s), out);  // waits behind "first", expired
  broker().publish(expiring("last", 60, now), out);
  apply();
  ASSERT_EQ(link.payloads(), (std::vector<std::string>{"first"}));
  handle(id, link, mqtt::Puback{.packet_id = link.publishes[0].packet_id});
  EXPECT_EQ(link.payloads(), (std::vector<std::string>{"first", "last"}));
}

TEST_F(BrokerTest, APublishTheLinkCouldNotSendEndsItsFlow) {
  RecordingLink link;
  const SessionId id = connect(link, "small", {.receive_maximum = 1});
  subscribe(id, link, "t", QoS::AtLeastOnce);
  broker().publish(message("t", "too large", QoS::AtLeastOnce), out);
  broker().publish(message("t", "next", QoS::AtLeastOnce), out);
  apply();
  ASSERT_EQ(link.payloads(), (std::vector<std::string>{"too large"}));
  broker().publish_discarded(id, link, link.publishes[0].packet_id, out);
  apply();
  EXPECT_EQ(link.payloads(), (std::vector<std::string>{"too large", "next"}));
  EXPECT_EQ(broker().stats().messages_dropped, 1u);
}

// ---- the bugs the integration tests found

TEST_F(BrokerTest, RefusedQos2MessageFreesItsPacketId) {
  options.acl = std::make_shared<Acl>(Acl::parse("topic readwrite open/#\n", "test acl"));
  // Anonymous clients may use open/# only.
  RecordingLink sub_link, pub_link;
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

// ---- backpressure: Link::pause and Link::resume

// Congestion without sockets: a RecordingLink has no backlog, so a session is congested when
// more than max_queued_messages / 2 messages wait behind its window (Receive Maximum 1 here).
class BackpressureTest : public BrokerTest {
 protected:
  BackpressureTest() { options.limits.max_queued_messages = 4; }

  // Publishes `count` QoS 1 messages on `topic`; true if the broker paused the link after any.
  // (A paused connection reads nothing more; the test goes on as if it had been resumed.)
  bool flood(SessionId id, RecordingLink& link, std::string_view topic, int count) {
    bool paused = false;
    for (int i = 0; i < count; ++i) {
      link.paused = false;
      publish(id, link, topic, std::to_string(i), QoS::AtLeastOnce, next_id_++);
      paused = paused || link.paused;
    }
    return paused;
  }
  // Acknowledges what `link` was sent (and what that lets the broker send next).
  void ack_all(SessionId id, RecordingLink& link) {
    for (std::size_t i = 0; i < link.publishes.size(); ++i)
      handle(id, link, mqtt::Puback{.packet_id = link.publishes[i].packet_id});
  }
  bool pauses(const std::vector<Action>& actions) {
    return std::any_of(actions.begin(), actions.end(),
                       [](const Action& a) { return std::holds_alternative<action::Pause>(a); });
  }

  std::uint16_t next_id_ = 1;
};

TEST_F(BackpressureTest, ASlowSubscriberPausesItsPublisherUntilItDrains) {
  RecordingLink sub_link, pub_link;
  const SessionId sub = connect(sub_link, "sub", {.receive_maximum = 1});
  subscribe(sub, sub_link, "t", QoS::AtLeastOnce);
  const SessionId pub = connect(pub_link, "pub");
  for (int i = 0; i < 3; ++i) {
    publish(pub, pub_link, "t", std::to_string(i), QoS::AtLeastOnce, next_id_++);
    EXPECT_FALSE(pub_link.paused) << i;
  }
  publish(pub, pub_link, "t", "3", QoS::AtLeastOnce, next_id_++);
  EXPECT_TRUE(pub_link.paused);
  // The pause comes after the PUBACK of the message that caused it.
  ASSERT_GE(last.size(), 2u);
  EXPECT_TRUE(std::holds_alternative<action::Pause>(last.back()));
  ack_all(sub, sub_link);
  EXPECT_FALSE(pub_link.paused);
  EXPECT_EQ(sub_link.publishes.size(), 4u);
}

// Hysteresis: congested past max_queued_messages / 2 queued, drained at a quarter. Resuming at
// one below had every paused publisher read one PUBLISH and pause again (fan-in thrash).
TEST_F(BackpressureTest, APausedPublisherResumesOnlyOnceTheQueueIsWellBelowCongestion) {
  options.limits.max_queued_messages = 8;  // congested past 4 queued, drained at 2
  RecordingLink sub_link, pub_link;
  const SessionId sub = connect(sub_link, "sub", {.receive_maximum = 1});
  subscribe(sub, sub_link, "t", QoS::AtLeastOnce);
  const SessionId pub = connect(pub_link, "pub");
  EXPECT_TRUE(flood(pub, pub_link, "t", 6));  // 1 in flight, 5 queued
  ASSERT_TRUE(pub_link.paused);
  const auto ack_next = [&] {
    handle(sub, sub_link, mqtt::Puback{.packet_id = sub_link.publishes.back().packet_id});
  };
  ack_next();  // 4 queued: no longer congested, not drained either
  EXPECT_TRUE(pub_link.paused);
  ack_next();  // 3
  EXPECT_TRUE(pub_link.paused);
  ack_next();  // 2: drained
  EXPECT_FALSE(pub_link.paused);
}

TEST_F(BackpressureTest, APublisherNeverWaitsForItsOwnSubscription) {
  // It would stop reading the very PUBACKs that drain its queue: a self-deadlock.
  RecordingLink link;
  const SessionId self = connect(link, "loop", {.receive_maximum = 1});
  subscribe(self, link, "loop/t", QoS::AtLeastOnce);
  EXPECT_FALSE(flood(self, link, "loop/t", 4));
  // Its session is congested all the same: another publisher does wait for it.
  RecordingLink other_link;
  EXPECT_TRUE(flood(connect(other_link, "other"), other_link, "loop/t", 1));
}

TEST_F(BackpressureTest, RetainedMessagesOnSubscribeNeverPauseTheSubscriber) {
  RecordingLink pub_link;
  const SessionId pub = connect(pub_link, "pub");
  for (int i = 0; i < 4; ++i)
    publish(pub, pub_link, "r/" + std::to_string(i), "kept", QoS::AtLeastOnce, 1, true);
  RecordingLink link;
  const SessionId sub = connect(link, "sub", {.receive_maximum = 1});
  subscribe(sub, link, "r/#", QoS::AtLeastOnce);
  EXPECT_FALSE(pauses(last));
}

TEST_F(BackpressureTest, OnlyAPublishQueuedForACongestedSessionPauses) {
  RecordingLink sub_link, pub_link;
  const SessionId sub = connect(sub_link, "sub", {.receive_maximum = 1});
  subscribe(sub, sub_link, "t", QoS::AtLeastOnce);
  const SessionId pub = connect(pub_link, "pub");
  EXPECT_TRUE(flood(pub, pub_link, "t", 4));
  // Not a PUBLISH: nothing to wait for, although the subscriber is still congested.
  handle(pub, pub_link, mqtt::Pingreq{});
  EXPECT_FALSE(pauses(last));
  // Nor a PUBLISH that no congested session gets.
  EXPECT_FALSE(flood(pub, pub_link, "elsewhere", 1));
  // Nor a CONNECT, nor the router's own messages.
  RecordingLink late;
  connect(late, "late");
  EXPECT_FALSE(pauses(last));
  broker().publish(message("t", "own", QoS::AtLeastOnce), out);
  apply();
  EXPECT_FALSE(pauses(last));
}

TEST_F(BackpressureTest, ClientsThatFeedEachOtherDoNotWaitForEachOther) {
  // a subscribes to what b publishes and the reverse, both slow. Once b waits for a, a must
  // not wait for b: neither would read the PUBACKs that drain it.
  RecordingLink a_link, b_link;
  const SessionId a = connect(a_link, "a", {.receive_maximum = 1});
  const SessionId b = connect(b_link, "b", {.receive_maximum = 1});
  subscribe(a, a_link, "to/a", QoS::AtLeastOnce);
  subscribe(b, b_link, "to/b", QoS::AtLeastOnce);
  ASSERT_TRUE(flood(b, b_link, "to/a", 4));
  // b is paused (it reads nothing); b's queue fills all the same.
  EXPECT_FALSE(flood(a, a_link, "to/b", 4));
  b_link.paused = true;
  ack_all(a, a_link);
  EXPECT_FALSE(b_link.paused) << "resumed";
  ack_all(b, b_link);
  EXPECT_EQ(a_link.publishes.size(), 4u);
  EXPECT_EQ(b_link.publishes.size(), 4u);
  // Resumed, b is waited for again.
  RecordingLink c_link;
  const SessionId c = connect(c_link, "c");
  flood(b, b_link, "to/b", 4);  // b's own: no pause, but b is congested now
  EXPECT_TRUE(flood(c, c_link, "to/b", 1));
}

TEST_F(BackpressureTest, APausedPublisherThatDisconnectsIsWaitedForAgainOnItsNextConnection) {
  RecordingLink sub_link, first;
  const SessionId sub = connect(sub_link, "sub", {.receive_maximum = 1});
  subscribe(sub, sub_link, "t", QoS::AtLeastOnce);
  const SessionId pub = connect(first, "pub", {.expiry = 60, .receive_maximum = 1});
  subscribe(pub, first, "back", QoS::AtLeastOnce);
  ASSERT_TRUE(flood(pub, first, "t", 4));
  lost(pub, first);
  RecordingLink second;
  ASSERT_EQ(connect(second, "pub", {.clean = false, .expiry = 60, .receive_maximum = 1}), pub);
  flood(pub, second, "back", 4);  // congests its own session
  RecordingLink other;
  EXPECT_TRUE(flood(connect(other, "other"), other, "back", 1));
  ack_all(sub, sub_link);
  // The old connection's pause ended with it: nothing resumes the new one, which never paused.
  EXPECT_FALSE(second.paused);
}

// ---- what fuzz/fuzz_router_session found

// Whatever the broker sends must encode: the fuzz harness checks every packet the same way.
template <class P>
void expect_encodes(const P& packet, Version version) {
  std::string out;
  const mqtt::Error e = mqtt::encode(mqtt::Packet(packet), version, out);
  EXPECT_FALSE(e) << mqtt::to_string(e);
}

TEST_F(BrokerTest, AuthAfterConnectIsAProtocolErrorWithADisconnectThatEncodes) {
  // The fuzzer's input: a v5 client without an Authentication Method sends AUTH. The router
  // answered DISCONNECT 0x8C (Bad authentication method), a code only CONNACK may carry.
  RecordingLink link;
  const SessionId id = connect(link, "auth");
  ASSERT_NE(id, 0u);
  handle(id, link, mqtt::Auth{});
  ASSERT_EQ(link.sent<mqtt::Disconnect>().size(), 1u);
  const mqtt::Disconnect d = link.sent<mqtt::Disconnect>()[0];
  EXPECT_EQ(d.reason, ReasonCode::ProtocolError);
  expect_encodes(d, Version::v5);
  EXPECT_TRUE(link.closed);
}

TEST_F(BrokerTest, ConnectAskingForEnhancedAuthenticationIsRefused) {
  RecordingLink link;
  mqtt::Connect c;
  c.client_id = "scram";
  c.properties.authentication_method = "SCRAM-SHA-1";
  EXPECT_EQ(broker().connect(link, c, {.remote = "test"}, out).session, 0u);
  apply();
  ASSERT_EQ(link.sent<mqtt::Connack>().size(), 1u);
  const mqtt::Connack ack = link.sent<mqtt::Connack>()[0];
  EXPECT_EQ(ack.reason, ReasonCode::BadAuthenticationMethod);
  expect_encodes(ack, Version::v5);
  EXPECT_TRUE(link.closed);
  EXPECT_EQ(broker().connected_count(), 0u);
}

// ---- $SYS

TEST_F(BrokerTest, SysTopicsArePublishedRetainedEveryInterval) {
  options.sys_interval_seconds = 10;
  broker();
  EXPECT_EQ(armed.at({TimerKind::Sys, 0}), 10s);
  fire({TimerKind::Sys, 0});
  EXPECT_EQ(armed.at({TimerKind::Sys, 0}), 10s) << "armed again";
  RecordingLink link;
  subscribe(connect(link, "watcher"), link, "$SYS/broker/clients/connected", QoS::AtMostOnce);
  ASSERT_EQ(link.payloads(), (std::vector<std::string>{"0"}));  // retained: no one was connected
  EXPECT_TRUE(link.publishes[0].delivery.retain);
}

// ---- persistence: the changes the broker asks to store (with --data)

class DurableBrokerTest : public BrokerTest {
 protected:
  DurableBrokerTest() {
    dir_ = std::filesystem::temp_directory_path() /
           ("psos-broker-test-" + std::to_string(std::random_device{}()));
    std::string error;
    // The broker only asks whether there is one: nothing is written to it here.
    options.persistence = Persistence::open(dir_, error);
  }
  ~DurableBrokerTest() override {
    destroy_broker();
    options.persistence.reset();
    std::filesystem::remove_all(dir_);
  }

  std::filesystem::path dir_;
};

TEST_F(DurableBrokerTest, APersistentSessionAndItsQueueAreStored) {
  RecordingLink first;
  const SessionId id = connect(first, "keeper", {.expiry = 300});
  ASSERT_EQ(stored_changes<store::PutSession>().size(), 1u);
  EXPECT_EQ(stored_changes<store::PutSession>()[0].disconnected_at, 0);
  subscribe(id, first, "q", QoS::ExactlyOnce);
  ASSERT_EQ(stored_changes<store::PutSubscription>().size(), 1u);
  EXPECT_EQ(stored_changes<store::PutSubscription>()[0].filter, "q");
  lost(id, first);
  ASSERT_EQ(stored_changes<store::PutSession>().size(), 2u);
  EXPECT_NE(stored_changes<store::PutSession>()[1].disconnected_at, 0) << "when it went away";

  RecordingLink pub_link;
  publish(connect(pub_link, "pub"), pub_link, "q", "kept", QoS::AtLeastOnce, 1);
  const auto queued = stored_changes<store::PutQueued>();
  ASSERT_EQ(queued.size(), 1u);
  EXPECT_EQ(queued[0].client_id, "keeper");
  EXPECT_EQ(queued[0].message->payload, "kept");

  RecordingLink back;
  connect(back, "keeper", {.clean = false, .expiry = 300});
  const auto sent = stored_changes<store::UpdateQueued>();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].seq, queued[0].seq);
  EXPECT_EQ(sent[0].packet_id, back.publishes.at(0).packet_id);
  EXPECT_EQ(sent[0].stage, mqtt::OutboundStage::AwaitingPuback);
  handle(id, back, mqtt::Puback{.packet_id = sent[0].packet_id});
  ASSERT_EQ(stored_changes<store::EraseQueued>().size(), 1u);
  EXPECT_EQ(stored_changes<store::EraseQueued>()[0].seq, queued[0].seq);
}

TEST_F(DurableBrokerTest, ReceivedQos2IdsAreStoredUntilPubrel) {
  RecordingLink link;
  const SessionId id = connect(link, "qos2", {.expiry = 300});
  publish(id, link, "t", "x", QoS::ExactlyOnce, 9);
  ASSERT_EQ(stored_changes<store::PutInbound>().size(), 1u);
  EXPECT_EQ(stored_changes<store::PutInbound>()[0].packet_id, 9);
  handle(id, link, mqtt::Pubrel{.packet_id = 9});
  ASSERT_EQ(stored_changes<store::EraseInbound>().size(), 1u);
  EXPECT_EQ(link.sent<mqtt::Pubcomp>().at(0).packet_id, 9);
}

TEST_F(DurableBrokerTest, RetainedMessagesAndWillsAreStored) {
  RecordingLink link;
  const SessionId id =
      connect(link, "w", {.expiry = 300, .will = mqtt::Will{.topic = "will/w", .payload = "x"}});
  ASSERT_EQ(stored_changes<store::PutWill>().size(), 1u);
  publish(id, link, "r", "kept", QoS::AtMostOnce, 0, true);
  publish(id, link, "r", "", QoS::AtMostOnce, 0, true);
  ASSERT_EQ(stored_changes<store::PutRetained>().size(), 1u);
  ASSERT_EQ(stored_changes<store::EraseRetained>().size(), 1u);
  EXPECT_EQ(stored_changes<store::EraseRetained>()[0].topic, "r");
  disconnect(id, link);  // a normal DISCONNECT: the will is gone
  EXPECT_EQ(stored_changes<store::EraseWill>().size(), 1u);
}

TEST_F(DurableBrokerTest, ACleanSessionStoresNothing) {
  RecordingLink link;
  const SessionId id = connect(link, "clean");
  subscribe(id, link, "t", QoS::AtLeastOnce);
  publish(id, link, "t", "x", QoS::AtLeastOnce, 1);
  disconnect(id, link);
  EXPECT_TRUE(stored.empty());
}

TEST_F(DurableBrokerTest, TheStoredStateComesBackWithItsTimers) {
  StoredSession s;
  s.client_id = "back";
  s.expiry_interval = 600;
  s.disconnected_at = wall_seconds() - 100;
  s.subscriptions.emplace_back("t/#", mqtt::SubscriptionOptions{.qos = QoS::AtLeastOnce});
  s.queue.push_back(
      StoredDelivery{.seq = 4, .message = message("t/x", "queued", QoS::AtLeastOnce)});
  s.will = message("will/back", "gone");
  s.will_delay = 30;
  stored_state.sessions.push_back(s);
  stored_state.retained.push_back(message("r", "retained"));
  broker();
  EXPECT_EQ(broker().session_count(), 1u);
  EXPECT_EQ(broker().retained_count(), 1u);
  EXPECT_EQ(subscription_changes, (std::vector<std::string>{"+t/#"}));
  // Its will was due 70 s ago: now. Its session expires 600 s after it went away.
  EXPECT_EQ(armed.at({TimerKind::WillDelay, 1}), 0s);
  const auto expiry = armed.at({TimerKind::SessionExpiry, 1});
  EXPECT_GE(expiry, 499s);
  EXPECT_LE(expiry, 500s);

  RecordingLink link;
  EXPECT_EQ(connect(link, "back", {.clean = false, .expiry = 600}), 1u);
  EXPECT_EQ(link.payloads(), (std::vector<std::string>{"queued"}));
  EXPECT_EQ(link.publishes[0].delivery.seq, 4u);
}

}  // namespace
}  // namespace psos::router
