// The client's protocol state (client::Session) with no sockets: the test plays the broker,
// encoding its packets with mqtt::encode and decoding what the session wrote with a
// StreamDecoder. Covers CONNECT contents, CONNACK refusals, QoS 1/2 flows in both directions,
// resend after reconnect with and without a resumed session, the offline queue bound, the
// broker's Receive Maximum and Maximum Packet Size, and protocol errors.
#include "client/session.hpp"

#include <gtest/gtest.h>

#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "mqtt/codec.hpp"
#include "mqtt/stream_decoder.hpp"

namespace psos::client::test {
namespace {

using mqtt::QoS;
using mqtt::ReasonCode;

struct Recorder final : SessionEvents {
  std::vector<ConnackInfo> connacks;
  std::vector<MessagePtr> messages;
  std::vector<std::pair<Token, ReasonCode>> done;
  std::vector<std::pair<Token, std::vector<ReasonCode>>> subacks;
  std::vector<Token> unsubacks;
  std::vector<Token> dropped;

  void on_connack(const ConnackInfo& info) override { connacks.push_back(info); }
  void on_message(MessagePtr message) override { messages.push_back(std::move(message)); }
  void on_publish_done(Token token, ReasonCode reason) override {
    done.emplace_back(token, reason);
  }
  void on_subscribe_done(Token token, const std::vector<ReasonCode>& reasons) override {
    subacks.emplace_back(token, reasons);
  }
  void on_unsubscribe_done(Token token) override { unsubacks.push_back(token); }
  void on_dropped(Token token) override { dropped.push_back(token); }
};

MessagePtr make(std::string topic, std::string payload, QoS qos, bool retain = false) {
  auto m = std::make_shared<Message>();
  m->topic = std::move(topic);
  m->payload = std::move(payload);
  m->qos = qos;
  m->retain = retain;
  return m;
}

template <class P>
const P& as(const mqtt::Packet& packet) {
  const P* p = std::get_if<P>(&packet);
  if (p == nullptr) {
    ADD_FAILURE() << "expected " << mqtt::packet_name(mqtt::packet_type_v<P>) << ", got "
                  << mqtt::packet_name(mqtt::type_of(packet));
    static const P empty{};
    return empty;
  }
  return *p;
}

class SessionTest : public testing::Test {
 protected:
  void make_session(SessionOptions o) {
    version_ = o.version;
    session_ = std::make_unique<Session>(std::move(o), events_);
  }
  Session& session() {
    if (!session_) make_session({});
    return *session_;
  }

  // Everything the session wrote since the last call, decoded. The bytes are kept alive for the
  // views in the packets.
  std::vector<mqtt::Packet> written() {
    std::string out;
    session().take_output(out);
    std::vector<mqtt::Packet> packets;
    if (out.empty()) return packets;
    kept_.push_back(std::move(out));
    decoder_.feed(kept_.back());
    while (true) {
      mqtt::Packet p;
      const auto status = decoder_.next(p);
      if (status == mqtt::StreamDecoder::Status::NeedMore) break;
      if (status == mqtt::StreamDecoder::Status::Failed) {
        ADD_FAILURE() << "the session wrote a malformed packet: " << mqtt::to_string(decoder_.error());
        break;
      }
      packets.push_back(std::move(p));
    }
    return packets;
  }

  // The broker sends `packet`; returns the session's error ("" when none).
  std::string feed(const mqtt::Packet& packet) {
    std::string bytes;
    const mqtt::Error e = mqtt::encode(packet, version_, bytes);
    EXPECT_FALSE(e) << mqtt::to_string(e);
    return session().on_bytes(bytes);
  }

  // A new transport: returns the CONNECT the session wrote.
  mqtt::Connect start() {
    session().connection_started();
    decoder_ = mqtt::StreamDecoder(version_);
    auto packets = written();
    EXPECT_EQ(packets.size(), 1u);
    if (packets.empty()) return {};
    return as<mqtt::Connect>(packets.front());
  }

  // Connects and accepts: returns what the session wrote after CONNACK.
  std::vector<mqtt::Packet> connect(bool session_present = false, mqtt::Properties props = {}) {
    start();
    mqtt::Connack c;
    c.session_present = session_present;
    c.properties = std::move(props);
    EXPECT_EQ(feed(c), "");
    EXPECT_TRUE(session().connected());
    return written();
  }

  void reconnect_lost() { session().connection_lost(); }

  std::string ack_puback(std::uint16_t id, ReasonCode reason = ReasonCode::Success) {
    mqtt::Puback a;
    a.packet_id = id;
    a.reason = reason;
    return feed(a);
  }
  std::string ack_pubrec(std::uint16_t id, ReasonCode reason = ReasonCode::Success) {
    mqtt::Pubrec a;
    a.packet_id = id;
    a.reason = reason;
    return feed(a);
  }
  std::string ack_pubcomp(std::uint16_t id) {
    mqtt::Pubcomp a;
    a.packet_id = id;
    return feed(a);
  }
  std::string send_publish(std::string_view topic, std::string_view payload, QoS qos,
                           std::uint16_t id, bool dup = false) {
    mqtt::Publish p;
    p.topic = topic;
    p.payload = payload;
    p.qos = qos;
    p.packet_id = id;
    p.dup = dup;
    return feed(p);
  }
  std::string send_pubrel(std::uint16_t id) {
    mqtt::Pubrel r;
    r.packet_id = id;
    return feed(r);
  }

  // The single packet written, of type P.
  template <class P>
  P only() {
    auto packets = written();
    EXPECT_EQ(packets.size(), 1u);
    if (packets.size() != 1) return P{};
    return as<P>(packets.front());
  }

