// Function arguments are checked like parameters, with psos check's messages.
#include "system/arguments.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace psos::system {
namespace {

using modules::ParamSpec;
using modules::ParamType;
using ::testing::ElementsAre;

const std::vector<ParamSpec> kSpecs = {
    {.name = "limit", .type = ParamType::Integer, .default_value = 10, .minimum = 1},
    {.name = "topic", .type = ParamType::Filter, .required = true, .description = "What to read"},
    {.name = "since", .type = ParamType::Duration},
};

TEST(Arguments, DefaultsFilledAndTypesNormalized) {
  const CheckedArguments a =
      check_arguments(kSpecs, {{"topic", "a/+"}, {"since", "1m"}}, "of function query");
  ASSERT_TRUE(a.ok()) << a.errors.front();
  EXPECT_EQ(a.values, (nlohmann::json{{"limit", 10}, {"topic", "a/+"}, {"since", 60000}}));
}

TEST(Arguments, ProblemsAreNamedAsPsosCheckNamesThem) {
  const CheckedArguments a =
      check_arguments(kSpecs, {{"limit", "many"}, {"topik", "a"}}, "of function query");
  EXPECT_THAT(a.errors,
              ElementsAre("topic: missing argument \"topic\" of function query (filter): What "
                          "to read",
                          "limit: expected an integer, found a string",
                          "topik: unknown argument \"topik\" of function query; did you mean "
                          "\"topic\"?"));
}

TEST(Arguments, NullIsNoArgumentsAndANonObjectIsRefused) {
  EXPECT_THAT(check_arguments({}, nullptr, "").errors, ElementsAre());
  EXPECT_THAT(check_arguments(kSpecs, nlohmann::json::array({1}), "of function query").errors,
              ElementsAre("expected an object of arguments, found a list"));
}

TEST(Arguments, AFunctionsArgumentsAreNamedAfterIt) {
  const modules::FunctionSpec query{.name = "query", .args = kSpecs};
  EXPECT_THAT(check_arguments(query, {{"topic", 1}}).errors,
              ElementsAre("topic: expected a topic filter (a string), found the number 1"));
  EXPECT_THAT(check_arguments(query, {{"topic", "a"}, {"x", 1}}).errors,
              ElementsAre("x: unknown argument \"x\" of function query (arguments: limit, "
                          "topic, since)"));
  EXPECT_EQ(check_arguments(query, {{"topic", "a"}}).values,
            (nlohmann::json{{"topic", "a"}, {"limit", 10}}));
}

TEST(Arguments, AFunctionWithoutArgumentsTakesNone) {
  const modules::FunctionSpec read{.name = "read"};
  EXPECT_THAT(check_arguments(read, {{"now", true}}).errors,
              ElementsAre("now: unknown argument \"now\" of function read: it takes no arguments"));
  EXPECT_EQ(check_arguments(read, nullptr).values, nlohmann::json::object());
  EXPECT_THAT(check_arguments(read, "x").errors,
              ElementsAre("expected an object of arguments, found a string"));
}

TEST(Arguments, TextThatIsNotUtf8IsCheckedNotThrown) {
  const std::vector<ParamSpec> specs = {{.name = "topic", .type = ParamType::String}};
  const CheckedArguments a = check_arguments(specs, {{"topic", "caf\xe9"}}, "");
  ASSERT_TRUE(a.ok()) << a.errors.front();
  EXPECT_EQ(a.values["topic"], "caf\xef\xbf\xbd");
}

TEST(Arguments, AFunctionThatTakesAnyObjectGetsItAsGiven) {
  const modules::FunctionSpec any{.name = "add", .description = "Lua export", .any_args = true};
  const nlohmann::json given = {{"a", 1}, {"nested", {{"list", {1, "x", nullptr}}}}};
  const CheckedArguments a = check_arguments(any, given);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a.values, given);
  EXPECT_EQ(check_arguments(any, nullptr).values, nlohmann::json::object());
  EXPECT_THAT(check_arguments(any, nlohmann::json::array({1})).errors,
              ElementsAre("expected an object of arguments, found a list"));
  EXPECT_THAT(check_arguments(any, 5).errors,
              ElementsAre("expected an object of arguments, found the number 5"));
}

}  // namespace
}  // namespace psos::system
