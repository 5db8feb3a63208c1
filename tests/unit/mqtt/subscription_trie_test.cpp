// Tests of the subscription trie: matching rules, shared groups and their round-robin, removal
// and node reclamation, and a randomised comparison with topic_matches.
#include "mqtt/subscription_trie.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "mqtt/topic.hpp"

namespace psos::mqtt {
namespace {

struct Matched {
  std::vector<std::uint64_t> subscribers;  // plain subscriptions, sorted
  std::vector<std::pair<std::string, std::vector<std::uint64_t>>> groups;  // sorted
};

// Every member of a group, in pick order, without disturbing the round-robin position.
std::vector<std::uint64_t> members(SharedGroup& group) {
  std::vector<std::uint64_t> out;
  group.pick([&](const Subscription& s) {
    out.push_back(s.subscriber);
    return false;
  });
  return out;
}

Matched match(SubscriptionTrie& trie, std::string_view topic) {
  Matched m;
  trie.match(
      topic, [&](const Subscription& s) { m.subscribers.push_back(s.subscriber); },
      [&](SharedGroup& g) {
        std::vector<std::uint64_t> ids = members(g);
        EXPECT_EQ(ids.size(), g.size());
        std::sort(ids.begin(), ids.end());
        m.groups.emplace_back(std::string(g.name()), std::move(ids));
      });
  std::sort(m.subscribers.begin(), m.subscribers.end());
  std::sort(m.groups.begin(), m.groups.end());
  return m;
}

std::vector<std::uint64_t> subscribers(SubscriptionTrie& trie, std::string_view topic) {
  return match(trie, topic).subscribers;
}

using Ids = std::vector<std::uint64_t>;
constexpr SubscriptionOptions kQos0{};

bool matches(std::string_view filter, std::string_view topic) {
  SubscriptionTrie trie;
  trie.add(filter, 1, kQos0);
  return subscribers(trie, topic) == Ids{1};
}

TEST(SubscriptionTrie, EmptyMatchesNothing) {
  SubscriptionTrie trie;
  EXPECT_TRUE(subscribers(trie, "a/b").empty());
  EXPECT_EQ(trie.size(), 0u);
  EXPECT_EQ(trie.node_count(), 0u);
}

TEST(SubscriptionTrie, ExactAndWildcardRules) {
  EXPECT_TRUE(matches("a/b", "a/b"));
  EXPECT_FALSE(matches("a/b", "a"));
  EXPECT_FALSE(matches("a/b", "a/b/c"));
  EXPECT_FALSE(matches("a/b", "A/b"));
  EXPECT_TRUE(matches("a/+", "a/b"));
  EXPECT_FALSE(matches("a/+", "a"));
  EXPECT_FALSE(matches("a/+", "a/b/c"));
  EXPECT_TRUE(matches("+/+", "a/b"));
  EXPECT_TRUE(matches("+/b/+", "a/b/c"));
  EXPECT_TRUE(matches("a/#", "a/b/c"));
  EXPECT_TRUE(matches("a/#", "a/b"));
  EXPECT_FALSE(matches("a/#", "b/a"));
  EXPECT_TRUE(matches("#", "a/b/c"));
  EXPECT_TRUE(matches("+/#", "a"));
  EXPECT_TRUE(matches("a/+/#", "a/b"));
  EXPECT_FALSE(matches("a/+/#", "a"));
}

TEST(SubscriptionTrie, HashAlsoMatchesTheParentLevel) {
  EXPECT_TRUE(matches("sport/#", "sport"));
  EXPECT_TRUE(matches("sport/tennis/#", "sport/tennis"));
  EXPECT_FALSE(matches("sport/tennis/#", "sport"));
  EXPECT_TRUE(matches("sport/#", "sport/"));
}

TEST(SubscriptionTrie, EmptyLevelsAreLevels) {
  EXPECT_TRUE(matches("a//b", "a//b"));
  EXPECT_FALSE(matches("a/b", "a//b"));
  EXPECT_TRUE(matches("a/+/b", "a//b"));
  EXPECT_TRUE(matches("/a", "/a"));
  EXPECT_FALSE(matches("a", "/a"));
  EXPECT_TRUE(matches("+/a", "/a"));
  EXPECT_TRUE(matches("/+", "/a"));
  EXPECT_TRUE(matches("+/+", "/"));
  EXPECT_FALSE(matches("+", "/"));
  EXPECT_TRUE(matches("a/", "a/"));
  EXPECT_FALSE(matches("a/", "a"));
  EXPECT_TRUE(matches("a/+", "a/"));
  EXPECT_TRUE(matches("#", "/"));
}

TEST(SubscriptionTrie, DollarTopicsAreNotMatchedByLeadingWildcards) {
  EXPECT_FALSE(matches("#", "$SYS/x"));
  EXPECT_FALSE(matches("+/x", "$SYS/x"));
  EXPECT_FALSE(matches("+", "$SYS"));
  EXPECT_FALSE(matches("+/#", "$SYS/x"));
  EXPECT_FALSE(matches("$share/g/#", "$SYS/x"));
  EXPECT_TRUE(matches("$SYS/#", "$SYS/x"));
  EXPECT_TRUE(matches("$SYS/#", "$SYS"));
  EXPECT_TRUE(matches("$SYS/+", "$SYS/x"));
  EXPECT_TRUE(matches("$SYS/x", "$SYS/x"));
  // Only the first level counts.
  EXPECT_TRUE(matches("a/+", "a/$x"));
  EXPECT_TRUE(matches("a/#", "a/$x"));
  EXPECT_TRUE(matches("+/$x", "a/$x"));
}

TEST(SubscriptionTrie, LongLevels) {
  const std::string level(100, 'x');
  EXPECT_TRUE(matches(level + "/+/" + level, level + "/y/" + level));
  EXPECT_FALSE(matches(level + "/" + level, level + "/" + level + "x"));
}

TEST(SubscriptionTrie, AddReportsNewAndReplacesOptions) {
  SubscriptionTrie trie;
  SubscriptionOptions options{QoS::AtLeastOnce, true, true, RetainHandling::DoNotSend, 7};
  EXPECT_TRUE(trie.add("a/+", 1, options));
  EXPECT_EQ(*trie.find("a/+", 1), options);
  options.qos = QoS::ExactlyOnce;
  options.identifier = 9;
  EXPECT_FALSE(trie.add("a/+", 1, options));
  EXPECT_EQ(*trie.find("a/+", 1), options);
  EXPECT_EQ(trie.size(), 1u);
  EXPECT_EQ(trie.find("a/+", 2), nullptr);
  EXPECT_EQ(trie.find("a/#", 1), nullptr);
  EXPECT_EQ(trie.find("a", 1), nullptr);

  std::vector<SubscriptionOptions> seen;
  trie.match(
      "a/b", [&](const Subscription& s) { seen.push_back(s.options); }, [](SharedGroup&) {});
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0], options);
}

