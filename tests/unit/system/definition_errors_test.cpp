// Every kind of definition error, with its exact file, line, column, JSON path and message.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <string>
#include <vector>

#include "modules/module.hpp"
#include "system/definition.hpp"

namespace psos::system {
namespace {

using ::testing::ElementsAre;

// A definition with one node, e01, whose services are `services`: the first one on line 7, in
// column 7 (after six spaces).
std::string with_services(std::string_view services) {
  return R"({
  "psos": 1,
  "system": "gh",
  "brokers": {"lan": {"url": "mqtt://127.0.0.1:1883"}},
  "nodes": {
    "e01": {"uplink": "lan", "services": [
)" + std::string(services) +
         "\n    ]}\n  }\n}\n";
}

std::vector<std::string> problems(std::string_view text, const Secrets& secrets = Secrets()) {
  const CheckResult result = check_definition(text, "gh.json", secrets, modules::builtin_catalog());
  std::vector<std::string> lines;
  for (const Diagnostic& d : result.errors)
    lines.push_back(to_string(d));
  return lines;
}

TEST(DefinitionErrors, ValidDefinitionHasNone) {
  EXPECT_THAT(problems(with_services(
                  R"(      {"name": "t", "module": "timer", "every": "10s", "pub": "a"})")),
              ElementsAre());
}

TEST(DefinitionErrors, BadJson) {
  EXPECT_THAT(
      problems(with_services(R"(      {"name": "t", "module": "timer" "every": "10s"})")),
      ElementsAre("gh.json:7:39: nodes/e01/services/0: expected ',' or '}' after the value of "
                  "\"module\", found '\"'"));
}

TEST(DefinitionErrors, NotAnObject) {
  EXPECT_THAT(problems("[1]"),
              ElementsAre("gh.json:1:1: (root): a definition is a JSON object such as {\"psos\": "
                          "1, \"system\": \"home\", \"nodes\": {...}}, found a list"));
}

TEST(DefinitionErrors, WrongFormatVersion) {
  EXPECT_THAT(problems("{\"psos\": 2, \"system\": \"gh\", \"nodes\": {\"n\": {}}}"),
              ElementsAre("gh.json:1:10: psos: unsupported format version 2: this psos reads "
                          "version 1"));
  EXPECT_THAT(problems("{\"psos\": \"1\", \"system\": \"gh\", \"nodes\": {\"n\": {}}}"),
              ElementsAre("gh.json:1:10: psos: expected the format version 1, found a string"));
  EXPECT_THAT(problems("{\"system\": \"gh\", \"nodes\": {\"n\": {}}}"),
              ElementsAre("gh.json:1:1: psos: missing \"psos\": 1, the format version this file "
                          "is written in"));
}

TEST(DefinitionErrors, UnknownTopLevelKey) {
  EXPECT_THAT(
      problems("{\"psos\": 1, \"system\": \"gh\",\n \"nodse\": {}}"),
      ElementsAre("gh.json:1:1: nodes: missing key \"nodes\" (object): The nodes by name, each "
                  "with its services",
                  "gh.json:2:2: nodse: unknown key \"nodse\"; did you mean \"nodes\"?"));
  EXPECT_THAT(problems("{\"psos\": 1, \"system\": \"gh\", \"nodes\": {\"n\": {}}, \"x\": 1}"),
              ElementsAre("gh.json:1:49: x: unknown key \"x\" (keys: $schema, psos, system, "
                          "description, defaults, brokers, admins, nodes)"));
}

TEST(DefinitionErrors, UnknownModule) {
  EXPECT_THAT(problems(with_services(R"(      {"name": "t", "module": "timr", "every": "1s"})")),
              ElementsAre("gh.json:7:31: nodes/e01/services/0/module: unknown module \"timr\"; "
                          "did you mean \"timer\"?"));
}

TEST(DefinitionErrors, UnknownOrMistypedParameter) {
  EXPECT_THAT(
      problems(with_services(
          R"(      {"name": "t", "module": "timer", "evrey": "10s", "pub": "a", "every": "1s"})")),
      ElementsAre("gh.json:7:40: nodes/e01/services/0/evrey: unknown parameter \"evrey\" of "
                  "timer; did you mean \"every\"?"));
  EXPECT_THAT(
      problems(with_services(R"(      {"name": "l", "module": "log", "sub": "a", "colour": 1})")),
      ElementsAre("gh.json:7:50: nodes/e01/services/0/colour: unknown parameter \"colour\" of log "
                  "(parameters: name, module, enabled, description, sub, level, format)"));
}

TEST(DefinitionErrors, WrongType) {
  EXPECT_THAT(
      problems(with_services(
          R"(      {"name": "t", "module": "timer", "every": "1s", "pub": "a", "qos": "1"})")),
      ElementsAre("gh.json:7:74: nodes/e01/services/0/qos: expected an integer, found a string"));
  EXPECT_THAT(
      problems(with_services(R"(      {"name": "t", "module": "timer", "every": 10, "pub": "a"})")),
      ElementsAre("gh.json:7:49: nodes/e01/services/0/every: expected a duration such as "
                  "\"10s\", found the number 10: add a unit, as in \"10s\" (ms, s, m, h or d)"));
  EXPECT_THAT(
      problems(with_services(
          R"(      {"name": "t", "module": "timer", "every": "1s", "pub": "a", "qos": 1.5})")),
      ElementsAre("gh.json:7:74: nodes/e01/services/0/qos: expected an integer, found 1.5"));
  EXPECT_THAT(
      problems(with_services(
          R"(      {"name": "t", "module": "timer", "every": "1s", "pub": "a", "qos": 3})")),
      ElementsAre("gh.json:7:74: nodes/e01/services/0/qos: 3 is above the maximum 2"));
}

TEST(DefinitionErrors, BadDuration) {
  EXPECT_THAT(
      problems(
          with_services(R"(      {"name": "t", "module": "timer", "every": "10x", "pub": "a"})")),
      ElementsAre("gh.json:7:49: nodes/e01/services/0/every: bad duration \"10x\": expected a "
                  "number followed by ms, s, m, h or d"));
  EXPECT_THAT(
      problems(
          with_services(R"(      {"name": "t", "module": "timer", "every": "0s", "pub": "a"})")),
      ElementsAre("gh.json:7:49: nodes/e01/services/0/every: duration \"0s\" is shorter than the "
                  "minimum 1ms"));
}

TEST(DefinitionErrors, BadTemplatePointsAtTheBrace) {
  EXPECT_THAT(
      problems(with_services(
          R"(      {"name": "t", "module": "timer", "every": "1s", "pub": "x/{node/dht"})")),
      ElementsAre("gh.json:7:65: nodes/e01/services/0/pub: unclosed '{' in a template: close it "
                  "with '}', or write {{ for a literal brace"));
  EXPECT_THAT(
      problems(with_services(
          R"(      {"name": "t", "module": "timer", "every": "1s", "pub": "x/{nod}/dht"})")),
      ElementsAre("gh.json:7:65: nodes/e01/services/0/pub: unknown name {nod} in a template; did "
                  "you mean {node}? (names: node, service, system; {{ for a literal brace)"));
  // A runtime template keeps unknown names for the module but must still be well formed.
  EXPECT_THAT(
      problems(with_services(
          R"(      {"name": "p", "module": "pipe", "sub": "a", "pub": "b", "format": "{temp"})")),
      ElementsAre("gh.json:7:74: nodes/e01/services/0/format: unclosed '{' in a template: close "
                  "it with '}', or write {{ for a literal brace"));
}

TEST(DefinitionErrors, MissingSecret) {
  const std::string text = R"({
  "psos": 1,
  "system": "gh",
  "brokers": {"cloud": {"url": "mqtts://broker.example",
                        "password": "${secret:cloud_password}"}},
  "nodes": {"gw": {"uplink": "cloud"}}
})";
  EXPECT_THAT(problems(text, Secrets("gh.secrets.json")),
              ElementsAre("gh.json:5:38: brokers/cloud/password: secret \"cloud_password\" is not "
                          "set: define PSOS_SECRET_CLOUD_PASSWORD or add \"cloud_password\" to "
                          "gh.secrets.json"));
  // A broker no node uses needs no secrets.
  std::string unused = text;
  unused.replace(unused.find("{\"uplink\": \"cloud\"}"), 19, "{}");
  EXPECT_THAT(problems(unused), ElementsAre());
}

TEST(DefinitionErrors, DuplicateServiceNames) {
  EXPECT_THAT(problems(with_services(R"(      {"name": "t", "module": "log", "sub": "a"},
      {"name": "t", "module": "log", "sub": "b"})")),
              ElementsAre("gh.json:8:16: nodes/e01/services/1/name: duplicate service name \"t\" "
                          "on node \"e01\" (first at 7:16)"));
}

TEST(DefinitionErrors, InvalidTopicAndFilter) {
  EXPECT_THAT(
      problems(with_services(
          R"(      {"name": "t", "module": "timer", "every": "1s", "pub": "a/+/b"})")),
      ElementsAre("gh.json:7:62: nodes/e01/services/0/pub: invalid topic \"a/+/b\": topic name "
                  "contains a wildcard ('+' or '#') (wildcards are for subscribing)"));
  EXPECT_THAT(
      problems(with_services(R"(      {"name": "l", "module": "log", "sub": ["a", "a/#/b"]})")),
      ElementsAre("gh.json:7:51: nodes/e01/services/0/sub/1: invalid topic filter \"a/#/b\": '#' "
                  "must be the last topic level"));
}

// The modules' own checks (ModuleSpec::validate) run at check time, so that what types alone
// cannot say is reported with its position before anything starts.
TEST(DefinitionErrors, CronThatNeverComesIsReportedWhereItIsWritten) {
  EXPECT_THAT(
      problems(with_services(
          R"(      {"name": "t", "module": "timer", "cron": "0 0 31 2 *", "pub": "a"})")),
      ElementsAre("gh.json:7:48: nodes/e01/services/0/cron: the cron schedule names a date that "
                  "never comes"));
  EXPECT_THAT(
      problems(with_services(
          R"(      {"name": "t", "module": "timer", "at": ["*:7:30:0", "*:25:0:0"], "pub": "a"})")),
      ::testing::SizeIs(1));
}

TEST(DefinitionErrors, SwitchRuleThatCannotWorkIsReportedAtTheRule) {
  const std::vector<std::string> found = problems(with_services(
      R"(      {"name": "s", "module": "switch", "sub": "in",
       "rules": [{"op": "==", "value": 1, "pub": "a"},
                 {"op": "regex", "value": "(", "pub": "b"}]})"));
  ASSERT_EQ(found.size(), 1U);
  EXPECT_EQ(found[0].rfind("gh.json:9:18: nodes/e01/services/0/rules/1: value \"(\" is not a "
                           "regular",
                           0),
            0U)
      << found[0];
}

TEST(DefinitionErrors, AdminKeysMustBePublicKeyText) {
  EXPECT_THAT(
      problems(R"({"psos": 1, "system": "gh", "nodes": {"n": {}},
 "admins": {"alice": "ed25519:abc", "bob": "ed25519:UDqmbe8fMyUvY1IiWby9/B2DNjBkDAZH5qKUbUrpddM="}})"),
      ElementsAre("gh.json:2:22: admins/alice: expected a public key \"ed25519:\" followed by 44 "
                  "characters of base64 (the text of a .pub file psos keygen writes), found a "
                  "string"));
}

TEST(DefinitionErrors, NodeLogLevelsAreChecked) {
  EXPECT_THAT(
      problems(R"({"psos": 1, "system": "gh", "nodes": {"n": {"metrics": "-1s",
 "log": {"level": "loud", "services": {"a": "debug", "b": 3}}}}})"),
      ElementsAre("gh.json:1:56: nodes/n/metrics: bad duration \"-1s\": expected a number "
                  "followed by ms, s, m, h or d",
                  "gh.json:2:19: nodes/n/log/level: \"loud\" is not one of \"trace\", \"debug\", "
                  "\"info\", \"warn\", \"error\", \"off\"",
                  "gh.json:2:59: nodes/n/log/services/b: expected a level: trace, debug, info, "
                  "warn, error or off; found the number 3"));
}

TEST(DefinitionErrors, FunctionNeedsSubWithCodeOrSetup) {
  EXPECT_THAT(problems(with_services(R"(      {"name": "f", "module": "function"})")),
              ElementsAre("gh.json:7:7: nodes/e01/services/0: needs \"sub\" (the messages code "
                          "runs on) or \"setup\" (code run once at start, which may define "
                          "exports), or both"));
  EXPECT_THAT(problems(with_services(
                  R"(      {"name": "f", "module": "function", "setup": "exports.f = print"})")),
              ElementsAre());
  EXPECT_THAT(problems(with_services(R"(      {"name": "f", "module": "function", "sub": "in"})")),
              ElementsAre("gh.json:7:7: nodes/e01/services/0: needs \"code\" or \"file\": the "
                          "Lua code to run on each message of sub"));
  EXPECT_THAT(
      problems(with_services(
          R"(      {"name": "f", "module": "function", "setup": "x = 1", "code": "return msg"})")),
      ElementsAre("gh.json:7:69: nodes/e01/services/0/code: runs on the messages of \"sub\", and "
                  "the service has none: give sub, or move this code to setup"));
  EXPECT_THAT(
      problems(with_services(
          R"(      {"name": "f", "module": "function", "sub": "in", "code": "", "file": "f.lua"})")),
      ElementsAre("gh.json:7:76: nodes/e01/services/0/file: \"file\" cannot be used with "
                  "\"code\": give only one of \"code\" or \"file\""));
}

TEST(DefinitionErrors, UnknownBroker) {
  std::string text = with_services("");
  text.replace(text.find("\"uplink\": \"lan\""), 15, "\"uplink\": \"lna\"");
  EXPECT_THAT(problems(text), ElementsAre("gh.json:6:23: nodes/e01/uplink: unknown broker \"lna\"; "
                                          "did you mean \"lan\"?"));
  EXPECT_THAT(
      problems(with_services(
          R"(      {"name": "b", "module": "bridge", "broker": "cloud", "topics": "#"})")),
      ElementsAre("gh.json:7:51: nodes/e01/services/0/broker: unknown broker \"cloud\" (brokers: "
                  "lan)"));
}

TEST(DefinitionErrors, NodeThatDoesNotExist) {
  Diagnostics errors;
  const std::optional<Definition> definition =
      parse_definition(with_services(""), "gh.json", errors);
  ASSERT_TRUE(definition);
  EXPECT_FALSE(expand(*definition, "e02", Secrets(), modules::builtin_catalog(), errors));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(to_string(errors[0]),
            "gh.json:5:3: nodes: no node \"e02\" in this definition; did you mean \"e01\"?");
  errors.clear();
  EXPECT_FALSE(expand(*definition, "gateway", Secrets(), modules::builtin_catalog(), errors));
  EXPECT_EQ(to_string(errors.at(0)),
            "gh.json:5:3: nodes: no node \"gateway\" in this definition (nodes: e01)");
}

TEST(DefinitionErrors, MissingRequiredParameterAndOneOf) {
  EXPECT_THAT(
      problems(with_services(R"(      {"name": "t", "module": "timer"})")),
      ElementsAre("gh.json:7:7: nodes/e01/services/0: needs one of \"every\", \"cron\" or \"at\"",
                  "gh.json:7:7: nodes/e01/services/0/pub: missing parameter \"pub\" of timer "
                  "(topic): The topic each message is published to"));
  EXPECT_THAT(
      problems(with_services(
          R"(      {"name": "t", "module": "timer", "every": "1s", "cron": "* * * * *", "pub": "a"})")),
      ElementsAre("gh.json:7:55: nodes/e01/services/0/cron: \"cron\" cannot be used with "
                  "\"every\": give only one of \"every\", \"cron\" or \"at\""));
}

TEST(DefinitionErrors, NotAnAllowedValueOrPattern) {
  EXPECT_THAT(
      problems(
          with_services(R"(      {"name": "l", "module": "log", "sub": "a", "level": "warning"})")),
      ElementsAre("gh.json:7:59: nodes/e01/services/0/level: \"warning\" is not one of \"trace\", "
                  "\"debug\", \"info\", \"warn\", \"error\"; did you mean \"warn\"?"));
  EXPECT_THAT(
      problems(with_services(
          R"(      {"name": "t", "module": "timer", "cron": "*/5 * *", "pub": "a"})")),
      ElementsAre("gh.json:7:48: nodes/e01/services/0/cron: bad value \"*/5 * *\": expected a "
                  "5-field cron expression such as \"*/5 * * * *\""));
  EXPECT_THAT(
      problems(with_services(R"(      {"name": "a/b", "module": "log", "sub": "a"})")),
      ElementsAre("gh.json:7:16: nodes/e01/services/0/name: bad value \"a/b\": expected a name of "
                  "letters, digits, '_', '-' and '.' that starts with a letter or a digit (at "
                  "most 64 characters)"));
}

TEST(DefinitionErrors, NestedRulesAreCheckedLikeParameters) {
  EXPECT_THAT(problems(with_services(
                  R"(      {"name": "s", "module": "switch", "sub": "a", "rules": [
        {"op": "<", "value": 18, "pub": "cold"},
        {"op": "=", "value": 30, "pb": "hot"}]})")),
              ElementsAre("gh.json:9:9: nodes/e01/services/0/rules/1/pub: missing key \"pub\" of "
                          "rules (topic): Where a message that matches this rule goes",
                          "gh.json:9:16: nodes/e01/services/0/rules/1/op: \"=\" is not one of "
                          "\"==\", \"!=\", \"<\", \"<=\", \">\", \">=\", \"between\", \"regex\", "
                          "\"has\"",
                          "gh.json:9:34: nodes/e01/services/0/rules/1/pb: unknown key \"pb\" of "
                          "rules; did you mean \"pub\"?"));
}

TEST(DefinitionErrors, AllErrorsAreCollectedInFileOrder) {
  const std::string text = R"({
  "psos": 1,
  "system": "gh",
  "nodes": {
    "a": {"services": [{"name": "x", "module": "timer", "every": "5q", "pub": "t"}]},
    "b": {"services": [{"name": "y", "module": "lg", "sub": "t"}], "listen": ["http://x"]}
  }
})";
  EXPECT_THAT(problems(text),
              ElementsAre("gh.json:5:66: nodes/a/services/0/every: bad duration \"5q\": expected "
                          "a number followed by ms, s, m, h or d",
                          "gh.json:6:48: nodes/b/services/0/module: unknown module \"lg\"; did you "
                          "mean \"log\"?",
                          "gh.json:6:79: nodes/b/listen/0: listener URL 'http://x': unknown scheme "
                          "'http': expected mqtt, mqtts, ws or wss"));
}

TEST(DefinitionErrors, SecretValuesNeverAppearInMessages) {
  Secrets secrets;
  secrets.set("host", "hunter2");
  secrets.set("level", "hunter3");
  const std::string text = R"({
  "psos": 1,
  "system": "gh",
  "brokers": {"b": {"url": "mqtt://${secret:host}:99999"}},
  "nodes": {"n": {"uplink": "b", "services": [
    {"name": "l", "module": "log", "sub": "a", "level": "${secret:level}"}]}}
})";
  const std::vector<std::string> lines = problems(text, secrets);
  EXPECT_THAT(lines,
              ElementsAre("gh.json:4:28: brokers/b/url: invalid broker URL "
                          "\"mqtt://${secret:host}:99999\" once its secrets are filled in",
                          "gh.json:6:57: nodes/n/services/0/level: \"${secret:level}\" is not one "
                          "of \"trace\", \"debug\", \"info\", \"warn\", \"error\""));
}