  Recorder events_;
  mqtt::Version version_ = mqtt::Version::v5;
  std::unique_ptr<Session> session_;
  mqtt::StreamDecoder decoder_;
  std::deque<std::string> kept_;
};

bool contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

// ---- CONNECT ----

TEST_F(SessionTest, ConnectV5CarriesEveryOption) {
  SessionOptions o;
  o.version = mqtt::Version::v5;
  o.client_id = "node-1";
  o.clean_start = false;
  o.session_expiry_interval = 600;
  o.keep_alive = 30;
  o.username = "user";
  o.password = std::string("pa\0ss", 5);
  Will will;
  will.message = *make("nodes/node-1/status", "gone", QoS::AtLeastOnce, true);
  will.message.content_type = "text/plain";
  will.delay_seconds = 5;
  o.will = will;
  o.receive_maximum = 10;
  o.max_packet_size = 4096;
  make_session(o);
  const mqtt::Connect c = start();
  EXPECT_EQ(c.version, mqtt::Version::v5);
  EXPECT_EQ(c.client_id, "node-1");
  EXPECT_FALSE(c.clean_start);
  EXPECT_EQ(c.keep_alive, 30);
  ASSERT_TRUE(c.username);
  EXPECT_EQ(*c.username, "user");
  ASSERT_TRUE(c.password);
  EXPECT_EQ(*c.password, std::string_view("pa\0ss", 5));
  ASSERT_TRUE(c.will);
  EXPECT_EQ(c.will->topic, "nodes/node-1/status");
  EXPECT_EQ(c.will->payload, "gone");
  EXPECT_EQ(c.will->qos, QoS::AtLeastOnce);
  EXPECT_TRUE(c.will->retain);
  EXPECT_EQ(c.will->properties.will_delay_interval, 5u);
  EXPECT_EQ(c.will->properties.content_type, "text/plain");
  EXPECT_EQ(c.properties.session_expiry_interval, 600u);
  EXPECT_EQ(c.properties.receive_maximum, 10);
  EXPECT_EQ(c.properties.maximum_packet_size, 4096u);
  EXPECT_FALSE(session().connected());
}

TEST_F(SessionTest, ConnectV5DefaultsSendNoOptionalProperties) {
  make_session({});
  const mqtt::Connect c = start();
  EXPECT_TRUE(c.clean_start);
  EXPECT_EQ(c.keep_alive, 60);
  EXPECT_FALSE(c.username);
  EXPECT_FALSE(c.will);
  EXPECT_FALSE(c.properties.session_expiry_interval);
  EXPECT_FALSE(c.properties.receive_maximum);
  EXPECT_FALSE(c.properties.maximum_packet_size);
}

TEST_F(SessionTest, ConnectV311HasNoV5Properties) {
  SessionOptions o;
  o.version = mqtt::Version::v311;
  o.client_id = "old";
  o.clean_start = false;
  o.session_expiry_interval = 600;  // v3.1.1 cannot say it: the session is kept by !clean_start
  o.receive_maximum = 5;
  Will will;
  will.message = *make("w", "x", QoS::ExactlyOnce);
  will.message.content_type = "text/plain";
  will.delay_seconds = 9;
  o.will = will;
  make_session(o);
  const mqtt::Connect c = start();
  EXPECT_EQ(c.version, mqtt::Version::v311);
  EXPECT_EQ(c.client_id, "old");
  EXPECT_FALSE(c.clean_start);
  EXPECT_TRUE(c.properties.empty());
  ASSERT_TRUE(c.will);
  EXPECT_EQ(c.will->qos, QoS::ExactlyOnce);
  EXPECT_TRUE(c.will->properties.empty());
}

TEST_F(SessionTest, AssignedClientIdIsUsedOnTheNextConnect) {
  make_session({});
  start();
  mqtt::Connack ack;
  ack.properties.assigned_client_identifier = "auto-7";
  EXPECT_EQ(feed(ack), "");
  EXPECT_EQ(session().client_id(), "auto-7");
  EXPECT_EQ(events_.connacks.size(), 1u);
  session().connection_lost();
  EXPECT_EQ(start().client_id, "auto-7");
}

// ---- CONNACK refusals ----

TEST_F(SessionTest, RefusalNamesTheReasonAndWhatToDo) {
  make_session({});
  start();
  mqtt::Connack ack;
  ack.reason = ReasonCode::BadUserNameOrPassword;
  ack.properties.reason_string = "user unknown";
  const std::string error = feed(ack);
  EXPECT_TRUE(contains(error, "Bad User Name or Password")) << error;
  EXPECT_TRUE(contains(error, "0x86")) << error;
  EXPECT_TRUE(contains(error, "user unknown")) << error;
  EXPECT_TRUE(contains(error, "check the user name and password")) << error;
  EXPECT_FALSE(session().connected());
  ASSERT_EQ(events_.connacks.size(), 1u);
  EXPECT_EQ(events_.connacks[0].reason, ReasonCode::BadUserNameOrPassword);
}

TEST_F(SessionTest, RefusedV5AdvisesV311) {
  make_session({});
  start();
  mqtt::Connack ack;
  ack.reason = ReasonCode::UnsupportedProtocolVersion;
  const std::string error = feed(ack);
  EXPECT_TRUE(contains(error, "Unsupported Protocol Version")) << error;
  EXPECT_TRUE(contains(error, "mqttv311")) << error;
}

TEST_F(SessionTest, RefusalV311NotAuthorized) {
  SessionOptions o;
  o.version = mqtt::Version::v311;
  make_session(o);
  start();
  mqtt::Connack ack;
  ack.reason = ReasonCode::NotAuthorized;  // v3.1.1 return code 5
  const std::string error = feed(ack);
  EXPECT_TRUE(contains(error, "Not authorized")) << error;
  EXPECT_TRUE(contains(error, "ACL")) << error;
  EXPECT_FALSE(session().connected());
}

// ---- outbound QoS flows ----

TEST_F(SessionTest, Qos1FlowCompletesAtPuback) {
  make_session({});
  connect();
  EXPECT_EQ(session().publish(make("a/b", "one", QoS::AtLeastOnce), 7), PublishStatus::Queued);
  const auto p = only<mqtt::Publish>();
  EXPECT_EQ(p.topic, "a/b");
  EXPECT_EQ(p.payload, "one");
  EXPECT_EQ(p.qos, QoS::AtLeastOnce);
  EXPECT_FALSE(p.dup);
  EXPECT_NE(p.packet_id, 0);
  EXPECT_EQ(session().in_flight(), 1u);
  EXPECT_TRUE(events_.done.empty());
  EXPECT_EQ(ack_puback(p.packet_id), "");
  ASSERT_EQ(events_.done.size(), 1u);
  EXPECT_EQ(events_.done[0], std::make_pair(Token{7}, ReasonCode::Success));
  EXPECT_EQ(session().in_flight(), 0u);
}

TEST_F(SessionTest, Qos2FlowCompletesAtPubcompOnly) {
  make_session({});
  connect();
  EXPECT_EQ(session().publish(make("a/b", "two", QoS::ExactlyOnce), 8), PublishStatus::Queued);
  const auto p = only<mqtt::Publish>();
  EXPECT_EQ(p.qos, QoS::ExactlyOnce);
  EXPECT_EQ(ack_pubrec(p.packet_id), "");
  EXPECT_EQ(only<mqtt::Pubrel>().packet_id, p.packet_id);
  EXPECT_TRUE(events_.done.empty());
  // A repeated PUBREC is answered again, harmlessly.
  EXPECT_EQ(ack_pubrec(p.packet_id), "");
  EXPECT_EQ(only<mqtt::Pubrel>().packet_id, p.packet_id);
  EXPECT_EQ(ack_pubcomp(p.packet_id), "");
  ASSERT_EQ(events_.done.size(), 1u);
  EXPECT_EQ(events_.done[0], std::make_pair(Token{8}, ReasonCode::Success));
  EXPECT_EQ(session().in_flight(), 0u);
}

TEST_F(SessionTest, V5RefusalsEndTheFlowWithTheReason) {
  make_session({});
  connect();
  (void)session().publish(make("a", "1", QoS::AtLeastOnce), 1);
  (void)session().publish(make("a", "2", QoS::ExactlyOnce), 2);
  const auto packets = written();
  ASSERT_EQ(packets.size(), 2u);
  EXPECT_EQ(ack_puback(as<mqtt::Publish>(packets[0]).packet_id, ReasonCode::NotAuthorized), "");
  EXPECT_EQ(ack_pubrec(as<mqtt::Publish>(packets[1]).packet_id, ReasonCode::QuotaExceeded), "");
  EXPECT_TRUE(written().empty());  // no PUBREL after a refusing PUBREC
  ASSERT_EQ(events_.done.size(), 2u);
  EXPECT_EQ(events_.done[0], std::make_pair(Token{1}, ReasonCode::NotAuthorized));
  EXPECT_EQ(events_.done[1], std::make_pair(Token{2}, ReasonCode::QuotaExceeded));
}

TEST_F(SessionTest, Qos0IsSentAtOnceWhenConnected) {
  make_session({});
  connect();
  EXPECT_EQ(session().publish(make("z", "0", QoS::AtMostOnce), 1), PublishStatus::Queued);
  const auto p = only<mqtt::Publish>();
  EXPECT_EQ(p.qos, QoS::AtMostOnce);
  EXPECT_EQ(p.packet_id, 0);
  EXPECT_EQ(session().queued(), 0u);
}

TEST_F(SessionTest, InvalidTopicIsRefused) {
  make_session({});
  connect();
  EXPECT_EQ(session().publish(make("a/+", "x", QoS::AtLeastOnce), 1), PublishStatus::Invalid);
  EXPECT_EQ(session().publish(make("", "x", QoS::AtLeastOnce), 2), PublishStatus::Invalid);
  EXPECT_TRUE(written().empty());
}

// ---- reconnects ----

TEST_F(SessionTest, SessionPresentResendsWithDupAndPubrelInOrder) {
  SessionOptions o;
  o.client_id = "keep";
  o.clean_start = false;
  o.session_expiry_interval = 300;
  make_session(o);
  connect();
  session().subscribe("in/#", {}, 50);
  const auto sub = only<mqtt::Subscribe>();
  mqtt::Suback sa;
  sa.packet_id = sub.packet_id;
  sa.reasons = {ReasonCode::GrantedQos1};
  EXPECT_EQ(feed(sa), "");
  (void)session().publish(make("o", "q1", QoS::AtLeastOnce), 1);
  (void)session().publish(make("o", "q2", QoS::ExactlyOnce), 2);
  (void)session().publish(make("o", "q2-released", QoS::ExactlyOnce), 3);
  const auto first = written();
  ASSERT_EQ(first.size(), 3u);
  const auto id1 = as<mqtt::Publish>(first[0]).packet_id;
  const auto id2 = as<mqtt::Publish>(first[1]).packet_id;
  const auto id3 = as<mqtt::Publish>(first[2]).packet_id;
  EXPECT_EQ(ack_pubrec(id3), "");
  EXPECT_EQ(only<mqtt::Pubrel>().packet_id, id3);

  reconnect_lost();
  const auto again = connect(/*session_present=*/true);
  ASSERT_EQ(again.size(), 3u);  // no SUBSCRIBE: the broker kept the subscription
  const auto& r1 = as<mqtt::Publish>(again[0]);
  const auto& r2 = as<mqtt::Publish>(again[1]);
  EXPECT_EQ(r1.packet_id, id1);
  EXPECT_TRUE(r1.dup);
  EXPECT_EQ(r1.payload, "q1");
  EXPECT_EQ(r2.packet_id, id2);
  EXPECT_TRUE(r2.dup);
  EXPECT_EQ(r2.payload, "q2");
  EXPECT_EQ(as<mqtt::Pubrel>(again[2]).packet_id, id3);
  EXPECT_TRUE(events_.done.empty());

  EXPECT_EQ(ack_puback(id1), "");
  EXPECT_EQ(ack_pubrec(id2), "");
  EXPECT_EQ(only<mqtt::Pubrel>().packet_id, id2);
  EXPECT_EQ(ack_pubcomp(id2), "");
  EXPECT_EQ(ack_pubcomp(id3), "");
  ASSERT_EQ(events_.done.size(), 3u);
  EXPECT_EQ(events_.done[0].first, 1u);
  EXPECT_EQ(events_.done[1].first, 2u);
  EXPECT_EQ(events_.done[2].first, 3u);
}

TEST_F(SessionTest, SessionNotPresentResendsAsNewAndResubscribes) {
  SessionOptions o;
  o.client_id = "lost";
  o.clean_start = false;
  make_session(o);
  connect();
  SubscribeOptions so;
  so.qos = QoS::ExactlyOnce;
  session().subscribe("in/#", so, 50);
  const auto sub = only<mqtt::Subscribe>();
  mqtt::Suback sa;
  sa.packet_id = sub.packet_id;
  sa.reasons = {ReasonCode::GrantedQos2};
  EXPECT_EQ(feed(sa), "");
  ASSERT_EQ(events_.subacks.size(), 1u);
  (void)session().publish(make("o", "q1", QoS::AtLeastOnce), 1);
  (void)session().publish(make("o", "accepted", QoS::ExactlyOnce), 2);
  (void)session().publish(make("o", "q2", QoS::ExactlyOnce), 3);
  const auto first = written();
  ASSERT_EQ(first.size(), 3u);
  EXPECT_EQ(ack_pubrec(as<mqtt::Publish>(first[1]).packet_id), "");
  (void)written();

  reconnect_lost();
  const auto again = connect(/*session_present=*/false);
  // The message the broker had accepted (PUBREC) is done; the others go again as new messages,
  // after the subscription is made again.
  ASSERT_EQ(events_.done.size(), 1u);
  EXPECT_EQ(events_.done[0], std::make_pair(Token{2}, ReasonCode::Success));
  ASSERT_EQ(again.size(), 3u);
  const auto& resub = as<mqtt::Subscribe>(again[0]);
  ASSERT_EQ(resub.topics.size(), 1u);
  EXPECT_EQ(resub.topics[0].filter, "in/#");
  EXPECT_EQ(resub.topics[0].qos, QoS::ExactlyOnce);
  const auto& p1 = as<mqtt::Publish>(again[1]);
  const auto& p3 = as<mqtt::Publish>(again[2]);
  EXPECT_FALSE(p1.dup);
  EXPECT_EQ(p1.payload, "q1");
  EXPECT_FALSE(p3.dup);
  EXPECT_EQ(p3.payload, "q2");
  EXPECT_NE(p1.packet_id, p3.packet_id);
  EXPECT_NE(p1.packet_id, resub.packet_id);
  // The restoring SUBSCRIBE is the client's own: its SUBACK completes nothing.
  sa.packet_id = resub.packet_id;
  EXPECT_EQ(feed(sa), "");
  EXPECT_EQ(events_.subacks.size(), 1u);
  EXPECT_EQ(ack_puback(p1.packet_id), "");
  EXPECT_EQ(ack_pubrec(p3.packet_id), "");
  EXPECT_EQ(ack_pubcomp(p3.packet_id), "");
  ASSERT_EQ(events_.done.size(), 3u);
  EXPECT_EQ(events_.done[1].first, 1u);
  EXPECT_EQ(events_.done[2].first, 3u);
}

TEST_F(SessionTest, UnackedSubscribeIsSentAgainOnReconnect) {
  make_session({});
  connect();
  session().subscribe("x/#", {}, 9);
  (void)only<mqtt::Subscribe>();
  reconnect_lost();
  const auto again = connect(/*session_present=*/true);
  ASSERT_EQ(again.size(), 1u);
  const auto& s = as<mqtt::Subscribe>(again[0]);
  mqtt::Suback sa;
  sa.packet_id = s.packet_id;
  sa.reasons = {ReasonCode::GrantedQos1};
  EXPECT_EQ(feed(sa), "");
  ASSERT_EQ(events_.subacks.size(), 1u);
  EXPECT_EQ(events_.subacks[0].first, 9u);
}

TEST_F(SessionTest, RefusedSubscriptionIsNotRestored) {
  make_session({});
  connect();
  session().subscribe("secret/#", {}, 4);
  const auto s = only<mqtt::Subscribe>();
  mqtt::Suback sa;
  sa.packet_id = s.packet_id;
  sa.reasons = {ReasonCode::NotAuthorized};
  EXPECT_EQ(feed(sa), "");
  ASSERT_EQ(events_.subacks.size(), 1u);
  EXPECT_EQ(events_.subacks[0].second, std::vector<ReasonCode>{ReasonCode::NotAuthorized});
  EXPECT_TRUE(session().subscriptions().empty());
  reconnect_lost();
  EXPECT_TRUE(connect(false).empty());
}

TEST_F(SessionTest, UnsubscribedFilterIsNotRestored) {
  make_session({});
  connect();
  session().subscribe("a/#", {}, 1);
  mqtt::Suback sa;
  sa.packet_id = only<mqtt::Subscribe>().packet_id;
  sa.reasons = {ReasonCode::GrantedQos1};
  EXPECT_EQ(feed(sa), "");
  session().unsubscribe("a/#", 2);
  const auto u = only<mqtt::Unsubscribe>();
  ASSERT_EQ(u.filters.size(), 1u);
  EXPECT_EQ(u.filters[0], "a/#");
  mqtt::Unsuback ua;
  ua.packet_id = u.packet_id;
  ua.reasons = {ReasonCode::Success};
  EXPECT_EQ(feed(ua), "");
  EXPECT_EQ(events_.unsubacks, std::vector<Token>{2});
  reconnect_lost();
  EXPECT_TRUE(connect(false).empty());
}

// No Local on a shared subscription is a Protocol Error (v5 3.8.3.1); the option is left out.
TEST_F(SessionTest, SharedSubscriptionIsSentWithoutNoLocal) {
  make_session({});
  connect();
  SubscribeOptions so;
  so.no_local = true;
  session().subscribe("$share/g/a/#", so, 1);
  session().subscribe("a/#", so, 2);
  const auto packets = written();  // written() fails the test on a packet the decoder rejects
  ASSERT_EQ(packets.size(), 2u);
  ASSERT_EQ(as<mqtt::Subscribe>(packets[0]).topics.size(), 1u);
  EXPECT_FALSE(as<mqtt::Subscribe>(packets[0]).topics[0].no_local);
  ASSERT_EQ(as<mqtt::Subscribe>(packets[1]).topics.size(), 1u);
  EXPECT_TRUE(as<mqtt::Subscribe>(packets[1]).topics[0].no_local);
}

TEST_F(SessionTest, RestoredFlowIsResentWithDup) {
  SessionOptions o;
  o.client_id = "durable";
  o.clean_start = false;
  make_session(o);
  ASSERT_TRUE(session().restore(make("d", "x", QoS::AtLeastOnce), 11, 42,
                                mqtt::OutboundStage::AwaitingPuback));
  ASSERT_TRUE(session().restore(make("d", "y", QoS::ExactlyOnce), 12, 43,
                                mqtt::OutboundStage::AwaitingPubcomp));
  const auto again = connect(true);
  ASSERT_EQ(again.size(), 2u);
  EXPECT_EQ(as<mqtt::Publish>(again[0]).packet_id, 42);
  EXPECT_TRUE(as<mqtt::Publish>(again[0]).dup);
  EXPECT_EQ(as<mqtt::Pubrel>(again[1]).packet_id, 43);
}

// ---- inbound ----

TEST_F(SessionTest, InboundQos1DeliveredAndAcknowledged) {
  make_session({});
  connect();
  EXPECT_EQ(send_publish("i/1", "hello", QoS::AtLeastOnce, 3), "");
  ASSERT_EQ(events_.messages.size(), 1u);
  EXPECT_EQ(events_.messages[0]->payload, "hello");
  EXPECT_EQ(only<mqtt::Puback>().packet_id, 3);
}

TEST_F(SessionTest, InboundQos2ResentBeforePubrelIsDeliveredOnce) {
  make_session({});
  connect();
  EXPECT_EQ(send_publish("i/2", "once", QoS::ExactlyOnce, 5), "");
  EXPECT_EQ(only<mqtt::Pubrec>().packet_id, 5);
  EXPECT_EQ(send_publish("i/2", "once", QoS::ExactlyOnce, 5, /*dup=*/true), "");
  EXPECT_EQ(only<mqtt::Pubrec>().packet_id, 5);
  EXPECT_EQ(events_.messages.size(), 1u);
  EXPECT_EQ(send_pubrel(5), "");
  const auto comp = only<mqtt::Pubcomp>();
  EXPECT_EQ(comp.packet_id, 5);
  EXPECT_EQ(comp.reason, ReasonCode::Success);
  // After PUBREL the id is free: the same id is a new message.
  EXPECT_EQ(send_publish("i/2", "next", QoS::ExactlyOnce, 5), "");
  ASSERT_EQ(events_.messages.size(), 2u);
  EXPECT_EQ(events_.messages[1]->payload, "next");
}

TEST_F(SessionTest, InboundQos2AcrossReconnectWithSessionIsDeliveredOnce) {
  SessionOptions o;
  o.client_id = "sub";
  o.clean_start = false;
  o.session_expiry_interval = 60;
  make_session(o);
  connect();
  EXPECT_EQ(send_publish("i/2", "once", QoS::ExactlyOnce, 9), "");
  EXPECT_EQ(only<mqtt::Pubrec>().packet_id, 9);  // imagine this PUBREC is lost
  reconnect_lost();
  connect(true);
  EXPECT_EQ(send_publish("i/2", "once", QoS::ExactlyOnce, 9, true), "");
  EXPECT_EQ(only<mqtt::Pubrec>().packet_id, 9);
  EXPECT_EQ(send_pubrel(9), "");
  EXPECT_EQ(only<mqtt::Pubcomp>().reason, ReasonCode::Success);
  EXPECT_EQ(events_.messages.size(), 1u);
}

TEST_F(SessionTest, InboundQos2StateIsForgottenWithTheSession) {
  make_session({});
  connect();
  EXPECT_EQ(send_publish("i/2", "a", QoS::ExactlyOnce, 9), "");
  (void)written();
  reconnect_lost();
  connect(false);  // the broker forgot the session: id 9 is a new message
  EXPECT_EQ(send_publish("i/2", "b", QoS::ExactlyOnce, 9), "");
  EXPECT_EQ(events_.messages.size(), 2u);
}

TEST_F(SessionTest, UnknownPubrelIsAnsweredNotFound) {
  make_session({});
  connect();
  EXPECT_EQ(send_pubrel(77), "");
  const auto comp = only<mqtt::Pubcomp>();
  EXPECT_EQ(comp.packet_id, 77);
  EXPECT_EQ(comp.reason, ReasonCode::PacketIdentifierNotFound);
}

TEST_F(SessionTest, UnknownPubrecIsAnsweredWithPubrelNotFound) {
  make_session({});
  connect();
  EXPECT_EQ(ack_pubrec(78), "");
  const auto rel = only<mqtt::Pubrel>();
  EXPECT_EQ(rel.packet_id, 78);
  EXPECT_EQ(rel.reason, ReasonCode::PacketIdentifierNotFound);
}

TEST_F(SessionTest, InboundQos2BeyondOurReceiveMaximumIsAnError) {
  SessionOptions o;
  o.receive_maximum = 2;
  make_session(o);
  connect();
  EXPECT_EQ(send_publish("t", "1", QoS::ExactlyOnce, 1), "");
  EXPECT_EQ(send_publish("t", "2", QoS::ExactlyOnce, 2), "");
  (void)written();
  const std::string error = send_publish("t", "3", QoS::ExactlyOnce, 3);
  EXPECT_TRUE(contains(error, "Receive Maximum")) << error;
  EXPECT_EQ(only<mqtt::Disconnect>().reason, ReasonCode::ReceiveMaximumExceeded);
  EXPECT_EQ(events_.messages.size(), 2u);
}

// ---- the offline queue ----

TEST_F(SessionTest, OfflineQueueDropsQos0FirstThenRefuses) {
  SessionOptions o;
  o.max_queued_messages = 3;
  make_session(o);
  EXPECT_EQ(session().publish(make("q", "a0", QoS::AtMostOnce), 1), PublishStatus::Queued);
  EXPECT_EQ(session().publish(make("q", "b1", QoS::AtLeastOnce), 2), PublishStatus::Queued);
  EXPECT_EQ(session().publish(make("q", "c0", QoS::AtMostOnce), 3), PublishStatus::Queued);
  EXPECT_EQ(session().queued(), 3u);
  EXPECT_TRUE(events_.dropped.empty());
  EXPECT_EQ(session().publish(make("q", "d2", QoS::ExactlyOnce), 4), PublishStatus::Queued);
  EXPECT_EQ(events_.dropped, std::vector<Token>{1});  // oldest QoS 0
  EXPECT_EQ(session().publish(make("q", "e1", QoS::AtLeastOnce), 5), PublishStatus::Queued);
  EXPECT_EQ(events_.dropped, (std::vector<Token>{1, 3}));
  EXPECT_EQ(session().queued(), 3u);
  EXPECT_EQ(session().publish(make("q", "f1", QoS::AtLeastOnce), 6), PublishStatus::QueueFull);
  EXPECT_EQ(session().publish(make("q", "g0", QoS::AtMostOnce), 7), PublishStatus::QueueFull);
  EXPECT_EQ(session().dropped(), 2u);
  EXPECT_EQ(session().queued(), 3u);
  // Sent in order once connected.
  const auto sent = connect();
  ASSERT_EQ(sent.size(), 3u);
  EXPECT_EQ(as<mqtt::Publish>(sent[0]).payload, "b1");
  EXPECT_EQ(as<mqtt::Publish>(sent[1]).payload, "d2");
  EXPECT_EQ(as<mqtt::Publish>(sent[2]).payload, "e1");
  EXPECT_EQ(session().queued(), 0u);
}

TEST_F(SessionTest, OfflineQueueByteBound) {
  SessionOptions o;
  o.max_queued_bytes = 3 * (sizeof(Message) + 1 + 100);
  make_session(o);
  const std::string payload(100, 'x');
  EXPECT_EQ(session().publish(make("q", payload, QoS::AtMostOnce), 1), PublishStatus::Queued);
  EXPECT_EQ(session().publish(make("q", payload, QoS::AtLeastOnce), 2), PublishStatus::Queued);
  EXPECT_EQ(session().publish(make("q", payload, QoS::AtLeastOnce), 3), PublishStatus::Queued);
  EXPECT_TRUE(events_.dropped.empty());
  EXPECT_EQ(session().publish(make("q", payload, QoS::AtLeastOnce), 4), PublishStatus::Queued);
  EXPECT_EQ(events_.dropped, std::vector<Token>{1});
  EXPECT_EQ(session().publish(make("q", payload, QoS::AtLeastOnce), 5), PublishStatus::QueueFull);
  // Sending frees the bytes: after connecting (and acknowledgements) there is room again.
  const auto sent = connect();
  ASSERT_EQ(sent.size(), 3u);
  for (const auto& p : sent)
    EXPECT_EQ(ack_puback(as<mqtt::Publish>(p).packet_id), "");
  reconnect_lost();
  for (Token t = 10; t < 13; ++t)
    EXPECT_EQ(session().publish(make("q", payload, QoS::AtLeastOnce), t), PublishStatus::Queued);
  EXPECT_EQ(session().publish(make("q", payload, QoS::AtLeastOnce), 13), PublishStatus::QueueFull);
}

TEST_F(SessionTest, Qos0QueuedOfflineIsSentAfterConnack) {
  make_session({});
  EXPECT_EQ(session().publish(make("q", "early", QoS::AtMostOnce), 1), PublishStatus::Queued);
  start();  // not yet connected: still queued
  EXPECT_TRUE(written().empty());
  EXPECT_EQ(feed(mqtt::Connack{}), "");
  const auto p = only<mqtt::Publish>();
  EXPECT_EQ(p.payload, "early");
  EXPECT_EQ(session().queued(), 0u);
}

// ---- the broker's limits ----

TEST_F(SessionTest, BrokerReceiveMaximumIsTheWindow) {
  make_session({});
  mqtt::Properties props;
  props.receive_maximum = 2;
  connect(false, props);
  EXPECT_EQ(session().connack().receive_maximum, 2);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(session().publish(make("w", std::to_string(i), i % 2 ? QoS::ExactlyOnce
                                                                   : QoS::AtLeastOnce),
                                static_cast<Token>(i + 1)),
              PublishStatus::Queued);
  }
  auto sent = written();
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(session().in_flight(), 2u);
  EXPECT_EQ(session().queued(), 3u);
  std::vector<std::string> order;
  std::deque<mqtt::Publish> open;
  for (const auto& p : sent) {
    order.emplace_back(as<mqtt::Publish>(p).payload);
    open.push_back(as<mqtt::Publish>(p));
  }
  // Each completed flow lets exactly one more out.
  while (!open.empty()) {
    const mqtt::Publish p = open.front();
    open.pop_front();
    if (p.qos == QoS::AtLeastOnce) {
      EXPECT_EQ(ack_puback(p.packet_id), "");
    } else {
      EXPECT_EQ(ack_pubrec(p.packet_id), "");
      EXPECT_EQ(only<mqtt::Pubrel>().packet_id, p.packet_id);
      EXPECT_LE(session().in_flight(), 2u);
      EXPECT_EQ(ack_pubcomp(p.packet_id), "");
    }
    for (const auto& next : written()) {
      order.emplace_back(as<mqtt::Publish>(next).payload);
      open.push_back(as<mqtt::Publish>(next));
    }
    EXPECT_LE(session().in_flight(), 2u);
  }
  EXPECT_EQ(order, (std::vector<std::string>{"0", "1", "2", "3", "4"}));
  EXPECT_EQ(events_.done.size(), 5u);
}

TEST_F(SessionTest, BrokerMaximumPacketSizeRefusesLargeMessages) {
  make_session({});
  mqtt::Properties props;
  props.maximum_packet_size = 100;
  connect(false, props);
  EXPECT_EQ(session().publish(make("big", std::string(200, 'x'), QoS::AtLeastOnce), 1),
            PublishStatus::TooLarge);
  EXPECT_EQ(session().publish(make("big", std::string(200, 'x'), QoS::AtMostOnce), 2),
            PublishStatus::TooLarge);
  EXPECT_TRUE(written().empty());
  EXPECT_EQ(session().publish(make("small", "x", QoS::AtLeastOnce), 3), PublishStatus::Queued);
  EXPECT_EQ(only<mqtt::Publish>().payload, "x");
}

TEST_F(SessionTest, QueuedMessageTooLargeForTheBrokerEndsItsFlow) {
  make_session({});
  (void)session().publish(make("big", std::string(200, 'x'), QoS::ExactlyOnce), 1);
  (void)session().publish(make("small", "y", QoS::AtLeastOnce), 2);
  mqtt::Properties props;
  props.maximum_packet_size = 100;
  const auto sent = connect(false, props);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(as<mqtt::Publish>(sent[0]).payload, "y");
  ASSERT_EQ(events_.done.size(), 1u);
  EXPECT_EQ(events_.done[0], std::make_pair(Token{1}, ReasonCode::PacketTooLarge));
}

// The broker of the new connection has a smaller Maximum Packet Size than the old one while
// several messages are in flight: each resend that does not fit ends its flow.
TEST_F(SessionTest, ResendTooLargeAfterReconnectEndsThoseFlows) {
  SessionOptions o;
  o.client_id = "shrink";
  o.clean_start = false;
  make_session(o);
  connect();
  (void)session().publish(make("big", std::string(200, 'a'), QoS::AtLeastOnce), 1);
  (void)session().publish(make("small", "b", QoS::AtLeastOnce), 2);
  (void)session().publish(make("big", std::string(200, 'c'), QoS::ExactlyOnce), 3);
  (void)session().publish(make("big", std::string(200, 'd'), QoS::AtLeastOnce), 4);
  ASSERT_EQ(written().size(), 4u);
  reconnect_lost();
  mqtt::Properties props;
  props.maximum_packet_size = 100;
  const auto again = connect(true, props);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(as<mqtt::Publish>(again[0]).payload, "b");
  EXPECT_TRUE(as<mqtt::Publish>(again[0]).dup);
  ASSERT_EQ(events_.done.size(), 3u);
  EXPECT_EQ(events_.done[0], std::make_pair(Token{1}, ReasonCode::PacketTooLarge));
  EXPECT_EQ(events_.done[1], std::make_pair(Token{3}, ReasonCode::PacketTooLarge));
  EXPECT_EQ(events_.done[2], std::make_pair(Token{4}, ReasonCode::PacketTooLarge));
  EXPECT_EQ(session().in_flight(), 1u);
}

// ---- protocol errors ----

TEST_F(SessionTest, PacketBeforeConnackIsAnError) {
  make_session({});
  start();
  const std::string error = send_publish("t", "x", QoS::AtMostOnce, 0);
  EXPECT_TRUE(contains(error, "PUBLISH before CONNACK")) << error;
  EXPECT_FALSE(session().connected());
  EXPECT_TRUE(events_.messages.empty());
}

TEST_F(SessionTest, DisconnectBeforeConnackNamesTheReason) {
  make_session({});
  start();
  mqtt::Disconnect d;
  d.reason = ReasonCode::ServerBusy;
  const std::string error = feed(d);
  EXPECT_TRUE(contains(error, "before CONNACK")) << error;
  EXPECT_TRUE(contains(error, "Server busy") || contains(error, "Server Busy")) << error;
}

TEST_F(SessionTest, SecondConnackIsAnError) {
  make_session({});
  connect();
  const std::string error = feed(mqtt::Connack{});
  EXPECT_TRUE(contains(error, "second CONNACK")) << error;
  EXPECT_FALSE(session().connected());
}

TEST_F(SessionTest, PubackForQos2FlowIsAProtocolError) {
  make_session({});
  connect();
  (void)session().publish(make("a", "x", QoS::ExactlyOnce), 1);
  const auto p = only<mqtt::Publish>();
  const std::string error = ack_puback(p.packet_id);
  EXPECT_TRUE(contains(error, "protocol error: PUBACK")) << error;
  EXPECT_EQ(only<mqtt::Disconnect>().reason, ReasonCode::ProtocolError);
  EXPECT_TRUE(events_.done.empty());
  EXPECT_EQ(session().in_flight(), 1u);  // kept for the next connection
}

TEST_F(SessionTest, PubrecForQos1FlowIsAProtocolError) {
  make_session({});
  connect();
  (void)session().publish(make("a", "x", QoS::AtLeastOnce), 1);
  const std::string error = ack_pubrec(only<mqtt::Publish>().packet_id);
  EXPECT_TRUE(contains(error, "protocol error: PUBREC")) << error;
  EXPECT_EQ(only<mqtt::Disconnect>().reason, ReasonCode::ProtocolError);
}

TEST_F(SessionTest, PubcompBeforePubrecIsAProtocolError) {
  make_session({});
  connect();
  (void)session().publish(make("a", "x", QoS::ExactlyOnce), 1);
  const std::string error = ack_pubcomp(only<mqtt::Publish>().packet_id);
  EXPECT_TRUE(contains(error, "protocol error: PUBCOMP")) << error;
  EXPECT_TRUE(events_.done.empty());
}

// A PUBACK for an id with no flow (a late duplicate) is ignored: nothing completes, no error.
TEST_F(SessionTest, PubackForUnknownIdIsIgnored) {
  make_session({});
  connect();
  (void)session().publish(make("a", "x", QoS::AtLeastOnce), 1);
  const auto p = only<mqtt::Publish>();
  EXPECT_EQ(ack_puback(static_cast<std::uint16_t>(p.packet_id + 1)), "");
  EXPECT_TRUE(events_.done.empty());
  EXPECT_TRUE(written().empty());
  EXPECT_EQ(session().in_flight(), 1u);
}

TEST_F(SessionTest, SubackForUnknownIdIsAnError) {
  make_session({});
  connect();
  mqtt::Suback sa;
  sa.packet_id = 99;
  sa.reasons = {ReasonCode::GrantedQos1};
  const std::string error = feed(sa);
  EXPECT_TRUE(contains(error, "SUBACK for unknown packet 99")) << error;
}

TEST_F(SessionTest, TopicAliasIsAnError) {
  make_session({});
  connect();
  mqtt::Publish p;
  p.topic = "t";
  p.payload = "x";
  p.properties.topic_alias = 1;
  const std::string error = feed(p);
  EXPECT_TRUE(contains(error, "Topic Alias")) << error;
  EXPECT_EQ(only<mqtt::Disconnect>().reason, ReasonCode::TopicAliasInvalid);
  EXPECT_TRUE(events_.messages.empty());
}

TEST_F(SessionTest, ServerOnlyPacketFromBrokerIsAnError) {
  make_session({});
  connect();
  const std::string error = feed(mqtt::Pingreq{});
  EXPECT_TRUE(contains(error, "protocol error: the broker sent PINGREQ")) << error;
  EXPECT_EQ(only<mqtt::Disconnect>().reason, ReasonCode::ProtocolError);
}

TEST_F(SessionTest, MalformedBytesAreAnError) {
  make_session({});
  connect();
  // PUBACK with a remaining length of 1: too short for its packet id.
  const std::string error = session().on_bytes(std::string("\x40\x01\x00", 3));
  EXPECT_TRUE(contains(error, "malformed")) << error;
  EXPECT_EQ(only<mqtt::Disconnect>().reason, ReasonCode::MalformedPacket);
}

// A decoding failure whose code DISCONNECT cannot carry (0x84 from a CONNECT with an unknown
// protocol level) still ends in a DISCONNECT, not in an exception (found by the fuzzer).
TEST_F(SessionTest, MalformedPacketWithAnyErrorCodeDisconnects) {
  make_session({});
  connect();
  mqtt::Connect c;
  c.client_id = "x";
  std::string bytes;
  ASSERT_FALSE(mqtt::encode(c, mqtt::Version::v5, bytes));
  ASSERT_EQ(bytes[8], 5);  // protocol level, after the fixed header and "MQTT"
  bytes[8] = 7;
  {
    mqtt::StreamDecoder d(mqtt::Version::v5);
    d.feed(bytes);
    mqtt::Packet p;
    ASSERT_EQ(d.next(p), mqtt::StreamDecoder::Status::Failed);
    ASSERT_EQ(d.error().code, ReasonCode::UnsupportedProtocolVersion);  // not for DISCONNECT
  }
  std::string error;
  EXPECT_NO_THROW(error = session().on_bytes(bytes));
  EXPECT_TRUE(contains(error, "malformed")) << error;
  EXPECT_EQ(only<mqtt::Disconnect>().reason, ReasonCode::MalformedPacket);
}

TEST_F(SessionTest, OurMaximumPacketSizeIsEnforced) {
  SessionOptions o;
  o.max_packet_size = 64;
  make_session(o);
  connect();
  const std::string error = send_publish("t", std::string(100, 'x'), QoS::AtMostOnce, 0);
  EXPECT_TRUE(contains(error, "malformed")) << error;
  EXPECT_EQ(only<mqtt::Disconnect>().reason, ReasonCode::PacketTooLarge);
  EXPECT_TRUE(events_.messages.empty());
}

TEST_F(SessionTest, BrokerDisconnectCarriesItsReason) {
  make_session({});
  connect();
  mqtt::Disconnect d;
  d.reason = ReasonCode::SessionTakenOver;
  d.properties.reason_string = "another client";
  const std::string error = feed(d);
  EXPECT_TRUE(contains(error, "0x8E")) << error;
  EXPECT_TRUE(contains(error, "another client")) << error;
}

TEST_F(SessionTest, PacketsSplitAcrossChunksAreAssembled) {
  make_session({});
  connect();
  std::string bytes;
  mqtt::Publish p;
  p.topic = "split/t";
  p.payload = "payload";
  p.qos = QoS::AtLeastOnce;
  p.packet_id = 4;
  ASSERT_FALSE(mqtt::encode(p, mqtt::Version::v5, bytes));
  ASSERT_FALSE(mqtt::encode(mqtt::Pingresp{}, mqtt::Version::v5, bytes));
  for (char c : bytes)
    EXPECT_EQ(session().on_bytes(std::string_view(&c, 1)), "");
  ASSERT_EQ(events_.messages.size(), 1u);
  EXPECT_EQ(events_.messages[0]->topic, "split/t");
  EXPECT_EQ(only<mqtt::Puback>().packet_id, 4);
}

TEST_F(SessionTest, BytesWithoutTransportAreIgnored) {
  make_session({});
  EXPECT_EQ(send_publish("t", "x", QoS::AtMostOnce, 0), "");
  EXPECT_TRUE(events_.messages.empty());
}

}  // namespace
}  // namespace psos::client::test