TEST(SubscriptionTrie, OverlappingFiltersVisitOncePerFilter) {
  SubscriptionTrie trie;
  trie.add("a/b", 1, kQos0);
  trie.add("a/+", 1, kQos0);
  trie.add("#", 1, kQos0);
  trie.add("a/b", 2, kQos0);
  trie.add("c", 3, kQos0);
  EXPECT_EQ(subscribers(trie, "a/b"), (Ids{1, 1, 1, 2}));
  EXPECT_EQ(subscribers(trie, "a/c"), (Ids{1, 1}));
  EXPECT_EQ(subscribers(trie, "c"), (Ids{1, 3}));
}

TEST(SubscriptionTrie, RemoveAndPrune) {
  SubscriptionTrie trie;
  trie.add("a/b/c", 1, kQos0);
  const std::size_t nodes = trie.node_count();
  EXPECT_EQ(nodes, 3u);
  trie.add("a/b/c", 2, kQos0);
  trie.add("a/+/#", 1, kQos0);
  EXPECT_EQ(trie.size(), 3u);

  EXPECT_FALSE(trie.remove("a/b", 1));    // no such node with a subscription
  EXPECT_FALSE(trie.remove("a/b/c", 3));  // not subscribed
  EXPECT_FALSE(trie.remove("x/y", 1));
  EXPECT_TRUE(trie.remove("a/+/#", 1));
  EXPECT_FALSE(trie.remove("a/+/#", 1));
  EXPECT_EQ(trie.node_count(), nodes);
  EXPECT_EQ(subscribers(trie, "a/b/c"), (Ids{1, 2}));

  EXPECT_TRUE(trie.remove("a/b/c", 1));
  EXPECT_EQ(subscribers(trie, "a/b/c"), (Ids{2}));
  EXPECT_EQ(trie.node_count(), nodes);
  EXPECT_TRUE(trie.remove("a/b/c", 2));
  EXPECT_EQ(trie.size(), 0u);
  EXPECT_EQ(trie.node_count(), 0u);
  EXPECT_TRUE(subscribers(trie, "a/b/c").empty());
}

