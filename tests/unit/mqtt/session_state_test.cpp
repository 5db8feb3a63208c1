// Session state: packet ids, outbound QoS 1/2 flows with their window and resends, inbound QoS 2
// duplicate suppression, and a simulated sender/receiver pair over a connection that keeps
// breaking.
#include "mqtt/session_state.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <deque>
#include <initializer_list>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace psos::mqtt {
namespace {

// ---------------------------------------------------------------------------------------------
// PacketIdSet

TEST(PacketIdSetTest, HandsOutEveryIdOnceAndNeverZero) {
  PacketIdSet ids;
  for (std::uint32_t expected = 1; expected <= 65535; ++expected) {
    ASSERT_EQ(ids.allocate(), expected);
  }
  EXPECT_TRUE(ids.full());
  EXPECT_EQ(ids.size(), 65535u);
  EXPECT_FALSE(ids.contains(0));
}

TEST(PacketIdSetTest, ExhaustionFailsCleanlyAndRecoversAfterRelease) {
  PacketIdSet ids;
  for (int i = 0; i < 65535; ++i)
    ASSERT_NE(ids.allocate(), 0);
  EXPECT_EQ(ids.allocate(), 0);
  EXPECT_EQ(ids.allocate(), 0);
  EXPECT_EQ(ids.size(), 65535u);

  EXPECT_TRUE(ids.erase(40000));
  EXPECT_TRUE(ids.erase(7));
  EXPECT_FALSE(ids.full());
  // The cursor sits at 65535: the search wraps to 1 and finds 7 before 40000.
  EXPECT_EQ(ids.allocate(), 7);
  EXPECT_EQ(ids.allocate(), 40000);
  EXPECT_EQ(ids.allocate(), 0);
}

TEST(PacketIdSetTest, JustReleasedIdIsNotReusedAtOnce) {
  PacketIdSet ids;
  EXPECT_EQ(ids.allocate(), 1);
  EXPECT_EQ(ids.allocate(), 2);
  EXPECT_TRUE(ids.erase(2));
  EXPECT_EQ(ids.allocate(), 3);
  EXPECT_TRUE(ids.erase(1));
  EXPECT_EQ(ids.allocate(), 4);
}

TEST(PacketIdSetTest, WrapsFrom65535ToOneSkippingZero) {
  PacketIdSet ids;
  std::uint16_t last = 0;
  for (int i = 0; i < 65535; ++i) {
    last = ids.allocate();
    ASSERT_TRUE(ids.erase(last));
  }
  EXPECT_EQ(last, 65535);
  EXPECT_EQ(ids.allocate(), 1);
  EXPECT_EQ(ids.size(), 1u);
}

TEST(PacketIdSetTest, InsertEraseContains) {
  PacketIdSet ids;
  EXPECT_FALSE(ids.insert(0));
  EXPECT_FALSE(ids.contains(0));
  EXPECT_FALSE(ids.erase(0));
  EXPECT_TRUE(ids.insert(4096));
  EXPECT_FALSE(ids.insert(4096));
  EXPECT_TRUE(ids.contains(4096));
  EXPECT_FALSE(ids.contains(4095));
  EXPECT_FALSE(ids.erase(4095));
  EXPECT_TRUE(ids.erase(4096));
  EXPECT_FALSE(ids.contains(4096));
  EXPECT_EQ(ids.size(), 0u);
}

TEST(PacketIdSetTest, AllocateSkipsTakenIdsAcrossPages) {
  PacketIdSet ids;
  for (std::uint16_t id = 1; id <= 8191; ++id)
    ASSERT_TRUE(ids.insert(id));  // pages 0 and 1
  EXPECT_EQ(ids.allocate(), 8192);
  EXPECT_TRUE(ids.erase(100));
  EXPECT_EQ(ids.allocate(), 8193);  // after the cursor first, even though 100 is free
  ids.clear();
  EXPECT_EQ(ids.size(), 0u);
  EXPECT_FALSE(ids.contains(8192));
  EXPECT_EQ(ids.allocate(), 8194);
}

// Against a std::set model: allocate() must return the first id after the previous allocation
// that is not in the set, wrapping and skipping 0.
TEST(PacketIdSetTest, MatchesReferenceModelUnderRandomUse) {
  std::mt19937 random(12345);
  PacketIdSet ids;
  std::set<std::uint16_t> model;
  std::uint16_t cursor = 0;
  const auto next_free = [&] {
    if (model.size() == 65535) return std::uint16_t{0};
    std::uint16_t id = cursor;
    do {
      id = static_cast<std::uint16_t>(id == 65535 ? 1 : id + 1);
    } while (model.count(id) != 0);
    return id;
  };
  // Mostly allocate and release, as a session does (the cursor wraps around twice), with some
  // inserts and misses anywhere so that pages fill, empty and are freed all over the space.
  for (int step = 0; step < 300000; ++step) {
    const auto id = static_cast<std::uint16_t>(random() % 65536);
    const auto action = random() % 20;
    if (action == 0) {
      ASSERT_EQ(ids.insert(id), id != 0 && model.insert(id).second);
    } else if (action == 1) {
      ASSERT_EQ(ids.erase(id), model.erase(id) == 1);
    } else if (action < 11) {
      auto victim = model.lower_bound(id);
      if (victim == model.end()) victim = model.begin();
      if (victim != model.end()) {
        ASSERT_TRUE(ids.erase(*victim));
        model.erase(victim);
      }
    } else {
      const std::uint16_t expected = next_free();
      ASSERT_EQ(ids.allocate(), expected);
      if (expected != 0) {
        model.insert(expected);
        cursor = expected;
      }
    }
    ASSERT_EQ(ids.size(), model.size());
    ASSERT_EQ(ids.contains(id), model.count(id) == 1);
  }
}

// ---------------------------------------------------------------------------------------------
// OutboundFlows

using StringFlows = OutboundFlows<std::string>;

struct Sent {
  PacketType type;
  bool dup;
  std::uint16_t id;
  QoS qos;
  std::string message;
  friend bool operator==(const Sent&, const Sent&) = default;
};

std::vector<Sent> drain(StringFlows& flows) {
  std::vector<Sent> sent;
  while (auto packet = flows.next_publish()) {
    sent.push_back({packet->type, packet->dup, packet->packet_id, packet->qos, packet->message});
  }
  return sent;
}

std::vector<Sent> resends(const StringFlows& flows) {
  std::vector<Sent> sent;
  flows.for_each_resend([&](const OutboundPacket<std::string>& packet) {
    sent.push_back({packet.type, packet.dup, packet.packet_id, packet.qos, packet.message});
  });
  return sent;
}

TEST(OutboundFlowsTest, Qos0HasNoFlow) {
  StringFlows flows;
  EXPECT_FALSE(flows.enqueue(QoS::AtMostOnce, "x"));
  EXPECT_TRUE(flows.empty());
  EXPECT_FALSE(flows.next_publish().has_value());
}

TEST(OutboundFlowsTest, Qos1FullFlow) {
  StringFlows flows;
  ASSERT_TRUE(flows.enqueue(QoS::AtLeastOnce, "hello"));
  EXPECT_EQ(flows.pending(), 1u);
  const auto sent = drain(flows);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0], (Sent{PacketType::Publish, false, 1, QoS::AtLeastOnce, "hello"}));
  EXPECT_EQ(flows.in_flight(), 1u);
  EXPECT_EQ(flows.pending(), 0u);

  EXPECT_EQ(flows.on_pubrec(1).status, AckStatus::WrongStage);
  EXPECT_EQ(flows.on_pubcomp(1).status, AckStatus::WrongStage);
  EXPECT_EQ(flows.in_flight(), 1u);

  auto done = flows.on_puback(1);
  EXPECT_EQ(done.status, AckStatus::Completed);
  EXPECT_EQ(done.message, "hello");
  EXPECT_TRUE(flows.empty());
  EXPECT_EQ(flows.on_puback(1).status, AckStatus::UnknownPacketId);
}

