// Tests of the ACL: who a rule applies to (anonymous, named users, patterns), access kinds, deny
// precedence, %u/%c substitution that cannot widen a pattern, filter coverage for SUBSCRIBE and
// per-message read checks, and load errors.
#include "router/security/acl.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "mqtt/topic.hpp"
#include "router/security/security_file.hpp"

namespace psos::router {
namespace {

using std::nullopt;

Acl acl(std::string_view text) {
  return Acl::parse(text, "acl");
}

std::vector<std::string> load_problems(std::string_view text) {
  try {
    Acl::parse(text, "acl");
  } catch (const SecurityFileError& error) {
    return error.problems();
  }
  return {};
}

TEST(Acl, AllowAllAllowsEverything) {
  const Acl a = Acl::allow_all();
  EXPECT_TRUE(a.allows_everything());
  EXPECT_TRUE(a.can_publish(nullopt, "c", "$SYS/x"));
  EXPECT_TRUE(a.can_subscribe("u", "c", "#"));
  EXPECT_TRUE(a.can_receive("u", "c", "a/b"));
}

TEST(Acl, AnEmptyFileDeniesEverything) {
  const Acl a = acl("# nothing granted\n\n");
  EXPECT_FALSE(a.allows_everything());
  EXPECT_FALSE(a.can_publish(nullopt, "c", "a"));
  EXPECT_FALSE(a.can_publish("alice", "c", "a"));
  EXPECT_FALSE(a.can_subscribe("alice", "c", "a"));
  EXPECT_FALSE(a.can_receive(nullopt, "c", "a"));
}

TEST(Acl, TopicLinesBeforeTheFirstUserAreForAnonymousClientsOnly) {
  const Acl a =
      acl("topic read public/#\n"
          "user alice\n"
          "topic readwrite alice/#\n");
  EXPECT_TRUE(a.can_subscribe(nullopt, "c", "public/#"));
  EXPECT_TRUE(a.can_receive(nullopt, "c", "public/news"));
  EXPECT_FALSE(a.can_publish(nullopt, "c", "public/news"));
  EXPECT_FALSE(a.can_receive(nullopt, "c", "alice/x"));
  EXPECT_FALSE(a.can_receive("alice", "c", "public/news"));  // alice's rules replace them
  EXPECT_FALSE(a.can_receive("bob", "c", "public/news"));
}

TEST(Acl, UserRulesApplyToThatUserAndRepeatedBlocksMerge) {
  const Acl a =
      acl("user alice\n"
          "topic read sensors/#\n"
          "user bob\n"
          "topic write cmd/#\n"
          "user alice\n"
          "topic write out/alice\n"
          "user r\xC3\xA9my with spaces\n"
          "topic x/y z\n");
  EXPECT_TRUE(a.can_subscribe("alice", "c", "sensors/+/temp"));
  EXPECT_TRUE(a.can_publish("alice", "c", "out/alice"));
  EXPECT_FALSE(a.can_publish("alice", "c", "sensors/1"));  // read only
  EXPECT_FALSE(a.can_publish("alice", "c", "cmd/1"));
  EXPECT_TRUE(a.can_publish("bob", "c", "cmd/1"));
  EXPECT_FALSE(a.can_subscribe("bob", "c", "cmd/1"));  // write only
  EXPECT_FALSE(a.can_receive("bob", "c", "cmd/1"));
  EXPECT_FALSE(a.can_publish(nullopt, "c", "cmd/1"));
  // No access keyword means readwrite; a filter may contain spaces.
  EXPECT_TRUE(a.can_publish("r\xC3\xA9my with spaces", "c", "x/y z"));
  EXPECT_TRUE(a.can_receive("r\xC3\xA9my with spaces", "c", "x/y z"));
}

TEST(Acl, PatternsApplyToEveryoneWhereverTheyAppear) {
  const Acl a =
      acl("user alice\n"
          "topic read alice/#\n"
          "pattern read status/#\n"
          "user bob\n");
  for (const std::optional<std::string_view> user :
       {std::optional<std::string_view>("alice"), std::optional<std::string_view>("bob"),
        std::optional<std::string_view>("carol"), std::optional<std::string_view>()}) {
    EXPECT_TRUE(a.can_receive(user, "c", "status/x")) << user.value_or("(anonymous)");
  }
  EXPECT_TRUE(a.can_receive("alice", "c", "alice/x"));
}

TEST(Acl, PatternsSubstituteUserAndClientId) {
  const Acl a =
      acl("pattern readwrite users/%u/#\n"
          "pattern write clients/%c/status\n"
          "pattern read mixed/%u-%c\n");
  EXPECT_TRUE(a.can_publish("alice", "dev1", "users/alice/x"));
  EXPECT_TRUE(a.can_publish("alice", "dev1", "users/alice"));
  EXPECT_FALSE(a.can_publish("alice", "dev1", "users/bob/x"));
  EXPECT_FALSE(a.can_publish("alice", "dev1", "users/alic/x"));
  EXPECT_FALSE(a.can_publish("alice", "dev1", "users/alicex/x"));
  EXPECT_TRUE(a.can_subscribe("alice", "dev1", "users/alice/+"));
  EXPECT_FALSE(a.can_subscribe("alice", "dev1", "users/+/x"));
  EXPECT_TRUE(a.can_publish("alice", "dev1", "clients/dev1/status"));
  EXPECT_FALSE(a.can_publish("alice", "dev1", "clients/dev2/status"));
  EXPECT_TRUE(a.can_receive("alice", "dev1", "mixed/alice-dev1"));
  EXPECT_FALSE(a.can_receive("alice", "dev1", "mixed/alice-dev2"));
  // Anonymous clients get the %c patterns, not the %u ones.
  EXPECT_TRUE(a.can_publish(nullopt, "dev1", "clients/dev1/status"));
  EXPECT_FALSE(a.can_publish(nullopt, "dev1", "users//x"));
  EXPECT_FALSE(a.can_receive(nullopt, "dev1", "mixed/-dev1"));
}

TEST(Acl, TopicLinesDoNotSubstitute) {
  const Acl a = acl("user alice\ntopic read users/%u\n");
  EXPECT_FALSE(a.can_receive("alice", "c", "users/alice"));
  EXPECT_TRUE(a.can_receive("alice", "c", "users/%u"));
}

TEST(Acl, SubstitutedWildcardsOrSlashesNeverWidenAPattern) {
  const Acl a =
      acl("pattern readwrite users/%u/#\n"
          "pattern readwrite clients/%c\n");
  // A user named "+" or "#" would otherwise read every user's topics.
  for (const char* user : {"+", "#", "a+b", "x#", "alice/bob", "/", ""}) {
    EXPECT_FALSE(a.can_receive(user, "c", "users/alice/x")) << user;
    EXPECT_FALSE(a.can_subscribe(user, "c", "users/alice/#")) << user;
    EXPECT_FALSE(a.can_subscribe(user, "c", std::string("users/") + user + "/#")) << user;
    EXPECT_FALSE(a.can_publish(user, "c", "users/alice/bob/x")) << user;
  }
  EXPECT_FALSE(a.can_publish("alice", "a/b", "clients/a/b"));
  EXPECT_FALSE(a.can_subscribe("alice", "#", "clients/#"));
  EXPECT_FALSE(a.can_subscribe("alice", "+", "clients/+"));
  EXPECT_FALSE(a.can_publish("alice", "", "clients/"));
  // The unusable value only disables the patterns that use it.
  EXPECT_TRUE(a.can_publish("alice/bob", "ok", "clients/ok"));
  EXPECT_TRUE(a.can_publish("alice", "ok", "users/alice/x"));
}

TEST(Acl, DenyWinsOverEveryGrant) {
  const Acl a =
      acl("topic readwrite #\n"
          "topic deny secret/#\n"
          "user alice\n"
          "topic readwrite #\n"
          "topic deny alice/private\n"
          "pattern deny blocked/%c\n");
  EXPECT_TRUE(a.can_publish(nullopt, "c", "a/b"));
  EXPECT_FALSE(a.can_publish(nullopt, "c", "secret/x"));
  EXPECT_FALSE(a.can_receive(nullopt, "c", "secret"));
  EXPECT_FALSE(a.can_subscribe(nullopt, "c", "secret/#"));
  EXPECT_TRUE(a.can_publish("alice", "c", "secret/x"));  // the anonymous deny is not hers
  EXPECT_FALSE(a.can_publish("alice", "c", "alice/private"));
  EXPECT_FALSE(a.can_receive("alice", "c", "alice/private"));
  EXPECT_FALSE(a.can_publish("alice", "c", "blocked/c"));  // a pattern deny beats a user grant
  EXPECT_TRUE(a.can_publish("alice", "c", "blocked/d"));
  EXPECT_FALSE(a.can_publish(nullopt, "c", "blocked/c"));
}

TEST(Acl, ReadIsCheckedPerMessageSoPartialDeniesFilterDeliveries) {
  const Acl a =
      acl("user alice\n"
          "topic read a/#\n"
          "topic deny a/secret\n");
  // The subscription is allowed: only part of what a/# matches is denied...
  EXPECT_TRUE(a.can_subscribe("alice", "c", "a/#"));
  EXPECT_TRUE(a.can_subscribe("alice", "c", "a/+"));
  // ...and those messages are not delivered.
  EXPECT_TRUE(a.can_receive("alice", "c", "a/public"));
  EXPECT_FALSE(a.can_receive("alice", "c", "a/secret"));
  EXPECT_TRUE(a.can_receive("alice", "c", "a/secret/below"));
  // A filter that matches only denied topics is refused outright.
  EXPECT_FALSE(a.can_subscribe("alice", "c", "a/secret"));
}

TEST(Acl, SubscribeNeedsOneReadRuleCoveringTheWholeFilter) {
  const Acl a =
      acl("user alice\n"
          "topic read a/b\n"
          "topic read x/+\n"
          "topic read y/#\n"
          "topic read $SYS/broker/#\n"
          "topic read #\n"
          "user bob\n"
          "topic read a/b\n"
          "topic read a/c\n");
  EXPECT_TRUE(a.can_subscribe("bob", "c", "a/b"));
  EXPECT_FALSE(a.can_subscribe("bob", "c", "a/+"));  // a/b and a/c do not add up to a/+
  EXPECT_FALSE(a.can_subscribe("bob", "c", "a/#"));
  EXPECT_TRUE(a.can_subscribe("alice", "c", "x/+"));
  EXPECT_TRUE(a.can_subscribe("alice", "c", "x/z"));
  EXPECT_TRUE(a.can_subscribe("alice", "c", "y/+/z/#"));
  EXPECT_TRUE(a.can_subscribe("alice", "c", "#"));
  // '#' does not reach $ topics: $SYS needs its own rule.
  EXPECT_TRUE(a.can_subscribe("alice", "c", "$SYS/broker/load"));
  EXPECT_TRUE(a.can_subscribe("alice", "c", "$SYS/broker/#"));
  EXPECT_FALSE(a.can_subscribe("alice", "c", "$SYS/#"));
  EXPECT_FALSE(a.can_subscribe("alice", "c", "$SYS/other"));
  EXPECT_FALSE(a.can_receive("alice", "c", "$SYS/other"));
  EXPECT_TRUE(a.can_receive("alice", "c", "$SYS/broker/uptime"));
}

TEST(Acl, SharedSubscriptionsAreCheckedOnTheirFilter) {
  const Acl a =
      acl("user alice\n"
          "topic read jobs/#\n");
  EXPECT_TRUE(a.can_subscribe("alice", "c", "$share/workers/jobs/+"));
  EXPECT_TRUE(a.can_subscribe("alice", "c", "$share/jobs/jobs/#"));
  EXPECT_FALSE(a.can_subscribe("alice", "c", "$share/jobs/other"));
  EXPECT_FALSE(a.can_subscribe("alice", "c", "$share/g/#"));
}

TEST(FilterCovers, Examples) {
  EXPECT_TRUE(filter_covers("a/b", "a/b"));
  EXPECT_TRUE(filter_covers("a/+", "a/+"));
  EXPECT_TRUE(filter_covers("a/#", "a/+"));
  EXPECT_FALSE(filter_covers("a/b", "a/+"));
  EXPECT_TRUE(filter_covers("a/#", "a"));  // a/# matches its parent a
  EXPECT_FALSE(filter_covers("a/+", "a"));
  EXPECT_TRUE(filter_covers("a/#", "a/#"));
  EXPECT_FALSE(filter_covers("a/+/#", "a/#"));  // a/# matches a, a/+/# does not
  EXPECT_TRUE(filter_covers("a/+/#", "a/+"));   // a/+/# matches a/x through its parent rule
  EXPECT_FALSE(filter_covers("a/+", "a/#"));
  EXPECT_FALSE(filter_covers("a/b", "a/b/c"));
  EXPECT_FALSE(filter_covers("a/b/c", "a/b"));
  EXPECT_TRUE(filter_covers("+/+", "+/b"));
  EXPECT_TRUE(filter_covers("#", "+/x/#"));
  EXPECT_TRUE(filter_covers("#", "#"));
  EXPECT_TRUE(filter_covers("+/#", "#"));  // both match every topic not starting with '$'
  EXPECT_FALSE(filter_covers("+/+/#", "#"));
  EXPECT_FALSE(filter_covers("#", "$SYS/#"));
  EXPECT_FALSE(filter_covers("+/x", "$SYS/x"));
  EXPECT_TRUE(filter_covers("$SYS/#", "$SYS/x"));
  EXPECT_TRUE(filter_covers("+/a", "/a"));
  EXPECT_FALSE(filter_covers("a", "/a"));
}

// Checks filter_covers against its definition on a small universe: `rule` covers `filter` when
// every topic `filter` matches is matched by `rule` too (topic_matches is the reference).
TEST(FilterCovers, AgreesWithTopicMatchesOnEveryPairOfASmallUniverse) {
  std::vector<std::string> topics;
  const std::vector<std::string> topic_levels = {"a", "b", "z", "", "$SYS"};
  std::vector<std::string> frontier = {""};
  for (int depth = 1; depth <= 4; ++depth) {
    std::vector<std::string> next;
    for (const std::string& prefix : frontier)
      for (const std::string& level : topic_levels)
        next.push_back(depth == 1 ? level : prefix + "/" + level);
    topics.insert(topics.end(), next.begin(), next.end());
    frontier = std::move(next);
  }
  std::vector<std::string> filters;
  const std::vector<std::string> filter_levels = {"a", "b", "+", "#", "$SYS"};
  frontier = {""};
  for (int depth = 1; depth <= 3; ++depth) {
    std::vector<std::string> next;
    for (const std::string& prefix : frontier)
      for (const std::string& level : filter_levels) {
        const std::string filter = depth == 1 ? level : prefix + "/" + level;
        if (!mqtt::validate_topic_filter(filter)) next.push_back(filter);
      }
    filters.insert(filters.end(), next.begin(), next.end());
    frontier = std::move(next);
  }
  int covered = 0;
  for (const std::string& rule : filters) {
    for (const std::string& filter : filters) {
      bool by_definition = true;
      for (const std::string& topic : topics) {
        if (topic.empty()) continue;  // not a valid topic name
        if (mqtt::topic_matches(filter, topic) && !mqtt::topic_matches(rule, topic)) {
          by_definition = false;
          break;
        }
      }
      EXPECT_EQ(filter_covers(rule, filter), by_definition) << rule << " covers " << filter;
      covered += by_definition;
    }
  }
  EXPECT_GT(covered, 100);
}

// A topic line's filter decides delivery exactly as the MQTT matcher does.
TEST(Acl, ReadRulesMatchTopicsLikeTheProtocolMatcher) {
  const std::vector<std::string> filters = {"a/b", "a/+", "a/#",    "#",    "+",     "+/+",
                                            "/#",  "+/b", "$SYS/#", "a//b", "a/+/#", "$SYS"};
  const std::vector<std::string> topics = {"a",  "a/b",  "a/b/c", "/",      "/a", "b",
                                           "a/", "a//b", "$SYS",  "$SYS/x", "x/b"};
  for (const std::string& filter : filters) {
    const Acl a = acl("topic read " + filter + "\n");
    for (const std::string& topic : topics)
      EXPECT_EQ(a.can_receive(nullopt, "c", topic), mqtt::topic_matches(filter, topic))
          << filter << " vs " << topic;
  }
}

TEST(Acl, ReportsEveryBadLineWithItsNumber) {
  const std::vector<std::string> expected = {
      "acl:2: unknown keyword 'topics': expected 'user', 'topic' or 'pattern'",
      "acl:3: 'user' needs a user name",
      "acl:4: 'topic' needs [read|write|readwrite|deny] and a topic filter",
      "acl:5: 'topic read' needs a topic filter after the access",
      "acl:6: invalid topic filter 'a/#/b': '#' must be the last topic level",
      "acl:7: invalid topic filter 'a+': '+' must occupy a whole topic level",
      "acl:8: rules name topics, not shared subscriptions: write 'x/#' (a "
      "$share/<group>/<filter> subscription is checked against <filter>)",
      "acl:9: line is not well-formed UTF-8",
      "acl:11: invalid topic filter 'x/%u+': '+' must occupy a whole topic level",
  };
  EXPECT_EQ(load_problems("# comment\n"
                          "topics read a\n"
                          "user   \n"
                          "topic\n"
                          "topic read   \n"
                          "topic write a/#/b\n"
                          "pattern deny a+\n"
                          "topic read $share/g/x/#\n"
                          "topic read \xFF\n"
                          "  # indented comment\r\n"
                          "pattern x/%u+\n"),
            expected);
}

}  // namespace
}  // namespace psos::router