TEST(SubscriptionTrie, InteriorNodesStayWhileChildrenNeedThem) {
  SubscriptionTrie trie;
  trie.add("a", 1, kQos0);
  trie.add("a/b", 1, kQos0);
  trie.add("a/+", 1, kQos0);
  trie.add("a/#", 1, kQos0);
  EXPECT_EQ(trie.node_count(), 4u);
  EXPECT_TRUE(trie.remove("a", 1));
  EXPECT_EQ(trie.node_count(), 4u);  // "a" still carries children
  EXPECT_EQ(subscribers(trie, "a"), (Ids{1}));
  EXPECT_TRUE(trie.remove("a/+", 1));
  EXPECT_TRUE(trie.remove("a/#", 1));
  EXPECT_EQ(trie.node_count(), 2u);
  EXPECT_TRUE(trie.remove("a/b", 1));
  EXPECT_EQ(trie.node_count(), 0u);
}

TEST(SubscriptionTrie, RemoveAllRemovesOneSessionOnly) {
  SubscriptionTrie trie;
  trie.add("a/b", 1, kQos0);
  trie.add("a/#", 1, kQos0);
  trie.add("$share/g/a/b", 1, kQos0);
  trie.add("$share/g/a/b", 2, kQos0);
  trie.add("a/b", 2, kQos0);
  EXPECT_EQ(trie.remove_all(1), 3u);
  EXPECT_EQ(trie.remove_all(1), 0u);
  EXPECT_EQ(trie.size(), 2u);
  const Matched m = match(trie, "a/b");
  EXPECT_EQ(m.subscribers, (Ids{2}));
  ASSERT_EQ(m.groups.size(), 1u);
  EXPECT_EQ(m.groups[0].second, (Ids{2}));
  EXPECT_EQ(trie.remove_all(2), 2u);
  EXPECT_EQ(trie.node_count(), 0u);
  EXPECT_EQ(trie.size(), 0u);
}

TEST(SubscriptionTrie, SharedGroupsAreKeyedByNameAndFilter) {
  SubscriptionTrie trie;
  EXPECT_TRUE(trie.add("$share/g/a/+", 1, kQos0));
  EXPECT_TRUE(trie.add("$share/g/a/+", 2, kQos0));
  EXPECT_FALSE(trie.add("$share/g/a/+", 2, kQos0));
  EXPECT_TRUE(trie.add("$share/g/a/#", 3, kQos0));
  EXPECT_TRUE(trie.add("$share/h/a/+", 4, kQos0));
  EXPECT_TRUE(trie.add("a/+", 1, kQos0));  // plain and shared are distinct subscriptions
  EXPECT_EQ(trie.size(), 5u);

  const Matched m = match(trie, "a/b");
  EXPECT_EQ(m.subscribers, (Ids{1}));
  ASSERT_EQ(m.groups.size(), 3u);
  EXPECT_EQ(m.groups[0], (std::pair<std::string, Ids>{"g", {1, 2}}));
  EXPECT_EQ(m.groups[1], (std::pair<std::string, Ids>{"g", {3}}));
  EXPECT_EQ(m.groups[2], (std::pair<std::string, Ids>{"h", {4}}));

  EXPECT_TRUE(match(trie, "b/a").groups.empty());
  EXPECT_NE(trie.find("$share/g/a/+", 1), nullptr);
  EXPECT_EQ(trie.find("$share/x/a/+", 1), nullptr);
  EXPECT_FALSE(trie.remove("$share/x/a/+", 1));
  EXPECT_FALSE(trie.remove("$share/g/a/+", 4));
  EXPECT_TRUE(trie.remove("$share/g/a/+", 1));
  EXPECT_EQ(match(trie, "a/b").groups[0].second, (Ids{2}));
}

// Picks the members of the group matching `topic` `n` times, accepting everyone.
Ids picks(SubscriptionTrie& trie, std::string_view topic, int n) {
  Ids out;
  for (int i = 0; i < n; ++i) {
    trie.match(
        topic, [](const Subscription&) {},
        [&](SharedGroup& g) {
          const Subscription* s = g.pick([](const Subscription&) { return true; });
          ASSERT_NE(s, nullptr);
          out.push_back(s->subscriber);
        });
  }
  return out;
}

TEST(SubscriptionTrie, PickIsRoundRobin) {
  SubscriptionTrie trie;
  for (std::uint64_t id = 1; id <= 3; ++id)
    trie.add("$share/g/t", id, kQos0);
  const Ids first = picks(trie, "t", 3);
  Ids sorted = first;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(sorted, (Ids{1, 2, 3}));  // each member once per round
  EXPECT_EQ(picks(trie, "t", 3), first);
}

