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

}  // namespace
}  // namespace psos::system