TEST(OutboundFlowsTest, Qos2FullFlow) {
  StringFlows flows;
  ASSERT_TRUE(flows.enqueue(QoS::ExactlyOnce, "once"));
  const auto sent = drain(flows);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0], (Sent{PacketType::Publish, false, 1, QoS::ExactlyOnce, "once"}));

  EXPECT_EQ(flows.on_pubcomp(1).status, AckStatus::WrongStage);  // before PUBREC
  EXPECT_EQ(flows.on_puback(1).status, AckStatus::WrongStage);
  auto received = flows.on_pubrec(1);
  EXPECT_EQ(received.status, AckStatus::SendPubrel);
  EXPECT_FALSE(received.message.has_value());
  EXPECT_EQ(flows.on_pubrec(1).status, AckStatus::SendPubrel);  // repeated: PUBREL again
  EXPECT_EQ(flows.on_puback(1).status, AckStatus::WrongStage);
  EXPECT_EQ(flows.in_flight(), 1u);  // awaiting PUBCOMP still counts against the window

  auto done = flows.on_pubcomp(1);
  EXPECT_EQ(done.status, AckStatus::Completed);
  EXPECT_EQ(done.message, "once");
  EXPECT_TRUE(flows.empty());
  EXPECT_EQ(flows.on_pubcomp(1).status, AckStatus::UnknownPacketId);
}

