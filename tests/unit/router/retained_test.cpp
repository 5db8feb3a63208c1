// The retained-message tree (src/router/retained.*) against the protocol core's topic_matches():
// for random topics and filters both must select exactly the same messages.
#include "router/retained.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>

#include "mqtt/topic.hpp"

namespace psos::router {
namespace {

MessagePtr message(std::string topic) {
  auto m = std::make_shared<Message>();
  m->topic = std::move(topic);
  m->payload = "x";
  return m;
}

std::set<std::string> matched(const RetainedMessages& r, std::string_view filter) {
  std::set<std::string> topics;
  r.match(filter, [&](const MessagePtr& m) {
    EXPECT_TRUE(topics.insert(m->topic).second) << "visited twice: " << m->topic;
  });
  return topics;
}

TEST(RetainedMessages, SetReplaceEraseAndFind) {
  RetainedMessages r;
  r.set(message("a/b"));
  r.set(message("a/b/c"));
  r.set(message("a/b"));  // replaces
  EXPECT_EQ(r.size(), 2u);
  ASSERT_NE(r.find("a/b"), nullptr);
  EXPECT_EQ((*r.find("a/b"))->topic, "a/b");
  EXPECT_EQ(r.find("a"), nullptr);  // a branch, not a message
  EXPECT_FALSE(r.erase("a"));
  EXPECT_TRUE(r.erase("a/b"));
  EXPECT_FALSE(r.erase("a/b"));
  EXPECT_EQ(r.size(), 1u);
  EXPECT_NE(r.find("a/b/c"), nullptr);  // its branch stays for the child
  EXPECT_TRUE(r.erase("a/b/c"));
  EXPECT_EQ(r.size(), 0u);
  EXPECT_TRUE(matched(r, "#").empty());
}

TEST(RetainedMessages, WildcardsFollowTheSpec) {
  RetainedMessages r;
  for (const char* t : {"a", "a/b", "a/b/c", "a//c", "/a", "$SYS/x", "$SYS", "b/$x", ""})
    r.set(message(t));
  using S = std::set<std::string>;
  EXPECT_EQ(matched(r, "a/#"), (S{"a", "a/b", "a/b/c", "a//c"}));
  EXPECT_EQ(matched(r, "#"), (S{"a", "a/b", "a/b/c", "a//c", "/a", "b/$x", ""}));
  EXPECT_EQ(matched(r, "+"), (S{"a", ""}));
  EXPECT_EQ(matched(r, "+/+"), (S{"a/b", "/a", "b/$x"}));
  EXPECT_EQ(matched(r, "a/+/c"), (S{"a/b/c", "a//c"}));
  EXPECT_EQ(matched(r, "$SYS/#"), (S{"$SYS", "$SYS/x"}));
  EXPECT_EQ(matched(r, "+/x"), S{});
}

TEST(RetainedMessages, AgreesWithTopicMatchesOnRandomTrees) {
  std::mt19937 rng(12345);
  const std::vector<std::string> levels = {"a", "b", "c", "", "$s", "dd"};
  const auto random_topic = [&] {
    std::string t;
    const int n = 1 + static_cast<int>(rng() % 4);
    for (int i = 0; i < n; ++i) {
      if (i) t += '/';
      t += levels[rng() % levels.size()];
    }
    return t;
  };
  const auto random_filter = [&] {
    std::string f;
    const int n = 1 + static_cast<int>(rng() % 4);
    for (int i = 0; i < n; ++i) {
      if (i) f += '/';
      const unsigned pick = rng() % 8;
      if (pick == 0 && i == n - 1) {
        f += '#';
      } else if (pick < 3) {
        f += '+';
      } else {
        f += levels[rng() % levels.size()];
      }
    }
    return f;
  };
  for (int round = 0; round < 50; ++round) {
    RetainedMessages r;
    std::set<std::string> all;
    for (int i = 0; i < 60; ++i) {
      const std::string t = random_topic();
      r.set(message(t));
      all.insert(t);
    }
    for (int i = 0; i < 15; ++i) {
      const std::string t = random_topic();
      EXPECT_EQ(r.erase(t), all.erase(t) == 1) << t;
    }
    ASSERT_EQ(r.size(), all.size());
    for (int i = 0; i < 40; ++i) {
      const std::string f = random_filter();
      std::set<std::string> expected;
      std::copy_if(all.begin(), all.end(), std::inserter(expected, expected.end()),
                   [&](const std::string& t) { return mqtt::topic_matches(f, t); });
      EXPECT_EQ(matched(r, f), expected) << "filter " << f;
    }
  }
}

}  // namespace
}  // namespace psos::router
