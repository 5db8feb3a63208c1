// switch's rules and the payload values switch, filter and aggregate look at.
#include "modules/rule.hpp"

#include <gtest/gtest.h>

#include "modules/payload_value.hpp"

namespace psos::modules {
namespace {

using nlohmann::json;

TEST(PayloadValue, WholePayloadFieldsAndArrays) {
  EXPECT_EQ(payload_value("21.5", ""), json(21.5));
  EXPECT_EQ(payload_value("on", ""), json("on"));  // not JSON: text
  EXPECT_EQ(payload_value(R"({"env":{"temp":20}})", "env.temp"), json(20));
  EXPECT_EQ(payload_value(R"({"r":[1,2,3]})", "r.1"), json(2));
  EXPECT_EQ(payload_value(R"({"r":[1,2,3]})", "r.3"), std::nullopt);
  EXPECT_EQ(payload_value(R"({"env":{}})", "env.temp"), std::nullopt);
  EXPECT_EQ(payload_value("21", "temp"), std::nullopt);
}

TEST(PayloadValue, NumbersIncludeNumericText) {
  EXPECT_EQ(as_number(json(3)), 3.0);
  EXPECT_EQ(as_number(json("21.5")), 21.5);
  EXPECT_EQ(as_number(json("21.5C")), std::nullopt);
  EXPECT_EQ(as_number(json("")), std::nullopt);
  EXPECT_EQ(as_number(json(true)), std::nullopt);
}

bool matches(const json& rule, std::string_view payload) {
  json r = rule;
  r["pub"] = "out";
  return Rule(r).matches(payload);
}

TEST(Rule, ComparesNumbersAsNumbers) {
  EXPECT_TRUE(matches({{"op", ">"}, {"value", 9}}, "10"));  // as text, "10" < "9"
  EXPECT_FALSE(matches({{"op", "<"}, {"value", 9}}, "10"));
  EXPECT_TRUE(matches({{"op", "=="}, {"value", 21}}, "21.0"));
  EXPECT_TRUE(matches({{"op", ">="}, {"value", 21}, {"property", "temp"}}, R"({"temp":21})"));
  EXPECT_TRUE(matches({{"op", "<="}, {"value", 21}, {"property", "temp"}}, R"({"temp":"20"})"));
  EXPECT_FALSE(matches({{"op", "!="}, {"value", 5}}, "5"));
}

TEST(Rule, ComparesOtherValuesAsText) {
  EXPECT_TRUE(matches({{"op", "=="}, {"value", "on"}}, "on"));
  EXPECT_TRUE(matches({{"op", "=="}, {"value", "on"}}, "\"on\""));
  EXPECT_TRUE(
      matches({{"op", "!="}, {"value", "on"}, {"property", "state"}}, R"({"state":"off"})"));
  EXPECT_TRUE(matches({{"op", "=="}, {"value", true}}, "true"));
}

TEST(Rule, MissingFieldMatchesOnlyHas) {
  EXPECT_FALSE(matches({{"op", "!="}, {"value", 1}, {"property", "x"}}, R"({"y":1})"));
  EXPECT_FALSE(matches({{"op", "has"}, {"property", "x"}}, R"({"y":1})"));
  EXPECT_TRUE(matches({{"op", "has"}, {"property", "y"}}, R"({"y":null})"));
}

TEST(Rule, BetweenIsInclusive) {
  const json rule = {{"op", "between"}, {"value", 10}, {"to", 20}};
  EXPECT_TRUE(matches(rule, "10"));
  EXPECT_TRUE(matches(rule, "20"));
  EXPECT_TRUE(matches(rule, "15.5"));
  EXPECT_FALSE(matches(rule, "9.99"));
  EXPECT_FALSE(matches(rule, "20.01"));
}

TEST(Rule, RegexSearchesTheText) {
  EXPECT_TRUE(matches({{"op", "regex"}, {"value", "^err"}}, "error: disk full"));
  EXPECT_FALSE(matches({{"op", "regex"}, {"value", "^err"}}, "no error"));
  EXPECT_TRUE(matches({{"op", "regex"}, {"value", "[0-9]+"}, {"property", "id"}}, R"({"id":42})"));
}

TEST(Rule, UnusableRulesAreRefusedAtStart) {
  EXPECT_THROW(Rule(json{{"op", "between"}, {"value", 1}, {"pub", "o"}}), std::invalid_argument);
  EXPECT_THROW(Rule(json{{"op", "<"}, {"pub", "o"}}), std::invalid_argument);
  EXPECT_THROW(Rule(json{{"op", "regex"}, {"value", "("}, {"pub", "o"}}), std::invalid_argument);
  EXPECT_THROW(Rule(json{{"op", "regex"}, {"value", 3}, {"pub", "o"}}), std::invalid_argument);
  EXPECT_THROW(Rule(json{{"op", "=~"}, {"value", 3}, {"pub", "o"}}), std::invalid_argument);
}

}  // namespace
}  // namespace psos::modules
