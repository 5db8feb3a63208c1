// The Lua binding on its own: what code sees of a message, what it may return, the sandbox, the
// instruction and memory limits, and errors that name the Lua line.
#include "script/script.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace psos::script {
namespace {

using nlohmann::json;

std::vector<ScriptMessage> run(std::string_view code, std::string_view payload = "",
                               ScriptOptions options = {}) {
  Script script(code, std::move(options));
  return script.call({.topic = "in/t", .payload = std::string(payload)});
}

std::string error_of(std::string_view code, std::string_view payload = "",
                     ScriptOptions options = {}) {
  try {
    run(code, payload, std::move(options));
  } catch (const ScriptError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(Script, ReturningNothingDropsTheMessage) {
  EXPECT_TRUE(run("local x = 1").empty());
  EXPECT_TRUE(run("return nil").empty());
  EXPECT_TRUE(run("return {}").empty());
}

TEST(Script, SeesTopicPayloadAndParsedJson) {
  const auto out =
      run("return {topic = msg.topic .. '/out', payload = msg.payload .. ' ' .. msg.json.env.temp}",
          R"({"env": {"temp": 21.5}})");
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].topic, "in/t/out");
  EXPECT_EQ(out[0].payload, R"({"env": {"temp": 21.5}} 21.5)");
}

TEST(Script, NoJsonFieldWhenThePayloadIsNotJson) {
  const auto out = run("return {payload = tostring(msg.json)}", "not json");
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].payload, "nil");
  EXPECT_EQ(out[0].topic, "") << "a message without topic is left for the caller to name";
}

TEST(Script, JsonIsMadeOnFirstUseAsIfMadeUpFront) {
  // From the payload as it came, once, and seen by a traversal and a returned msg.
  EXPECT_EQ(
      run("msg.payload = '{}' return {payload = tostring(msg.json.a)}", R"({"a": 1})")[0].payload,
      "1");
  EXPECT_EQ(run("msg.json.a = 2 return {payload = tostring(msg.json.a)}", R"({"a": 1})")[0].payload,
            "2");
  EXPECT_EQ(run("msg.json = nil return {payload = tostring(msg.json)}", R"({"a": 1})")[0].payload,
            "nil");
  EXPECT_EQ(run("local keys = {} for k in pairs(msg) do keys[#keys + 1] = k end "
                "table.sort(keys) return {payload = table.concat(keys, ',')}",
                R"({"a": 1})")[0]
                .payload,
            "json,payload,topic");
  EXPECT_EQ(json::parse(run("return {payload = msg}", R"({"a": 1})")[0].payload),
            json::parse(R"({"topic": "in/t", "payload": "{\"a\": 1}", "json": {"a": 1}})"));
  std::string deep(200, '[');
  deep += std::string(200, ']');
  EXPECT_EQ(run("return {payload = msg.payload}", deep).size(), 1u)
      << "a payload the code does not read as JSON is not refused";
  EXPECT_NE(error_of("return {payload = msg.json}", deep).find("nested too deep"),
            std::string::npos);
}

TEST(Script, TablePayloadsBecomeJson) {
  const auto out =
      run("return {payload = {n = msg.json.n * 2, list = {1, 2.5, 'x', true}, empty = {}}}",
          R"({"n": 21})");
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(json::parse(out[0].payload),
            json::parse(R"({"n": 42, "list": [1, 2.5, "x", true], "empty": {}})"));
}

TEST(Script, JsonArraysAndIntegersSurviveTheRoundTrip) {
  const auto out = run("return {payload = msg.json}", R"([1, -2, 3.25, [], {"a": null}])");
  ASSERT_EQ(out.size(), 1u);
  // null values vanish in Lua tables, and an empty table is read back as an object.
  EXPECT_EQ(json::parse(out[0].payload), json::parse(R"([1, -2, 3.25, {}, {}])"));
}

TEST(Script, ReturnsAListOfMessages) {
  const auto out = run("return {{topic = 'a', payload = '1'}, {payload = '2'}}");
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].topic, "a");
  EXPECT_EQ(out[0].payload, "1");
  EXPECT_EQ(out[1].topic, "");
  EXPECT_EQ(out[1].payload, "2");
}