TEST(DefinitionErrors, BadDefaultsAndNames) {
  const std::string text = R"({
  "psos": 1,
  "system": "gh",
  "defaults": {"node": "x", "ok": 1, "bad": [1]},
  "nodes": {"a b": {}}
})";
  EXPECT_THAT(problems(text),
              ElementsAre("gh.json:4:16: defaults/node: {node} is set by psos and cannot be a "
                          "default",
                          "gh.json:4:45: defaults/bad: a default is a string, a number or "
                          "true/false, found a list",
                          "gh.json:5:13: nodes/a b: bad node name \"a b\": expected a name of "
                          "letters, digits, '_', '-' and '.' that starts with a letter or a digit "
                          "(at most 64 characters)"));
}

// A node whose only key besides its service is "dashboard": `value` on line 4, column 32.
std::string with_dashboard(std::string_view value) {
  return R"({
  "psos": 1,
  "system": "gh",
  "nodes": {"n": {"dashboard": )" +
         std::string(value) +
         R"(,
    "services": [{"name": "t", "module": "timer", "every": "10s", "pub": "a"}]}}
})";
}

TEST(DefinitionErrors, Dashboard) {
  EXPECT_THAT(problems(with_dashboard(R"("http://127.0.0.1:0")")), ElementsAre());
  EXPECT_THAT(problems(with_dashboard(R"("ftp://127.0.0.1:8088")")),
              ElementsAre("gh.json:4:32: nodes/n/dashboard: dashboard ftp://127.0.0.1:8088: "
                          "expected http://HOST:PORT or https://HOST:PORT"));
  EXPECT_THAT(problems(with_dashboard(R"("http://127.0.0.1:99999")")),
              ElementsAre("gh.json:4:32: nodes/n/dashboard: dashboard http://127.0.0.1:99999: "
                          "port '99999' is not a number from 0 to 65535"));
  EXPECT_THAT(problems(with_dashboard(R"("http://0.0.0.0:8088")")),
              ElementsAre("gh.json:4:32: nodes/n/dashboard: dashboard http://0.0.0.0:8088 is not a "
                          "loopback address: a dashboard there needs https:// with https_cert and "
                          "https_key, and a passwd file (users made with psos passwd)"));
  EXPECT_THAT(problems(with_dashboard(R"({"listen": "https://127.0.0.1:8443"})")),
              ElementsAre("gh.json:4:32: nodes/n/dashboard: dashboard https://127.0.0.1:8443 is "
                          "https://: give {\"listen\": ..., \"https_cert\": FILE, \"https_key\": "
                          "FILE}"));
  EXPECT_THAT(problems(with_dashboard(R"({"listen": "http://[::1]:1", "pasword": "u.txt"})")),
              ElementsAre("gh.json:4:61: nodes/n/dashboard/pasword: unknown key \"pasword\" of a "
                          "dashboard (keys: listen, passwd, https_cert, https_key, key)"));
  EXPECT_THAT(problems(with_dashboard(R"({"passwd": ""})")),
              ElementsAre("gh.json:4:32: nodes/n/dashboard: a dashboard needs \"listen\": "
                          "\"http://127.0.0.1:8088\" or {\"listen\": \"https://0.0.0.0:8443\", "
                          "\"passwd\": \"users.txt\", \"https_cert\": \"dash.pem\", \"https_key\": "
                          "\"dash.key\"}",
                          "gh.json:4:43: nodes/n/dashboard/passwd: is empty: expected a file "
                          "name or URL"));
  EXPECT_THAT(problems(with_dashboard("8088")),
              ElementsAre("gh.json:4:32: nodes/n/dashboard: expected \"http://127.0.0.1:8088\" or "
                          "{\"listen\": \"https://0.0.0.0:8443\", \"passwd\": \"users.txt\", "
                          "\"https_cert\": \"dash.pem\", \"https_key\": \"dash.key\"}, found the "
                          "number 8088"));
}

}  // namespace
}  // namespace psos::system