TEST(OutboundFlowsTest, PubrecWithFailureEndsFlowWithoutPubrel) {
  StringFlows flows(1);
  ASSERT_TRUE(flows.enqueue(QoS::ExactlyOnce, "refused"));
  ASSERT_TRUE(flows.enqueue(QoS::ExactlyOnce, "next"));
  ASSERT_EQ(drain(flows).size(), 1u);

  auto refused = flows.on_pubrec(1, ReasonCode::NotAuthorized);
  EXPECT_EQ(refused.status, AckStatus::Refused);
  EXPECT_EQ(refused.message, "refused");
  EXPECT_EQ(flows.in_flight(), 0u);
  EXPECT_EQ(flows.on_pubcomp(1).status, AckStatus::UnknownPacketId);
  EXPECT_EQ(drain(flows).size(), 1u);  // the slot was freed

  // 0x10 No matching subscribers is a success: the flow goes on.
  EXPECT_EQ(flows.on_pubrec(2, ReasonCode::NoMatchingSubscribers).status, AckStatus::SendPubrel);
  EXPECT_EQ(flows.on_pubcomp(2).status, AckStatus::Completed);
}

TEST(OutboundFlowsTest, PubackWithFailureIsRefused) {
  StringFlows flows;
  ASSERT_TRUE(flows.enqueue(QoS::AtLeastOnce, "a"));
  ASSERT_TRUE(flows.enqueue(QoS::AtLeastOnce, "b"));
  ASSERT_EQ(drain(flows).size(), 2u);
  EXPECT_EQ(flows.on_puback(1, ReasonCode::QuotaExceeded).status, AckStatus::Refused);
  EXPECT_EQ(flows.on_puback(2, ReasonCode::NoMatchingSubscribers).status, AckStatus::Completed);
  EXPECT_TRUE(flows.empty());
}

TEST(OutboundFlowsTest, UnknownIdsAreReportedNotFatal) {
  StringFlows flows;
  for (const std::uint16_t id : std::initializer_list<std::uint16_t>{0, 1, 7, 65535}) {
    EXPECT_EQ(flows.on_puback(id).status, AckStatus::UnknownPacketId);
    EXPECT_EQ(flows.on_pubrec(id).status, AckStatus::UnknownPacketId);
    EXPECT_EQ(flows.on_pubcomp(id).status, AckStatus::UnknownPacketId);
  }
  ASSERT_TRUE(flows.enqueue(QoS::AtLeastOnce, "a"));
  ASSERT_EQ(drain(flows).size(), 1u);
  EXPECT_EQ(flows.on_puback(2).status, AckStatus::UnknownPacketId);
  EXPECT_EQ(flows.in_flight(), 1u);
}

// The window is the peer's Receive Maximum; queued messages leave in order as acks free slots,
// whatever order the acks come in.
class FlowWindowTest : public ::testing::TestWithParam<std::uint16_t> {};

TEST_P(FlowWindowTest, HonoursReceiveMaximumAndKeepsOrder) {
  const std::uint16_t window = GetParam();
  const int total = window + 5;
  StringFlows flows(window);
  for (int i = 0; i < total; ++i) {
    ASSERT_TRUE(flows.enqueue(i % 2 == 0 ? QoS::AtLeastOnce : QoS::ExactlyOnce, std::to_string(i)));
  }
  std::vector<Sent> sent = drain(flows);
  ASSERT_EQ(sent.size(), window);
  EXPECT_EQ(flows.in_flight(), window);
  EXPECT_EQ(flows.pending(), 5u);
  EXPECT_FALSE(flows.next_publish().has_value());

  std::vector<Sent> outstanding = sent;
  std::vector<std::string> order;
  for (const Sent& s : sent)
    order.push_back(s.message);
  std::mt19937 random(window);
  while (!outstanding.empty()) {
    // Ack a random outstanding flow; QoS 2 needs PUBREC then PUBCOMP before its slot is free.
    std::swap(outstanding[random() % outstanding.size()], outstanding.back());
    const Sent flow = outstanding.back();
    outstanding.pop_back();
    if (flow.qos == QoS::AtLeastOnce) {
      ASSERT_EQ(flows.on_puback(flow.id).status, AckStatus::Completed);
    } else {
      ASSERT_EQ(flows.on_pubrec(flow.id).status, AckStatus::SendPubrel);
      ASSERT_FALSE(flows.next_publish().has_value()) << "PUBREC must not free a slot";
      ASSERT_EQ(flows.on_pubcomp(flow.id).status, AckStatus::Completed);
    }
    const std::vector<Sent> released = drain(flows);
    ASSERT_LE(released.size(), 1u);
    ASSERT_LE(flows.in_flight(), window);
    for (const Sent& s : released) {
      order.push_back(s.message);
      outstanding.push_back(s);
    }
  }
  ASSERT_EQ(order.size(), static_cast<std::size_t>(total));
  for (int i = 0; i < total; ++i)
    EXPECT_EQ(order[i], std::to_string(i));
  EXPECT_TRUE(flows.empty());
}