TEST(SubscriptionTrie, PickSkipsMembersThatDecline) {
  SubscriptionTrie trie;
  for (std::uint64_t id = 1; id <= 3; ++id)
    trie.add("$share/g/t", id, kQos0);
  std::vector<Ids> offered;
  Ids accepted;
  for (int round = 0; round < 4; ++round) {
    trie.match(
        "t", [](const Subscription&) {},
        [&](SharedGroup& g) {
          Ids seen;
          const Subscription* s = g.pick([&](const Subscription& m) {
            seen.push_back(m.subscriber);
            return m.subscriber != 2;  // session 2 is offline
          });
          ASSERT_NE(s, nullptr);
          accepted.push_back(s->subscriber);
          offered.push_back(seen);
        });
  }
  ASSERT_EQ(accepted.size(), 4u);
  EXPECT_EQ(std::count(accepted.begin(), accepted.end(), 2u), 0);
  EXPECT_NE(accepted[0], accepted[1]);  // alternates between 1 and 3
  EXPECT_EQ(accepted[0], accepted[2]);
  EXPECT_EQ(accepted[1], accepted[3]);
  for (const Ids& seen : offered)
    EXPECT_LE(seen.size(), 2u);

  bool none = false;
  trie.match(
      "t", [](const Subscription&) {},
      [&](SharedGroup& g) {
        int calls = 0;
        none = g.pick([&](const Subscription&) {
          ++calls;
          return false;
        }) == nullptr;
        EXPECT_EQ(calls, 3);
      });
  EXPECT_TRUE(none);
}

TEST(SubscriptionTrie, PickContinuesAfterTheLastPickedMemberLeaves) {
  SubscriptionTrie trie;
  for (std::uint64_t id = 1; id <= 4; ++id)
    trie.add("$share/g/t", id, kQos0);
  const Ids order = picks(trie, "t", 4);  // one full round: the cursor is back at order[3]
  const Ids next = picks(trie, "t", 2);
  EXPECT_EQ(next, (Ids{order[0], order[1]}));
  EXPECT_TRUE(trie.remove("$share/g/t", next[1]));  // the member picked last goes away
  EXPECT_EQ(picks(trie, "t", 2), (Ids{order[2], order[3]}));
  EXPECT_EQ(picks(trie, "t", 1), (Ids{order[0]}));
}

TEST(SubscriptionTrie, DeepTopicsNeedNoStack) {
  SubscriptionTrie trie;
  std::string filter = "+";
  std::string topic = "x";
  for (int i = 1; i < 20000; ++i) {
    filter += "/+";
    topic += "/x";
  }
  trie.add(filter, 1, kQos0);
  trie.add(filter + "/#", 2, kQos0);
  trie.add("#", 3, kQos0);
  EXPECT_EQ(subscribers(trie, topic), (Ids{1, 2, 3}));
  EXPECT_EQ(subscribers(trie, topic + "/x"), (Ids{2, 3}));
  EXPECT_EQ(trie.remove_all(1) + trie.remove_all(2) + trie.remove_all(3), 3u);
  EXPECT_EQ(trie.node_count(), 0u);
}

TEST(SubscriptionTrie, ManySubscribersOnOneFilter) {
  SubscriptionTrie trie;
  for (std::uint64_t id = 0; id < 5000; ++id)
    EXPECT_TRUE(trie.add("hot/#", id, kQos0));
  for (std::uint64_t id = 0; id < 5000; id += 2)
    EXPECT_FALSE(trie.add("hot/#", id, kQos0));
  EXPECT_EQ(subscribers(trie, "hot/x").size(), 5000u);
  for (std::uint64_t id = 0; id < 5000; id += 2)
    EXPECT_TRUE(trie.remove("hot/#", id));
  EXPECT_EQ(subscribers(trie, "hot").size(), 2500u);
  for (std::uint64_t id = 1; id < 5000; id += 2)
    EXPECT_EQ(trie.remove_all(id), 1u);
  EXPECT_EQ(trie.node_count(), 0u);
}

TEST(SubscriptionTrie, CopiesAreIndependent) {
  SubscriptionTrie trie;
  trie.add("a/+", 1, kQos0);
  SubscriptionTrie copy = trie;
  copy.add("a/b", 2, kQos0);
  EXPECT_TRUE(trie.remove("a/+", 1));
  EXPECT_TRUE(subscribers(trie, "a/b").empty());
  EXPECT_EQ(subscribers(copy, "a/b"), (Ids{1, 2}));
}