TEST(Script, GlobalsKeepTheirValuesBetweenCalls) {
  Script script("count = (count or 0) + 1 return {payload = tostring(count)}", {});
  script.call({.topic = "t", .payload = "x"});
  script.call({.topic = "t", .payload = "x"});
  const auto out = script.call({.topic = "t", .payload = "x"});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].payload, "3");
}

TEST(Script, RuntimeErrorsNameTheLine) {
  EXPECT_EQ(error_of("local a = 1\nlocal b = 2\nreturn msg.nothing.field"),
            "line 3: attempt to index a nil value (field 'nothing')");
  EXPECT_EQ(error_of("\nerror('bad input')"), "line 2: bad input");
}

TEST(Script, SyntaxErrorsNameTheLine) {
  try {
    Script script("local a = 1\nlocal = 2", {});
    FAIL() << "compiled";
  } catch (const ScriptError& e) {
    EXPECT_EQ(std::string(e.what()).rfind("line 2: ", 0), 0u) << e.what();
  }
}

TEST(Script, ARunawayLoopIsStopped) {
  ScriptOptions options;
  options.instructions = 10000;
  const std::string error = error_of("local i = 0\nwhile true do i = i + 1 end", "", options);
  EXPECT_EQ(error, "line 2: instruction limit exceeded");
}

TEST(Script, EachCallGetsTheWholeInstructionBudget) {
  ScriptOptions options;
  options.instructions = 10000;
  Script script("for i = 1, 1000 do end return {payload = 'ok'}", options);
  for (int i = 0; i < 50; ++i)
    EXPECT_EQ(script.call({.topic = "t", .payload = ""}).size(), 1u);
}

TEST(Script, TheScriptKeepsWorkingAfterAnError) {
  Script script("if msg.payload == 'bad' then error('no') end return {payload = msg.payload}", {});
  EXPECT_THROW(script.call({.topic = "t", .payload = "bad"}), ScriptError);
  const auto out = script.call({.topic = "t", .payload = "good"});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].payload, "good");
}

TEST(Script, MemoryIsLimited) {
  ScriptOptions options;
  options.memory = 4u << 20;
  const std::string error = error_of("local s = 'x' for i = 1, 40 do s = s .. s end", "", options);
  EXPECT_NE(error.find("not enough memory"), std::string::npos) << error;
}

TEST(Script, SandboxHidesOsIoRequireAndFileLoading) {
  for (const char* name : {"os", "io", "require", "package", "debug", "dofile", "loadfile"})
    EXPECT_EQ(run(std::string("return {payload = type(") + name + ")}")[0].payload, "nil") << name;
  for (const char* name : {"string", "table", "math", "utf8"})
    EXPECT_EQ(run(std::string("return {payload = type(") + name + ")}")[0].payload, "table")
        << name;
}

TEST(Script, LoadTakesTextButNotBytecode) {
  EXPECT_EQ(run("return {payload = load('return 1 + 1')()}")[0].payload, "2");
  const auto out = run(
      "local f, err = load(string.dump(function() return 1 end)) return {payload = tostring(err)}");
  EXPECT_NE(out[0].payload.find("binary"), std::string::npos) << out[0].payload;
}

TEST(Script, AllowOpensTheNamedLibraries) {
  ScriptOptions options;
  options.allow = {"os"};
  EXPECT_EQ(run("return {payload = type(os.time())}", "", options)[0].payload, "number");
  EXPECT_THROW(Script("", {.allow = {"debug"}}), ScriptError);
}

TEST(Script, PrintGoesToTheCallback) {
  std::vector<std::string> lines;
  ScriptOptions options;
  options.print = [&](std::string_view line) { lines.emplace_back(line); };
  run("print('a', 1, true)", "", options);
  EXPECT_EQ(lines, (std::vector<std::string>{"a\t1\ttrue"}));
}

TEST(Script, BadReturnValuesAreExplained) {
  EXPECT_NE(error_of("return 5").find("returned a number"), std::string::npos);
  EXPECT_EQ(error_of("return {topic = 'x'}"), "a returned message has no payload");
  EXPECT_EQ(error_of("return {topic = 1, payload = 'p'}"),
            "a returned message's topic is a number, not a string");
  EXPECT_NE(error_of("return {payload = {f = print}}").find("function"), std::string::npos);
  EXPECT_NE(error_of("local t = {} t.self = t return {payload = t}").find("too deep"),
            std::string::npos);
}

}  // namespace
}  // namespace psos::script