INSTANTIATE_TEST_SUITE_P(ReceiveMaximum, FlowWindowTest, ::testing::Values(1, 2, 65535),
                         [](const ::testing::TestParamInfo<std::uint16_t>& window) {
                           return "window" + std::to_string(window.param);
                         });

TEST(OutboundFlowsTest, ShrunkWindowHoldsNewSendsOnly) {
  StringFlows flows(4);
  for (int i = 0; i < 6; ++i)
    ASSERT_TRUE(flows.enqueue(QoS::AtLeastOnce, std::to_string(i)));
  ASSERT_EQ(drain(flows).size(), 4u);
  flows.set_receive_maximum(2);
  EXPECT_EQ(resends(flows).size(), 4u);  // in-flight flows are kept
  EXPECT_EQ(flows.on_puback(1).status, AckStatus::Completed);
  EXPECT_TRUE(drain(flows).empty());  // 3 in flight > 2
  EXPECT_EQ(flows.on_puback(2).status, AckStatus::Completed);
  EXPECT_TRUE(drain(flows).empty());  // 2 in flight == 2
  EXPECT_EQ(flows.on_puback(3).status, AckStatus::Completed);
  const auto sent = drain(flows);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].message, "4");

  flows.set_receive_maximum(0);  // cannot come from a valid packet; must not stall
  EXPECT_EQ(flows.receive_maximum(), 1);
}

TEST(OutboundFlowsTest, ResendAfterReconnectMixesStagesInSendOrder) {
  StringFlows flows(5);
  ASSERT_TRUE(flows.enqueue(QoS::AtLeastOnce, "A"));  // id 1: awaiting PUBACK
  ASSERT_TRUE(flows.enqueue(QoS::ExactlyOnce, "B"));  // id 2: awaiting PUBCOMP
  ASSERT_TRUE(flows.enqueue(QoS::ExactlyOnce, "C"));  // id 3: awaiting PUBREC
  ASSERT_TRUE(flows.enqueue(QoS::AtLeastOnce, "D"));  // id 4: completed
  ASSERT_TRUE(flows.enqueue(QoS::ExactlyOnce, "E"));  // id 5: refused
  ASSERT_TRUE(flows.enqueue(QoS::ExactlyOnce, "F"));  // id 6: awaiting PUBCOMP
  ASSERT_TRUE(flows.enqueue(QoS::AtLeastOnce, "G"));  // queued, never sent
  ASSERT_EQ(drain(flows).size(), 5u);
  ASSERT_EQ(flows.on_pubrec(2).status, AckStatus::SendPubrel);
  ASSERT_EQ(flows.on_puback(4).status, AckStatus::Completed);
  ASSERT_EQ(flows.on_pubrec(5, ReasonCode::UnspecifiedError).status, AckStatus::Refused);
  const auto sent = drain(flows);
  ASSERT_EQ(sent.size(), 2u);  // F and G
  ASSERT_EQ(flows.on_pubrec(6).status, AckStatus::SendPubrel);

  const std::vector<Sent> expected = {
      {PacketType::Publish, true, 1, QoS::AtLeastOnce, "A"},
      {PacketType::Pubrel, false, 2, QoS::ExactlyOnce, "B"},
      {PacketType::Publish, true, 3, QoS::ExactlyOnce, "C"},
      {PacketType::Pubrel, false, 6, QoS::ExactlyOnce, "F"},
      {PacketType::Publish, true, 7, QoS::AtLeastOnce, "G"},
  };
  EXPECT_EQ(resends(flows), expected);
  EXPECT_EQ(resends(flows), expected);  // resending changes nothing
}

TEST(OutboundFlowsTest, ResendOrderIsSendOrderNotIdOrder) {
  StringFlows flows(2);
  for (int i = 0; i < 65534; ++i) {
    ASSERT_TRUE(flows.enqueue(QoS::AtLeastOnce, "old"));
    const auto sent = drain(flows);
    ASSERT_EQ(sent.size(), 1u);
    ASSERT_EQ(flows.on_puback(sent[0].id).status, AckStatus::Completed);
  }
  ASSERT_TRUE(flows.enqueue(QoS::AtLeastOnce, "first"));
  ASSERT_TRUE(flows.enqueue(QoS::AtLeastOnce, "second"));
  const auto sent = drain(flows);
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[0].id, 65535);
  EXPECT_EQ(sent[1].id, 1);
  const auto again = resends(flows);
  ASSERT_EQ(again.size(), 2u);
  EXPECT_EQ(again[0].message, "first");
  EXPECT_EQ(again[1].message, "second");
}