// A randomised comparison with the one-pair matcher, with churn, ending in an empty trie.
TEST(SubscriptionTrie, AgreesWithTopicMatchesUnderChurn) {
  const char* const levels[] = {"a", "b", "", "$SYS", "+", "#", "long-level-name-over-16"};
  const char* const topic_levels[] = {"a", "b", "", "$SYS", "long-level-name-over-16"};
  std::mt19937 rng(12345);
  const auto random_filter = [&] {
    std::string filter;
    const int depth = 1 + static_cast<int>(rng() % 4);
    for (int i = 0; i < depth; ++i) {
      if (i) filter += '/';
      filter += levels[rng() % 7];
    }
    if (rng() % 5 == 0) filter = std::string("$share/") + (rng() % 2 ? "g/" : "h/") + filter;
    return filter;
  };
  const auto random_topic = [&] {
    std::string topic;
    const int depth = 1 + static_cast<int>(rng() % 4);
    for (int i = 0; i < depth; ++i) {
      if (i) topic += '/';
      topic += topic_levels[rng() % 5];
    }
    return topic;
  };

  SubscriptionTrie trie;
  std::vector<std::pair<std::string, std::uint64_t>> model;
  for (int step = 0; step < 20000; ++step) {
    const std::uint64_t subscriber = rng() % 8;
    const int op = static_cast<int>(rng() % 10);
    if (op < 5) {
      const std::string filter = random_filter();
      const std::size_t hash = filter.find('#');
      if (hash != std::string::npos && hash + 1 != filter.size()) continue;  // '#' not last
      const std::pair<std::string, std::uint64_t> sub{filter, subscriber};
      const bool fresh = std::find(model.begin(), model.end(), sub) == model.end();
      if (fresh) model.push_back(sub);
      ASSERT_EQ(trie.add(filter, subscriber, kQos0), fresh) << filter;
    } else if (op < 8 && !model.empty()) {
      const auto victim = model.begin() + static_cast<std::ptrdiff_t>(rng() % model.size());
      ASSERT_TRUE(trie.remove(victim->first, victim->second)) << victim->first;
      model.erase(victim);
    } else if (op == 8) {
      const auto gone = std::erase_if(model, [&](const auto& s) { return s.second == subscriber; });
      ASSERT_EQ(trie.remove_all(subscriber), gone);
    } else {
      const std::string topic = random_topic();
      Matched expected;
      std::vector<std::pair<std::string, std::string>> keys;  // (group, filter)
      for (const auto& [filter, id] : model) {
        const SharedFilter shared = split_shared(filter);
        if (!topic_matches(shared.filter, topic)) continue;
        if (shared.group.empty()) {
          expected.subscribers.push_back(id);
          continue;
        }
        const std::pair<std::string, std::string> key{shared.group, shared.filter};
        const auto at = std::find(keys.begin(), keys.end(), key);
        if (at == keys.end()) {
          keys.push_back(key);
          expected.groups.emplace_back(key.first, Ids{id});
        } else {
          expected.groups[static_cast<std::size_t>(at - keys.begin())].second.push_back(id);
        }
      }
      std::sort(expected.subscribers.begin(), expected.subscribers.end());
      for (auto& group : expected.groups)
        std::sort(group.second.begin(), group.second.end());
      std::sort(expected.groups.begin(), expected.groups.end());
      const Matched actual = match(trie, topic);
      ASSERT_EQ(actual.subscribers, expected.subscribers) << topic;
      ASSERT_EQ(actual.groups, expected.groups) << topic;
    }
    ASSERT_EQ(trie.size(), model.size());
  }
  for (std::uint64_t id = 0; id < 8; ++id)
    trie.remove_all(id);
  EXPECT_EQ(trie.size(), 0u);
  EXPECT_EQ(trie.node_count(), 0u);
}

TEST(SubscriptionTrie, ChurnReusesNodes) {
  SubscriptionTrie trie;
  for (int round = 0; round < 50; ++round) {
    for (int i = 0; i < 200; ++i) {
      trie.add("r/" + std::to_string(round) + "/" + std::to_string(i), 1, kQos0);
    }
    EXPECT_EQ(trie.node_count(), 202u);  // "r", the round, 200 leaves
    EXPECT_EQ(trie.remove_all(1), 200u);
    EXPECT_EQ(trie.node_count(), 0u);
  }
}

}  // namespace
}  // namespace psos::mqtt
