// The forwarding core (src/bridge/forward.*) alone: what leaves the node and what comes in,
// with the loop-prevention scheme it documents, for a v5 and a v3.1.1 remote session.
#include "bridge/forward.hpp"

#include <gtest/gtest.h>

namespace psos::bridge {
namespace {

using namespace std::chrono_literals;

Message make(std::string topic, std::string payload) {
  Message m;
  m.topic = std::move(topic);
  m.payload = std::move(payload);
  m.qos = mqtt::QoS::AtLeastOnce;
  return m;
}

bool has_via(const Message& m, const std::string& id) {
  for (const auto& [key, value] : m.user_properties)
    if (key == kVia && value == id) return true;
  return false;
}

const Clock::time_point t0 = Clock::now();

TEST(Forwarder, OutgoingGetsThePrefixTheQosAndTheVia) {
  Forwarder f("a", "site1/", true);
  const auto out = f.outgoing(make("t/1", "x"), mqtt::QoS::ExactlyOnce, t0);
  ASSERT_TRUE(out);
  EXPECT_EQ(out->topic, "site1/t/1");
  EXPECT_EQ(out->qos, mqtt::QoS::ExactlyOnce);
  EXPECT_TRUE(has_via(*out, "a"));
  EXPECT_EQ(f.outgoing(make("t/1", "x"), std::nullopt, t0)->qos, mqtt::QoS::AtLeastOnce);
  EXPECT_EQ(f.stats().sent, 2u);
}

TEST(Forwarder, LocalMessagesAndOurOwnViaNeverLeave) {
  Forwarder f("a", "", true);
  Message local = make("t", "x");
  local.local = true;
  EXPECT_FALSE(f.outgoing(local, std::nullopt, t0));
  Message looped = make("t", "x");
  looped.user_properties.emplace_back(std::string(kVia), "a");
  EXPECT_FALSE(f.outgoing(looped, std::nullopt, t0));
  EXPECT_EQ(f.stats().loops, 1u);
  // Another forwarder's mark is kept, and ours added.
  Message other = make("t", "x");
  other.user_properties.emplace_back(std::string(kVia), "b");
  const auto out = f.outgoing(other, std::nullopt, t0);
  ASSERT_TRUE(out);
  EXPECT_TRUE(has_via(*out, "a"));
  EXPECT_TRUE(has_via(*out, "b"));
}

// A cycle a -> broker -> b -> node -> a: the message stops when it reaches `a` again.
TEST(Forwarder, AMessageGoingRoundACycleStopsAtTheFirstForwarderItMeetsAgain) {
  Forwarder a("a", "", true), b("b", "", true);
  b.add("#");
  a.add("#");
  const auto out_a = a.outgoing(make("t", "x"), std::nullopt, t0);
  ASSERT_TRUE(out_a);
  const auto in_b = b.incoming(*out_a, t0);
  ASSERT_TRUE(in_b);
  const auto out_b = b.outgoing(*in_b, std::nullopt, t0);
  EXPECT_FALSE(out_b);  // b's own mark: it brought the message in
  // Had it gone out through another way, `a` refuses it coming in.
  EXPECT_FALSE(a.incoming(*in_b, t0));
  EXPECT_EQ(a.stats().loops, 1u);
}

TEST(Forwarder, IncomingTakesOneCopyPerMessage) {
  Forwarder f("a", "site1/", true);
  const std::uint32_t wide = f.add(f.remote_filter("t/#"));
  const std::uint32_t narrow = f.add(f.remote_filter("t/1"));
  EXPECT_EQ(f.add(f.remote_filter("t/#")), wide);  // counted, same identifier
  ASSERT_NE(wide, narrow);
  const std::uint32_t lowest = std::min(wide, narrow);
  const std::uint32_t other = std::max(wide, narrow);
  Message copy = make("site1/t/1", "x");
  copy.subscription_identifiers = {other};
  EXPECT_FALSE(f.incoming(copy, t0));
  copy.subscription_identifiers = {lowest};
  const auto in = f.incoming(copy, t0);
  ASSERT_TRUE(in);
  EXPECT_EQ(in->topic, "t/1");
  EXPECT_TRUE(in->subscription_identifiers.empty());
  EXPECT_TRUE(has_via(*in, "a"));
  // One copy with every identifier.
  copy.subscription_identifiers = {other, lowest};
  EXPECT_TRUE(f.incoming(copy, t0));
  // Outside the prefix, or matching no subscription: dropped.
  EXPECT_FALSE(f.incoming(make("site2/t/1", "x"), t0));
  EXPECT_FALSE(f.incoming(make("site1/u", "x"), t0));
  EXPECT_EQ(f.stats().received, 2u);
}

TEST(Forwarder, RemovingTheLastAddEndsTheSubscription) {
  Forwarder f("a", "", true);
  f.add("t/#");
  f.add("t/#");
  EXPECT_FALSE(f.remove("t/#"));
  EXPECT_EQ(f.counts().at("t/#"), 1u);
  EXPECT_TRUE(f.remove("t/#"));
  EXPECT_TRUE(f.counts().empty());
  EXPECT_FALSE(f.remove("t/#"));
  EXPECT_FALSE(f.incoming(make("t/1", "x"), t0));
}

TEST(Forwarder, SharedFiltersGetThePrefixOnTheirFilterPart) {
  Forwarder f("a", "p/", true);
  EXPECT_EQ(f.remote_filter("$share/g/t/#"), "$share/g/p/t/#");
  f.add(f.remote_filter("$share/g/t/#"));
  EXPECT_TRUE(f.incoming(make("p/t/1", "x"), t0));
}

TEST(Forwarder, V311DropsTheFirstEchoOfWhatItSentWithinAMinute) {
  Forwarder f("a", "", false);
  EXPECT_EQ(f.add("t/#"), 0u);  // no identifiers in v3.1.1
  const auto out = f.outgoing(make("t/1", "x"), std::nullopt, t0);
  ASSERT_TRUE(out);
  EXPECT_TRUE(out->user_properties.empty());             // no properties in v3.1.1
  (void)f.outgoing(make("u/1", "y"), std::nullopt, t0);  // no subscription brings it back
  EXPECT_FALSE(f.incoming(make("t/1", "x"), t0 + 1s));   // the echo
  EXPECT_TRUE(f.incoming(make("t/1", "x"), t0 + 2s));    // another publisher's, same content
  EXPECT_TRUE(f.incoming(make("u/1", "y"), t0 + 2s));
  (void)f.outgoing(make("t/1", "x"), std::nullopt, t0);
  EXPECT_TRUE(f.incoming(make("t/1", "x"), t0 + 61s));  // too late to be ours
  EXPECT_EQ(f.stats().echoes, 1u);
}

TEST(Forwarder, RefusalsAreReportedAtMostOncePerTenSeconds) {
  Forwarder f("a", "", true);
  EXPECT_TRUE(f.refused(t0));
  EXPECT_FALSE(f.refused(t0 + 1s));
  EXPECT_FALSE(f.refused(t0 + 9s));
  EXPECT_TRUE(f.refused(t0 + 11s));
  EXPECT_EQ(f.stats().refused, 4u);
}

}  // namespace
}  // namespace psos::bridge