TEST(OutboundFlowsTest, RestartCleanRequeuesUnacceptedMessagesInOrder) {
  StringFlows flows(4);
  ASSERT_TRUE(flows.enqueue(QoS::AtLeastOnce, "A"));  // awaiting PUBACK -> requeued
  ASSERT_TRUE(flows.enqueue(QoS::ExactlyOnce, "B"));  // awaiting PUBCOMP -> accepted
  ASSERT_TRUE(flows.enqueue(QoS::ExactlyOnce, "C"));  // awaiting PUBREC -> requeued
  ASSERT_TRUE(flows.enqueue(QoS::ExactlyOnce, "D"));  // awaiting PUBCOMP -> accepted
  ASSERT_TRUE(flows.enqueue(QoS::AtLeastOnce, "E"));  // queued -> stays queued, after A and C
  ASSERT_EQ(drain(flows).size(), 4u);
  ASSERT_EQ(flows.on_pubrec(2).status, AckStatus::SendPubrel);
  ASSERT_EQ(flows.on_pubrec(4).status, AckStatus::SendPubrel);

  const std::vector<std::string> accepted = flows.restart_clean();
  EXPECT_EQ(accepted, (std::vector<std::string>{"B", "D"}));
  EXPECT_EQ(flows.in_flight(), 0u);
  EXPECT_EQ(flows.pending(), 3u);
  EXPECT_TRUE(resends(flows).empty());
  for (const std::uint16_t old_id : std::initializer_list<std::uint16_t>{1, 2, 3, 4}) {
    EXPECT_EQ(flows.on_puback(old_id).status, AckStatus::UnknownPacketId);
    EXPECT_EQ(flows.on_pubcomp(old_id).status, AckStatus::UnknownPacketId);
  }

  const std::vector<Sent> expected = {
      {PacketType::Publish, false, 5, QoS::AtLeastOnce, "A"},
      {PacketType::Publish, false, 6, QoS::ExactlyOnce, "C"},
      {PacketType::Publish, false, 7, QoS::AtLeastOnce, "E"},
  };
  EXPECT_EQ(drain(flows), expected);
}

TEST(OutboundFlowsTest, DiscardPendingKeepsInFlightAndOrder) {
  StringFlows flows(1);
  for (const char* name : {"sent", "x1", "keep1", "x2", "keep2"}) {
    ASSERT_TRUE(flows.enqueue(QoS::AtLeastOnce, name));
  }
  ASSERT_EQ(drain(flows).size(), 1u);
  const auto expired = [](const std::string& m) { return m[0] == 'x' || m == "sent"; };
  EXPECT_EQ(flows.discard_pending_if(expired), 2u);  // "sent" is in flight, not pending
  EXPECT_EQ(flows.in_flight(), 1u);
  EXPECT_EQ(flows.pending(), 2u);
  ASSERT_EQ(flows.on_puback(1).status, AckStatus::Completed);
  auto sent = drain(flows);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].message, "keep1");
  ASSERT_EQ(flows.on_puback(sent[0].id).status, AckStatus::Completed);
  sent = drain(flows);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].message, "keep2");
}

TEST(OutboundFlowsTest, SubscribeIdsShareTheIdSpace) {
  StringFlows flows;
  ASSERT_TRUE(flows.enqueue(QoS::AtLeastOnce, "a"));
  ASSERT_EQ(drain(flows).size(), 1u);  // id 1
  const std::uint16_t subscribe_id = flows.allocate_id();
  EXPECT_EQ(subscribe_id, 2);
  EXPECT_FALSE(flows.release_id(1));  // held by a PUBLISH flow
  EXPECT_EQ(flows.in_flight(), 1u);
  EXPECT_TRUE(flows.release_id(subscribe_id));
  EXPECT_FALSE(flows.release_id(subscribe_id));

  // Exhaust the space with SUBSCRIBE ids: PUBLISH waits for an id, then gets the freed one.
  for (int i = 0; i < 65534; ++i)
    ASSERT_NE(flows.allocate_id(), 0);
  EXPECT_EQ(flows.allocate_id(), 0);
  ASSERT_TRUE(flows.enqueue(QoS::AtLeastOnce, "b"));
  EXPECT_FALSE(flows.next_publish().has_value());
  EXPECT_EQ(flows.pending(), 1u);
  ASSERT_TRUE(flows.release_id(300));
  const auto sent = drain(flows);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].id, 300);
  EXPECT_EQ(flows.allocate_id(), 0);
}

