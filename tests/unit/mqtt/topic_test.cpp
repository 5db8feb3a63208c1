// Tests of topic names, topic filters and UTF-8 rules (spec 1.5.4, 4.7, 4.8.2): each rule with
// an example that passes and one that fails.
#include "mqtt/topic.hpp"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

namespace psos::mqtt {
namespace {

using namespace std::string_literals;
constexpr auto npos = std::string_view::npos;

bool name_ok(std::string_view topic) {
  return !validate_topic_name(topic);
}
bool filter_ok(std::string_view filter) {
  return !validate_topic_filter(filter);
}

TEST(TopicUtf8, AcceptsWellFormedText) {
  EXPECT_EQ(find_invalid_utf8(""), npos);
  EXPECT_EQ(find_invalid_utf8("plain ascii/with/levels"), npos);
  EXPECT_EQ(find_invalid_utf8("temp \xC2\xB0"
                              "C"),
            npos);                                                 // U+00B0, 2 bytes
  EXPECT_EQ(find_invalid_utf8("\xE2\x82\xAC"), npos);              // U+20AC, 3 bytes
  EXPECT_EQ(find_invalid_utf8("\xED\x9F\xBF"), npos);              // U+D7FF, just below surrogates
  EXPECT_EQ(find_invalid_utf8("\xEE\x80\x80"), npos);              // U+E000, just above them
  EXPECT_EQ(find_invalid_utf8("\xF0\x9F\x98\x80"), npos);          // U+1F600, 4 bytes
  EXPECT_EQ(find_invalid_utf8("\xF4\x8F\xBF\xBF"), npos);          // U+10FFFF, the last code point
  EXPECT_EQ(find_invalid_utf8("\xEF\xBF\xBF"), npos);              // U+FFFF is a valid noncharacter
  EXPECT_TRUE(is_valid_utf8("0123456789abcdef0123456789abcdef"));  // past the 8-byte fast path
}

TEST(TopicUtf8, RejectsNul) {
  EXPECT_EQ(find_invalid_utf8("\0"s), 0u);
  EXPECT_EQ(find_invalid_utf8("ab\0cd"s), 2u);
  EXPECT_EQ(find_invalid_utf8("0123456789\0"s), 10u);  // found after the fast path too
  EXPECT_FALSE(is_valid_utf8("a/\0"s));
}

TEST(TopicUtf8, RejectsSurrogates) {
  EXPECT_EQ(find_invalid_utf8("\xED\xA0\x80"), 0u);              // U+D800
  EXPECT_EQ(find_invalid_utf8("ab\xED\xBF\xBF"), 2u);            // U+DFFF
  EXPECT_EQ(find_invalid_utf8("\xED\xA0\xBD\xED\xB8\x80"), 0u);  // a CESU-8 pair
}

TEST(TopicUtf8, RejectsOverlongForms) {
  EXPECT_EQ(find_invalid_utf8("\xC0\xAF"), 0u);  // '/' in two bytes
  EXPECT_EQ(find_invalid_utf8("a\xC1\xBF"), 1u);
  EXPECT_EQ(find_invalid_utf8("\xC0\x80"), 0u);          // "modified UTF-8" NUL
  EXPECT_EQ(find_invalid_utf8("\xE0\x80\xAF"), 0u);      // '/' in three bytes
  EXPECT_EQ(find_invalid_utf8("\xE0\x9F\xBF"), 0u);      // U+07FF in three bytes
  EXPECT_EQ(find_invalid_utf8("\xF0\x80\x80\xAF"), 0u);  // '/' in four bytes
  EXPECT_EQ(find_invalid_utf8("\xF0\x8F\xBF\xBF"), 0u);  // U+FFFF in four bytes
}

TEST(TopicUtf8, RejectsCodePointsAboveTheLast) {
  EXPECT_EQ(find_invalid_utf8("\xF4\x90\x80\x80"), 0u);  // U+110000
  EXPECT_EQ(find_invalid_utf8("x\xF5\x80\x80\x80"), 1u);
  EXPECT_EQ(find_invalid_utf8("\xF8\x88\x80\x80\x80"), 0u);  // old 5-byte form
  EXPECT_EQ(find_invalid_utf8("\xFF"), 0u);
}

TEST(TopicUtf8, RejectsTruncatedAndStraySequences) {
  EXPECT_EQ(find_invalid_utf8("\xC2"), 0u);
  EXPECT_EQ(find_invalid_utf8("ab\xE2\x82"), 2u);
  EXPECT_EQ(find_invalid_utf8("\xF0\x9F\x98"), 0u);
  EXPECT_EQ(find_invalid_utf8("\xE2\x82/x"), 0u);  // cut short by an ASCII byte
  EXPECT_EQ(find_invalid_utf8("a\x80"), 1u);       // continuation byte without a lead
  EXPECT_EQ(find_invalid_utf8("\xBF\xBF"), 0u);
}

TEST(TopicName, Valid) {
  EXPECT_TRUE(name_ok("a"));
  EXPECT_TRUE(name_ok("a/b/c"));
  EXPECT_TRUE(name_ok("/"));
  EXPECT_TRUE(name_ok("a//b"));
  EXPECT_TRUE(name_ok("$SYS/broker"));
  EXPECT_TRUE(name_ok("caf\xC3\xA9"));
  EXPECT_TRUE(name_ok(" spaces are fine "));
  EXPECT_TRUE(name_ok(std::string(65535, 'x')));
}

TEST(TopicName, Invalid) {
  const Error empty = validate_topic_name("");
  EXPECT_EQ(empty.code, ReasonCode::TopicNameInvalid);
  EXPECT_FALSE(name_ok(std::string(65536, 'x')));

  const Error plus = validate_topic_name("a/+/b");
  EXPECT_EQ(plus.code, ReasonCode::TopicNameInvalid);
  EXPECT_EQ(plus.offset, 2u);
  EXPECT_NE(std::string(plus.message).find("wildcard"), std::string::npos);
  EXPECT_FALSE(name_ok("a/#"));
  EXPECT_FALSE(name_ok("a+b"));
  EXPECT_FALSE(name_ok("#"));

  const Error nul = validate_topic_name("a/\0"s);
  EXPECT_EQ(nul.code, ReasonCode::TopicNameInvalid);
  EXPECT_EQ(nul.offset, 2u);
  EXPECT_FALSE(name_ok("\xED\xA0\x80"));
  EXPECT_FALSE(name_ok("a/\xC0\xAF"));
  EXPECT_FALSE(name_ok("\xF4\x90\x80\x80"));
  EXPECT_FALSE(name_ok("a\xE2\x82"));
}

TEST(TopicFilter, Valid) {
  EXPECT_TRUE(filter_ok("a"));
  EXPECT_TRUE(filter_ok("a/b"));
  EXPECT_TRUE(filter_ok("+"));
  EXPECT_TRUE(filter_ok("#"));
  EXPECT_TRUE(filter_ok("+/+"));
  EXPECT_TRUE(filter_ok("a/+/c"));
  EXPECT_TRUE(filter_ok("a/#"));
  EXPECT_TRUE(filter_ok("+/#"));
  EXPECT_TRUE(filter_ok("/"));
  EXPECT_TRUE(filter_ok("//#"));
  EXPECT_TRUE(filter_ok("$SYS/#"));
  EXPECT_TRUE(filter_ok("$share/group/a/+"));
  EXPECT_TRUE(filter_ok("$share/g/#"));
  EXPECT_TRUE(filter_ok("$share/g//"));  // the filter is "/"
  EXPECT_TRUE(filter_ok("$share"));      // not shared: a plain one-level filter
  EXPECT_TRUE(filter_ok(std::string(65535, 'x')));
}

TEST(TopicFilter, WildcardsMustBeWholeLevels) {
  const Error plus = validate_topic_filter("a/b+/c");
  EXPECT_EQ(plus.code, ReasonCode::TopicFilterInvalid);
  EXPECT_EQ(plus.offset, 3u);
  EXPECT_FALSE(filter_ok("+a"));
  EXPECT_FALSE(filter_ok("a/++"));
  EXPECT_FALSE(filter_ok("a#"));
  EXPECT_FALSE(filter_ok("a/b#"));
  EXPECT_FALSE(filter_ok("##"));
}

TEST(TopicFilter, HashMustBeLast) {
  const Error hash = validate_topic_filter("a/#/b");
  EXPECT_EQ(hash.code, ReasonCode::TopicFilterInvalid);
  EXPECT_EQ(hash.offset, 2u);
  EXPECT_NE(std::string(hash.message).find("last"), std::string::npos);
  EXPECT_FALSE(filter_ok("#/"));
  EXPECT_FALSE(filter_ok("#/#"));
}

TEST(TopicFilter, EmptyTooLongAndBadUtf8) {
  EXPECT_EQ(validate_topic_filter("").code, ReasonCode::TopicFilterInvalid);
  EXPECT_FALSE(filter_ok(std::string(65536, 'x')));
  const Error nul = validate_topic_filter("a/\0/b"s);
  EXPECT_EQ(nul.code, ReasonCode::TopicFilterInvalid);
  EXPECT_EQ(nul.offset, 2u);
  EXPECT_FALSE(filter_ok("\xED\xA0\x80/#"));
  EXPECT_FALSE(filter_ok("+/\xC0\xAF"));
  EXPECT_FALSE(filter_ok("\xF4\x90\x80\x80"));
  EXPECT_FALSE(filter_ok("a/\xF0\x9F"));
}

TEST(TopicFilter, SharedSubscriptionSyntax) {
  EXPECT_FALSE(filter_ok("$share/"));        // no group, no filter
  EXPECT_FALSE(filter_ok("$share/group"));   // no filter
  EXPECT_FALSE(filter_ok("$share/group/"));  // empty filter
  EXPECT_FALSE(filter_ok("$share//a"));      // empty group
  EXPECT_FALSE(filter_ok("$share/g+/a"));    // wildcard in the group
  EXPECT_FALSE(filter_ok("$share/+/a"));
  EXPECT_FALSE(filter_ok("$share/#/a"));
  EXPECT_FALSE(filter_ok("$share/g/a/#/b"));  // the filter itself is checked
  EXPECT_FALSE(filter_ok("$share/g/a+"));
  const Error group = validate_topic_filter("$share/gr#up/a");
  EXPECT_EQ(group.code, ReasonCode::TopicFilterInvalid);
  EXPECT_EQ(group.offset, 9u);
  // The body's offsets count from the start of the whole filter.
  EXPECT_EQ(validate_topic_filter("$share/g/a/#/b").offset, 11u);
}

TEST(TopicFilter, HasWildcards) {
  EXPECT_FALSE(has_wildcards("a/b"));
  EXPECT_TRUE(has_wildcards("a/+"));
  EXPECT_TRUE(has_wildcards("#"));
}

TEST(TopicSplitShared, SplitsGroupAndFilter) {
  SharedFilter shared = split_shared("$share/consumers/sensors/+/temp");
  EXPECT_EQ(shared.group, "consumers");
  EXPECT_EQ(shared.filter, "sensors/+/temp");
  shared = split_shared("$share/g//");
  EXPECT_EQ(shared.group, "g");
  EXPECT_EQ(shared.filter, "/");
  shared = split_shared("sensors/#");
  EXPECT_TRUE(shared.group.empty());
  EXPECT_EQ(shared.filter, "sensors/#");
  shared = split_shared("$SYS/#");
  EXPECT_TRUE(shared.group.empty());
  EXPECT_EQ(shared.filter, "$SYS/#");
  shared = split_shared("$shared/g/a");  // not the $share prefix
  EXPECT_TRUE(shared.group.empty());
  EXPECT_EQ(shared.filter, "$shared/g/a");
}

TEST(TopicMatches, ExactLevels) {
  EXPECT_TRUE(topic_matches("a/b", "a/b"));
  EXPECT_FALSE(topic_matches("a/b", "a/c"));
  EXPECT_FALSE(topic_matches("a/b", "a"));
  EXPECT_FALSE(topic_matches("a", "a/b"));
  EXPECT_FALSE(topic_matches("a/b", "A/b"));  // case-sensitive
}

TEST(TopicMatches, SingleLevelWildcard) {
  EXPECT_TRUE(topic_matches("a/+", "a/b"));
  EXPECT_TRUE(topic_matches("+/+", "a/b"));
  EXPECT_TRUE(topic_matches("a/+/c", "a/b/c"));
  EXPECT_FALSE(topic_matches("a/+", "a"));
  EXPECT_FALSE(topic_matches("a/+", "a/b/c"));
  EXPECT_FALSE(topic_matches("+", "a/b"));
}

TEST(TopicMatches, MultiLevelWildcard) {
  EXPECT_TRUE(topic_matches("#", "a"));
  EXPECT_TRUE(topic_matches("#", "a/b/c"));
  EXPECT_TRUE(topic_matches("a/#", "a/b/c"));
  EXPECT_TRUE(topic_matches("a/#", "a"));  // '#' includes the parent level
  EXPECT_TRUE(topic_matches("sport/tennis/#", "sport/tennis"));
  EXPECT_FALSE(topic_matches("sport/tennis/#", "sport"));
  EXPECT_TRUE(topic_matches("a/+/#", "a/b"));
  EXPECT_FALSE(topic_matches("a/+/#", "a"));
  EXPECT_FALSE(topic_matches("a/#", "b/a"));
}

TEST(TopicMatches, EmptyLevels) {
  EXPECT_TRUE(topic_matches("a//b", "a//b"));
  EXPECT_TRUE(topic_matches("a/+/b", "a//b"));
  EXPECT_FALSE(topic_matches("a/b", "a//b"));
  EXPECT_TRUE(topic_matches("+/a", "/a"));
  EXPECT_TRUE(topic_matches("/+", "/a"));
  EXPECT_FALSE(topic_matches("a", "/a"));
  EXPECT_TRUE(topic_matches("+/+", "/"));
  EXPECT_FALSE(topic_matches("+", "/"));
  EXPECT_TRUE(topic_matches("a/+", "a/"));
  EXPECT_FALSE(topic_matches("a/", "a"));
  EXPECT_TRUE(topic_matches("a/#", "a/"));
}

TEST(TopicMatches, DollarTopics) {
  EXPECT_FALSE(topic_matches("#", "$SYS/x"));
  EXPECT_FALSE(topic_matches("+/x", "$SYS/x"));
  EXPECT_FALSE(topic_matches("+", "$SYS"));
  EXPECT_FALSE(topic_matches("+/#", "$SYS/x"));
  EXPECT_TRUE(topic_matches("$SYS/#", "$SYS/x"));
  EXPECT_TRUE(topic_matches("$SYS/#", "$SYS"));
  EXPECT_TRUE(topic_matches("$SYS/+", "$SYS/x"));
  EXPECT_TRUE(topic_matches("a/+", "a/$x"));  // only the first level is special
  EXPECT_TRUE(topic_matches("#", "a/$x"));
}

}  // namespace
}  // namespace psos::mqtt
