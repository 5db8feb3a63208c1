// Templates and durations: the small languages inside definition strings.
#include "system/template.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>

#include "system/duration.hpp"

namespace psos::system {
namespace {

using std::chrono::milliseconds;

const TemplateNames kNames = {{"system", "gh"}, {"node", "e01"}, {"site", "north"}};

std::string expand(std::string_view text, bool runtime = false) {
  Secrets secrets("gh.secrets.json");
  secrets.set("token", "t{0}k");
  const TemplateResult result = expand_template(text, kNames, secrets, runtime);
  if (result.error) return "error at " + std::to_string(result.error_offset) + ": " + *result.error;
  return result.text;
}

TEST(Template, ExpandsNamesAndLiteralBraces) {
  EXPECT_EQ(expand("{site}/{node}/dht"), "north/e01/dht");
  EXPECT_EQ(expand("{{node}} is {node}"), "{node} is e01");
  EXPECT_EQ(expand("no braces"), "no braces");
  EXPECT_EQ(expand("$5 and ${site}"), "$5 and $north");
}

TEST(Template, ReportsBadTemplatesWithTheirOffset) {
  EXPECT_EQ(expand("a/{node"),
            "error at 2: unclosed '{' in a template: close it with '}', or write {{ for a literal "
            "brace");
  EXPECT_EQ(expand("a}b"), "error at 1: single '}' in a template: write }} for a literal brace");
  EXPECT_EQ(expand("{}"), "error at 0: empty {} in a template: write {{}} for literal braces");
  EXPECT_EQ(expand("x/{nod}"),
            "error at 2: unknown name {nod} in a template; did you mean {node}? (names: node, "
            "site, system; {{ for a literal brace)");
  EXPECT_EQ(expand("{temp}"),
            "error at 0: unknown name {temp} in a template (names: node, site, system; {{ for a "
            "literal brace)");
}

TEST(Template, RuntimeTemplatesKeepWhatTheModuleFills) {
  EXPECT_EQ(expand("{node}: {temp}°C", true), "e01: {temp}°C");
  EXPECT_EQ(expand("{{\"count\": {count}}}", true), "{{\"count\": {count}}}");
  // A definition value is escaped so that the module prints it as it is.
  EXPECT_EQ(expand("${secret:token} {payload}", true), "t{{0}}k {payload}");
  EXPECT_EQ(expand("{temp", true),
            "error at 0: unclosed '{' in a template: close it with '}', or write {{ for a literal "
            "brace");
}

TEST(Template, SecretsComeFromTheEnvironmentFirstThenTheFile) {
  EXPECT_EQ(expand("u=${secret:token}"), "u=t{0}k");
  ::setenv("PSOS_SECRET_TOKEN", "from-env", 1);
  EXPECT_EQ(expand("u=${secret:token}"), "u=from-env");
  ::unsetenv("PSOS_SECRET_TOKEN");
  EXPECT_EQ(expand("${secret:nope}"),
            "error at 0: secret \"nope\" is not set: define PSOS_SECRET_NOPE or add \"nope\" to "
            "gh.secrets.json");
  EXPECT_EQ(expand("${secret:a b}"),
            "error at 0: bad secret name \"a b\": use letters, digits and '_'");
  EXPECT_EQ(expand("${secret:x"), "error at 0: unclosed ${secret:...}: write ${secret:NAME}");
}

TEST(Duration, ParsesUnitsAndSums) {
  EXPECT_EQ(parse_duration("500ms").value, milliseconds(500));
  EXPECT_EQ(parse_duration("10s").value, milliseconds(10'000));
  EXPECT_EQ(parse_duration("1.5m").value, milliseconds(90'000));
  EXPECT_EQ(parse_duration("1h30m").value, milliseconds(5'400'000));
  EXPECT_EQ(parse_duration("1d").value, milliseconds(86'400'000));
  EXPECT_EQ(parse_duration("0s").value, milliseconds(0));
  EXPECT_EQ(parse_duration("0.001s").value, milliseconds(1));
}

TEST(Duration, RejectsWhatIsNotADuration) {
  const std::string expected = "expected a number followed by ms, s, m, h or d";
  for (const char* bad : {"", "10", "10x", "s", "1.s", "-1s", "1 s", "1s ", ".5s", "1hh"})
    EXPECT_EQ(parse_duration(bad).problem, expected) << bad;
  EXPECT_EQ(parse_duration("1.5ms").problem,
            "finer than a millisecond: durations count whole milliseconds");
  EXPECT_EQ(parse_duration("36501d").problem, "longer than 100 years");
  EXPECT_EQ(parse_duration("99999999999999999999999d").problem, "longer than 100 years");
}

TEST(Duration, FormatsTheShortestExactSpelling) {
  EXPECT_EQ(format_duration(milliseconds(0)), "0s");
  EXPECT_EQ(format_duration(milliseconds(250)), "250ms");
  EXPECT_EQ(format_duration(milliseconds(5'400'000)), "1h30m");
  EXPECT_EQ(format_duration(milliseconds(90'061'001)), "1d1h1m1s1ms");
}

}  // namespace
}  // namespace psos::system