TEST(OutboundFlowsTest, WorksWithMoveOnlyAndSharedMessages) {
  OutboundFlows<std::unique_ptr<int>> owned;
  auto value = std::make_unique<int>(42);
  int* const address = value.get();
  ASSERT_TRUE(owned.enqueue(QoS::ExactlyOnce, std::move(value)));
  const auto packet = owned.next_publish();
  ASSERT_TRUE(packet.has_value());
  EXPECT_EQ(packet->message.get(), address);
  ASSERT_EQ(owned.on_pubrec(packet->packet_id).status, AckStatus::SendPubrel);
  auto done = owned.on_pubcomp(packet->packet_id);
  ASSERT_TRUE(done.message.has_value());
  EXPECT_EQ(done.message->get(), address);

  // The router's shape: one immutable message shared by many sessions, released at the end.
  auto shared = std::make_shared<const std::string>("payload");
  {
    OutboundFlows<std::shared_ptr<const std::string>> session_a;
    OutboundFlows<std::shared_ptr<const std::string>> session_b;
    ASSERT_TRUE(session_a.enqueue(QoS::AtLeastOnce, shared));
    ASSERT_TRUE(session_b.enqueue(QoS::ExactlyOnce, shared));
    ASSERT_TRUE(session_a.next_publish().has_value());
    EXPECT_EQ(shared.use_count(), 3);
    EXPECT_EQ(session_a.on_puback(1).status, AckStatus::Completed);
    EXPECT_EQ(shared.use_count(), 2);
  }
  EXPECT_EQ(shared.use_count(), 1);
}

// ---------------------------------------------------------------------------------------------
// InboundQos2

TEST(InboundQos2Test, DeliversOnceUntilPubrel) {
  InboundQos2 inbound;
  EXPECT_EQ(inbound.on_publish(5), InboundPublish::Deliver);
  EXPECT_EQ(inbound.on_publish(5), InboundPublish::Duplicate);
  EXPECT_EQ(inbound.on_publish(6), InboundPublish::Deliver);
  EXPECT_EQ(inbound.awaiting_pubrel(), 2u);
  EXPECT_TRUE(inbound.on_pubrel(5));
  EXPECT_FALSE(inbound.on_pubrel(5));                         // v5: PUBCOMP 0x92
  EXPECT_EQ(inbound.on_publish(5), InboundPublish::Deliver);  // the id was reused: a new message
  EXPECT_EQ(inbound.awaiting_pubrel(), 2u);
}

TEST(InboundQos2Test, UnknownPubrelIsReported) {
  InboundQos2 inbound;
  EXPECT_FALSE(inbound.on_pubrel(1));
  EXPECT_FALSE(inbound.on_pubrel(0));
  EXPECT_EQ(inbound.awaiting_pubrel(), 0u);
}

TEST(InboundQos2Test, ReceiveMaximumExceededIsReported) {
  InboundQos2 inbound(2);
  EXPECT_EQ(inbound.on_publish(1), InboundPublish::Deliver);
  EXPECT_EQ(inbound.on_publish(2), InboundPublish::Deliver);
  EXPECT_EQ(inbound.on_publish(3), InboundPublish::ReceiveMaximumExceeded);
  EXPECT_EQ(inbound.on_publish(1), InboundPublish::Duplicate);  // a resend is not a new message
  EXPECT_EQ(inbound.awaiting_pubrel(), 2u);
  EXPECT_FALSE(inbound.on_pubrel(3));  // not stored
  EXPECT_TRUE(inbound.on_pubrel(1));
  EXPECT_EQ(inbound.on_publish(3), InboundPublish::Deliver);
}

TEST(InboundQos2Test, DuplicateAcrossResumedReconnectIsNotDelivered) {
  StringFlows sender;
  InboundQos2 receiver;
  ASSERT_TRUE(sender.enqueue(QoS::ExactlyOnce, "m"));
  const auto first = sender.next_publish();
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(receiver.on_publish(first->packet_id), InboundPublish::Deliver);
  // The PUBREC is lost with the connection; the session is resumed on both sides.
  const auto again = resends(sender);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].type, PacketType::Publish);
  EXPECT_TRUE(again[0].dup);
  EXPECT_EQ(receiver.on_publish(again[0].id), InboundPublish::Duplicate);
  ASSERT_EQ(sender.on_pubrec(again[0].id).status, AckStatus::SendPubrel);
  // The PUBCOMP is lost too: the resent PUBREL finds no id and is answered with 0x92, which ends
  // the sender's flow all the same.
  EXPECT_TRUE(receiver.on_pubrel(again[0].id));
  const auto pubrel = resends(sender);
  ASSERT_EQ(pubrel.size(), 1u);
  EXPECT_EQ(pubrel[0].type, PacketType::Pubrel);
  EXPECT_FALSE(receiver.on_pubrel(pubrel[0].id));
  EXPECT_EQ(sender.on_pubcomp(pubrel[0].id).status, AckStatus::Completed);
  EXPECT_TRUE(sender.empty());
}

