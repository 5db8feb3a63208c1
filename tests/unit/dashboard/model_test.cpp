// The dashboard's model: busy topics sampled (one entry per frame however many messages came),
// frames bounded, a client behind the event ring given a snapshot, payloads cut and shown safely.
#include "dashboard/model.hpp"

#include <gtest/gtest.h>

namespace psos::dashboard {
namespace {

using nlohmann::json;

TEST(Model, BusyTopicIsSampledOncePerFrame) {
  Model model;
  Cursor cursor;
  (void)model.next_frame(cursor);  // the snapshot
  for (int i = 0; i < 10'000; ++i)
    model.apply("busy", std::to_string(i), false, 1000 + i);
  const json frame = model.next_frame(cursor);
  ASSERT_EQ(frame["topics"].size(), 1u);
  EXPECT_EQ(frame["topics"][0]["p"], "9999");
  EXPECT_EQ(frame["topics"][0]["n"], 10'000);
  EXPECT_EQ(model.next_frame(cursor), json::object());
}

TEST(Model, FrameHoldsAtMostTheLimitAndTheRestFollows) {
  ModelLimits limits;
  limits.max_topics_per_frame = 3;
  Model model(limits);
  Cursor cursor;
  for (int i = 0; i < 7; ++i)
    model.apply("t/" + std::to_string(i), "x", false, 1);
  std::vector<std::string> seen;
  for (int f = 0; f < 3; ++f) {
    const json frame = model.next_frame(cursor);
    EXPECT_LE(frame["topics"].size(), 3u);
    for (const json& t : frame["topics"])
      seen.push_back(t["t"]);
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"t/0", "t/1", "t/2", "t/3", "t/4", "t/5", "t/6"}));
  EXPECT_FALSE(model.next_frame(cursor).contains("topics"));
}

TEST(Model, RateIsMessagesPerSecondOfTheLastWindow) {
  Model model;
  model.tick(1000);
  for (int i = 0; i < 50; ++i)
    model.apply("r", "1", false, 1000 + i);
  model.tick(1500);
  Cursor cursor;
  const json frame = model.next_frame(cursor);
  EXPECT_EQ(frame["topics"][0]["rate"], 100.0);
}

TEST(Model, ControlPlaneBecomesNodesAndEvents) {
  Model model;
  Cursor cursor;
  model.apply("psos/home/gw/$state", "ready", true, 1);
  model.apply("psos/home/gw/$info", R"({"version":"0.1.0","services":[]})", true, 2);
  model.apply("psos/home/gw/$metrics", R"({"ts":5,"cpu":1.5})", false, 5);
  model.apply("psos/home/gw/$log", R"({"seq":1,"level":"info","msg":"hi"})", false, 6);
  const json first = model.next_frame(cursor);
  ASSERT_EQ(first["snapshot"].size(), 1u);
  const json& node = first["snapshot"][0];
  EXPECT_EQ(node["id"], "home/gw");
  EXPECT_EQ(node["state"], "ready");
  EXPECT_EQ(node["info"]["version"], "0.1.0");
  EXPECT_EQ(node["metrics"].size(), 1u);
  EXPECT_EQ(node["logs"][0]["msg"], "hi");
  model.apply("psos/home/gw/$state", "lost", true, 7);
  const json next = model.next_frame(cursor);
  ASSERT_EQ(next["events"].size(), 1u);
  EXPECT_EQ(next["events"][0]["node"]["state"], "lost");
}

TEST(Model, ClientBehindTheEventRingGetsASnapshot) {
  ModelLimits limits;
  limits.max_events = 4;
  Model model(limits);
  Cursor cursor;
  model.apply("psos/s/n/$state", "init", true, 1);
  (void)model.next_frame(cursor);
  for (int i = 0; i < 10; ++i)
    model.apply("psos/s/n/$log", R"({"msg":"x"})", false, 2 + i);
  const json frame = model.next_frame(cursor);
  EXPECT_TRUE(frame.contains("snapshot"));
  EXPECT_FALSE(frame.contains("events"));
}

TEST(Model, PayloadsAreCutAndNonTextShownAsHex) {
  ModelLimits limits;
  limits.max_payload = 4;
  Model model(limits);
  Cursor cursor;
  model.apply("big", "abcdefgh", false, 1);
  model.apply("bin", std::string("\xff\x00\x01", 3), false, 1);
  model.apply("utf", "\xc3\xa9\xc3\xa9\xc3\xa9", false, 1);  // cut between characters
  const json frame = model.next_frame(cursor);
  std::map<std::string, json> by_topic;
  for (const json& t : frame["topics"])
    by_topic[t["t"]] = t;
  EXPECT_EQ(by_topic["big"]["p"], "abcd");
  EXPECT_EQ(by_topic["big"]["size"], 8);
  EXPECT_EQ(by_topic["bin"]["p"], "0xff0001");
  EXPECT_EQ(by_topic["utf"]["p"], "\xc3\xa9\xc3\xa9");
}

TEST(Model, TopicsBeyondTheLimitAreCountedNotKept) {
  ModelLimits limits;
  limits.max_topics = 2;
  Model model(limits);
  for (int i = 0; i < 5; ++i)
    model.apply("t/" + std::to_string(i), "x", false, 1);
  EXPECT_EQ(model.topic_count(), 2u);
  EXPECT_EQ(model.topics_dropped(), 3u);
}

TEST(Model, NonJsonControlPayloadsStayInTheTreeOnly) {
  Model model;
  Cursor cursor;
  model.apply("psos/s/n/$metrics", "not json", false, 1);
  model.apply("psos/s/n/$log", "[1,2]", false, 1);
  const json frame = model.next_frame(cursor);
  EXPECT_EQ(frame["snapshot"], json::array());
  EXPECT_EQ(frame["topics"].size(), 2u);
}

}  // namespace
}  // namespace psos::dashboard