TEST(InboundQos2Test, ClearForgetsEverything) {
  InboundQos2 inbound;
  EXPECT_EQ(inbound.on_publish(9), InboundPublish::Deliver);
  inbound.clear();
  EXPECT_EQ(inbound.awaiting_pubrel(), 0u);
  EXPECT_EQ(inbound.on_publish(9), InboundPublish::Deliver);
}

// ---------------------------------------------------------------------------------------------
// A sender and a receiver over a connection that breaks at random, losing everything in
// transit. Reconnects resume the session (or, in the clean variants, sometimes do not).

struct Numbered {
  int seq = 0;
};

struct WirePacket {
  PacketType type;
  std::uint16_t id;
  QoS qos;
  bool dup;
  int seq;  // PUBLISH only
};

struct Scenario {
  std::uint16_t window;
  double clean_start_probability;
  unsigned seed;
};

class SessionStateRandomTest : public ::testing::TestWithParam<Scenario> {};

TEST_P(SessionStateRandomTest, EveryMessageArrivesWithItsGuarantee) {
  const Scenario scenario = GetParam();
  constexpr int kMessages = 3000;
  std::mt19937 random(scenario.seed);
  std::uniform_real_distribution<double> chance(0.0, 1.0);

  OutboundFlows<Numbered> sender(scenario.window);
  InboundQos2 receiver(scenario.window);
  std::deque<WirePacket> to_receiver;
  std::deque<WirePacket> to_sender;
  bool connected = true;
  bool all_resumed = true;

  std::vector<QoS> qos_of;                   // by seq
  std::vector<int> delivered;                // what the receiving application saw, in order
  std::vector<int> completed(kMessages, 0);  // flows ended at the sender, by seq
  int reconnects = 0;
  int qos2_duplicates = 0;

  const auto pump = [&] {
    while (connected) {
      const auto packet = sender.next_publish();
      if (!packet) break;
      ASSERT_FALSE(packet->dup);
      to_receiver.push_back(
          {PacketType::Publish, packet->packet_id, packet->qos, false, packet->message.seq});
    }
  };
  const auto reconnect = [&] {
    connected = true;
    ++reconnects;
    if (chance(random) < scenario.clean_start_probability) {
      all_resumed = false;
      receiver.clear();
      for (const Numbered& accepted : sender.restart_clean())
        ++completed[accepted.seq];
    } else {
      sender.for_each_resend([&](const OutboundPacket<Numbered>& packet) {
        to_receiver.push_back(
            {packet.type, packet.packet_id, packet.qos, packet.dup, packet.message.seq});
      });
    }
  };
  const auto receive = [&](const WirePacket& packet) {
    if (packet.type == PacketType::Pubrel) {
      receiver.on_pubrel(packet.id);  // known or 0x92: PUBCOMP either way
      to_sender.push_back({PacketType::Pubcomp, packet.id, packet.qos, false, 0});
    } else if (packet.qos == QoS::AtLeastOnce) {
      delivered.push_back(packet.seq);
      to_sender.push_back({PacketType::Puback, packet.id, packet.qos, false, 0});
    } else {
      const InboundPublish verdict = receiver.on_publish(packet.id);
      ASSERT_NE(verdict, InboundPublish::ReceiveMaximumExceeded) << "sender ignored the window";
      if (verdict == InboundPublish::Deliver) {
        delivered.push_back(packet.seq);
      } else {
        ASSERT_TRUE(packet.dup) << "a duplicate can only be a resend";
        ++qos2_duplicates;
      }
      to_sender.push_back({PacketType::Pubrec, packet.id, packet.qos, false, 0});
    }
  };
  const auto acknowledge = [&](const WirePacket& packet) {
    // Transit is flushed on every break, so every ack must find its flow in the right stage.
    if (packet.type == PacketType::Pubrec) {
      ASSERT_EQ(sender.on_pubrec(packet.id).status, AckStatus::SendPubrel);
      to_receiver.push_back({PacketType::Pubrel, packet.id, packet.qos, false, 0});
      return;
    }
    auto outcome = packet.type == PacketType::Puback ? sender.on_puback(packet.id)
                                                     : sender.on_pubcomp(packet.id);
    ASSERT_EQ(outcome.status, AckStatus::Completed);
    ASSERT_TRUE(outcome.message.has_value());
    ++completed[outcome.message->seq];
  };
  std::vector<bool> id_seen(65536, false);
  const auto check_invariants = [&] {
    std::vector<std::uint16_t> ids;
    bool ordered = true;
    int previous_seq = -1;
    sender.for_each_resend([&](const OutboundPacket<Numbered>& packet) {
      ids.push_back(packet.packet_id);
      ordered = ordered && packet.message.seq > previous_seq;
      previous_seq = packet.message.seq;
    });
    ASSERT_TRUE(ordered) << "flows out of send order";
    ASSERT_EQ(ids.size(), sender.in_flight());
    bool unique = true;
    for (const std::uint16_t id : ids) {
      unique = unique && id != 0 && !id_seen[id];
      id_seen[id] = true;
    }
    for (const std::uint16_t id : ids)
      id_seen[id] = false;
    ASSERT_TRUE(unique) << "packet id 0 or one id used by two flows";
    ASSERT_LE(sender.in_flight(), scenario.window);
    ASSERT_LE(receiver.awaiting_pubrel(), scenario.window);
  };

  int enqueued = 0;
  for (int step = 0; enqueued < kMessages || !sender.empty() || !to_receiver.empty() ||
                     !to_sender.empty() || !connected;
       ++step) {
    ASSERT_LT(step, 2'000'000) << "no progress";
    const bool faults = enqueued < kMessages;  // once all are queued, let the pair settle
    const double roll = chance(random);
    if (!connected) {
      if (roll < 0.5) reconnect();
    } else if (faults && roll < 0.01) {
      connected = false;
      to_receiver.clear();
      to_sender.clear();
    } else if (roll < 0.35) {
      if (!to_receiver.empty()) {
        const WirePacket packet = to_receiver.front();
        to_receiver.pop_front();
        receive(packet);
      }
    } else if (roll < 0.70) {
      if (!to_sender.empty()) {
        const WirePacket packet = to_sender.front();
        to_sender.pop_front();
        acknowledge(packet);
      }
    }
    if ((roll >= 0.70 || !connected) && enqueued < kMessages) {
      const QoS qos = random() % 2 == 0 ? QoS::AtLeastOnce : QoS::ExactlyOnce;
      qos_of.push_back(qos);
      ASSERT_TRUE(sender.enqueue(qos, Numbered{enqueued++}));
    }
    pump();
    if (HasFatalFailure()) return;
    // Walking thousands of flows every step would dominate the wide-window scenario.
    if (sender.in_flight() <= 64 || step % 16 == 0) check_invariants();
    if (HasFatalFailure()) return;
  }

  // Every flow ended exactly once at the sender.
  for (int seq = 0; seq < kMessages; ++seq)
    ASSERT_EQ(completed[seq], 1) << "seq " << seq;

  std::vector<int> times(kMessages, 0);
  std::vector<int> first_order;
  for (const int seq : delivered) {
    if (times[seq]++ == 0) first_order.push_back(seq);
  }
  // Nothing lost, and messages first reached the application in the order they were queued.
  ASSERT_EQ(first_order.size(), static_cast<std::size_t>(kMessages));
  for (int seq = 0; seq < kMessages; ++seq)
    ASSERT_EQ(first_order[seq], seq);
  if (all_resumed) {
    // QoS 2 exactly once, and in order.
    std::vector<int> qos2;
    for (const int seq : delivered) {
      if (qos_of[seq] == QoS::ExactlyOnce) qos2.push_back(seq);
    }
    for (int seq = 0; seq < kMessages; ++seq) {
      if (qos_of[seq] == QoS::ExactlyOnce) {
        EXPECT_EQ(times[seq], 1) << "seq " << seq;
      }
    }
    EXPECT_TRUE(std::is_sorted(qos2.begin(), qos2.end()));
    EXPECT_GT(qos2_duplicates, 0) << "the scenario never exercised duplicate suppression";
  }
  // The faults happened: otherwise this test proves nothing.
  EXPECT_GT(reconnects, 10);
  EXPECT_GT(delivered.size(), static_cast<std::size_t>(kMessages)) << "no QoS 1 redelivery";
}

INSTANTIATE_TEST_SUITE_P(Scenarios, SessionStateRandomTest,
                         ::testing::Values(Scenario{1, 0.0, 1}, Scenario{2, 0.0, 2},
                                           Scenario{7, 0.0, 3}, Scenario{65535, 0.0, 4},
                                           Scenario{3, 0.3, 5}, Scenario{50, 0.3, 6}),
                         [](const ::testing::TestParamInfo<Scenario>& scenario) {
                           return "window" + std::to_string(scenario.param.window) +
                                  (scenario.param.clean_start_probability > 0 ? "_clean"
                                                                              : "_resumed");
                         });

}  // namespace
}  // namespace psos::mqtt
