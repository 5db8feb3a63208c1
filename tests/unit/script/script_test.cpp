// The Lua binding on its own: what code sees of a message, what it may return, the sandbox, the
// instruction and memory limits, errors that name the Lua line, and the general Sandbox (chunks
// run for their value, C++ functions Lua calls, globals, functions in a table called from C++).
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
  EXPECT_EQ(error, "not enough memory: the code passed its limit of 4 MiB");
}

// A service whose globals have filled its memory and that then gets a large message: making msg
// fails for want of memory, which must be an error like any other (it ended the process once).
TEST(Script, AMessageThatDoesNotFitIsAnErrorNotACrash) {
  ScriptOptions options;
  options.memory = 1u << 20;
  Script script(
      "big = big or {}\n"
      "while collectgarbage('count') < 900 do big[#big + 1] = string.rep('x', 1000 + #big) end",
      options);
  script.call({.topic = "t", .payload = "p"});
  const std::string payload(200000, 'y');
  try {
    script.call({.topic = "t", .payload = payload});
    FAIL() << "the message fitted";
  } catch (const ScriptError& e) {
    EXPECT_EQ(std::string(e.what()), "not enough memory: the code passed its limit of 1 MiB");
  }
  script.run("big = nil collectgarbage()");
  EXPECT_EQ(script.run("return #string.rep('z', 300000)"), json(300000)) << "usable again";
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
  EXPECT_EQ(error_of("return {payload = {f = print}}"),
            "the payload: a function cannot be turned into JSON");
  EXPECT_NE(error_of("local t = {} t.self = t return {payload = t}").find("too deep"),
            std::string::npos);
}

TEST(Script, SharesItsGlobalsWithTheSandbox) {
  Script script("return {payload = tostring(counter)}", {});
  script.run("counter = 5");
  EXPECT_EQ(script.call({.topic = "t", .payload = ""})[0].payload, "5");
  script.set("counter", 6);
  EXPECT_EQ(script.call({.topic = "t", .payload = ""})[0].payload, "6");
}

json run_value(std::string_view code, ScriptOptions options = {}) {
  Sandbox sandbox(std::move(options));
  return sandbox.run(code);
}

std::string run_error(std::string_view code, ScriptOptions options = {}) {
  try {
    run_value(code, std::move(options));
  } catch (const ScriptError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(Sandbox, RunReturnsTheChunksValueAsJson) {
  EXPECT_EQ(run_value("return 1 + 2"), json(3));
  EXPECT_EQ(run_value("return 7 / 2"), json(3.5));
  EXPECT_EQ(run_value("return 'x', 'ignored'"), json("x"));
  EXPECT_EQ(run_value("return true"), json(true));
  EXPECT_EQ(run_value("return nil"), json(nullptr));
  EXPECT_EQ(run_value("local a = 1"), json(nullptr));
  EXPECT_EQ(run_value("return {}"), json::object());
  EXPECT_EQ(run_value("return {1, 'two', {three = 3}}"),
            json::parse(R"([1, "two", {"three": 3}])"));
  EXPECT_EQ(run_value("return {[1] = 'a', [3] = 'c', [2.5] = 'x'}"),
            json::parse(R"({"1": "a", "3": "c", "2.5": "x"})"));
  EXPECT_EQ(run_value("return {a = {b = {c = math.maxinteger}}}"),
            json::parse(R"({"a": {"b": {"c": 9223372036854775807}}})"));
}

TEST(Sandbox, ValuesJsonCannotHoldAreErrors) {
  EXPECT_EQ(run_error("return print"), "the result: a function cannot be turned into JSON");
  EXPECT_EQ(run_error("return {f = function() end}"),
            "the result: a function cannot be turned into JSON");
  EXPECT_EQ(run_error("return {[true] = 1}"),
            "the result: a table has a boolean key, which JSON cannot hold");
  EXPECT_EQ(run_error("local t = {} t.self = t return t"),
            "the result: a table is nested too deep (or holds itself) for JSON");
}

TEST(Sandbox, AResultThatWouldOutgrowTheMemoryLimitIsRefusedQuickly) {
  ScriptOptions options;
  options.memory = 1u << 20;
  // 2^40 leaves if written out, from a few hundred bytes of Lua.
  EXPECT_EQ(run_error("local t = {} for i = 1, 40 do t = {t, t} end return t", options),
            "the result is larger than the memory limit (1 MiB) allows in JSON");
  EXPECT_EQ(run_error("local s = string.rep('x', 100000) local t = {} "
                      "for i = 1, 20 do t[i] = s end return t",
                      options),
            "the result is larger than the memory limit (1 MiB) allows in JSON");
}

TEST(Sandbox, ErrorsNameTheLineAndTheChunk) {
  Sandbox sandbox({});
  try {
    sandbox.run("local a = 1\nerror('bad')", "setup");
    FAIL() << "no error";
  } catch (const ScriptError& e) {
    EXPECT_EQ(std::string(e.what()), "setup line 2: bad");
    EXPECT_EQ(e.line(), 2);
  }
  try {
    sandbox.run("\n\nlocal = 1");
    FAIL() << "no error";
  } catch (const ScriptError& e) {
    EXPECT_EQ(std::string(e.what()).rfind("line 3: ", 0), 0u) << e.what();
    EXPECT_EQ(e.line(), 3);
  }
  EXPECT_EQ(ScriptError(ScriptError::Code::Memory, "not enough memory").line(), 0);
  EXPECT_EQ(run_error("error({})"), "the code raised an error object of type table");
  EXPECT_EQ(run_error("error(42)"), "the code raised the error 42");
}

TEST(Sandbox, DefinedFunctionsTakeTheirArgumentsAsAJsonArray) {
  Sandbox sandbox({});
  std::vector<json> seen;
  sandbox.define("publish", [&](const json& args) {
    seen.push_back(args);
    return json{{"sent", args.size()}};
  });
  EXPECT_EQ(sandbox.run("return publish('a/b', {x = 1}, nil, 4)"), json({{"sent", 4}}));
  EXPECT_EQ(sandbox.run("return publish()"), json({{"sent", 0}}));
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0], json::parse(R"(["a/b", {"x": 1}, null, 4])"));
  EXPECT_EQ(seen[1], json::array());
  EXPECT_EQ(sandbox.run("local r = publish() return r.sent + 1"), json(1));
}

TEST(Sandbox, ADefinedFunctionThatThrowsRaisesALuaErrorAtTheCallingLine) {
  Sandbox sandbox({});
  sandbox.define("call", [](const json& args) -> json {
    throw std::runtime_error("no service " + args.at(0).get<std::string>());
  });
  try {
    sandbox.run("local x = 1\nreturn call('pump')");
    FAIL() << "no error";
  } catch (const ScriptError& e) {
    EXPECT_EQ(std::string(e.what()), "line 2: no service pump");
  }
  EXPECT_EQ(sandbox.run("local ok, e = pcall(call, 'fan') return {ok, e}"),
            json::parse(R"([false, "no service fan"])"));
  EXPECT_EQ(sandbox.run("return call ~= nil"), json(true)) << "the sandbox keeps working";
}

TEST(Sandbox, ArgumentsJsonCannotHoldAreLuaErrors) {
  Sandbox sandbox({});
  bool called = false;
  sandbox.define("echo", [&](const json& args) {
    called = true;
    return args;
  });
  try {
    sandbox.run("return echo(1, {f = print})");
    FAIL() << "no error";
  } catch (const ScriptError& e) {
    EXPECT_EQ(std::string(e.what()),
              "line 1: argument 2 of echo: a function cannot be turned into JSON");
  }
  EXPECT_FALSE(called);
  EXPECT_EQ(sandbox.run("return echo({1, 2})"), json::parse("[[1, 2]]"));
}

TEST(Sandbox, DefiningAgainReplacesAndCallingBackIsRefused) {
  Sandbox sandbox({});
  sandbox.define("f", [](const json&) { return json(1); });
  sandbox.define("f", [](const json&) { return json(2); });
  EXPECT_EQ(sandbox.run("return f()"), json(2));
  sandbox.define("again", [&](const json&) { return sandbox.run("return 1"); });
  try {
    sandbox.run("return again()");
    FAIL() << "no error";
  } catch (const ScriptError& e) {
    EXPECT_EQ(std::string(e.what()),
              "line 1: this Lua state is running: a function it calls cannot call back into it");
  }
}

TEST(Sandbox, SetMakesJsonAGlobal) {
  Sandbox sandbox({});
  sandbox.set("node", {{"name", "n1"}, {"services", {"a", "b"}}});
  EXPECT_EQ(sandbox.run("return node.name .. ' ' .. #node.services .. ' ' .. node.services[2]"),
            json("n1 2 b"));
  sandbox.set("node", nullptr);
  EXPECT_EQ(sandbox.run("return node"), json(nullptr));
}

TEST(Sandbox, FunctionsInATableAreListedAndCalled) {
  Sandbox sandbox({});
  EXPECT_TRUE(sandbox.functions("exports").empty()) << "no table yet";
  sandbox.run(
      "exports = {version = 2, [1] = print}\n"
      "function exports.add(args) return args.a + args.b end\n"
      "function exports.nothing() end\n"
      "function exports.echo(args) return args end");
  EXPECT_EQ(sandbox.functions("exports"), (std::vector<std::string>{"add", "echo", "nothing"}));
  EXPECT_EQ(sandbox.call("exports", "add", {{"a", 1}, {"b", 2.5}}), json(3.5));
  EXPECT_EQ(sandbox.call("exports", "nothing", json::object()), json(nullptr));
  EXPECT_EQ(sandbox.call("exports", "echo", nullptr), json(nullptr));
  EXPECT_EQ(sandbox.call("exports", "echo", {{"list", {1, 2}}}),
            json::parse(R"({"list": [1, 2]})"));
  try {
    sandbox.call("exports", "add", {{"a", 1}});
    FAIL() << "no error";
  } catch (const ScriptError& e) {
    EXPECT_EQ(std::string(e.what()),
              "line 2: attempt to perform arithmetic on a nil value (field 'b')");
  }
}

TEST(Sandbox, CallingWhatIsNotThereSaysSo) {
  Sandbox sandbox({});
  EXPECT_THROW(
      {
        try {
          sandbox.call("exports", "add", nullptr);
        } catch (const ScriptError& e) {
          EXPECT_EQ(std::string(e.what()), "there is no table exports");
          throw;
        }
      },
      ScriptError);
  sandbox.run("exports = {n = 1}");
  try {
    sandbox.call("exports", "n", nullptr);
    FAIL() << "no error";
  } catch (const ScriptError& e) {
    EXPECT_EQ(std::string(e.what()), "exports.n is not a function");
  }
}

TEST(Sandbox, ARunawayLoopIsStoppedEvenWhenItCatchesTheError) {
  ScriptOptions options;
  options.instructions = 10000;
  Sandbox sandbox(options);
  EXPECT_THROW(sandbox.run("while true do end"), ScriptError);
  try {
    sandbox.run(
        "local n = 0\nwhile true do\n  pcall(function() while true do end end)\n  n = n + 1\nend");
    FAIL() << "no error";
  } catch (const ScriptError& e) {
    EXPECT_EQ(std::string(e.what()).find("instruction limit exceeded"), 8u) << e.what();
  }
  sandbox.run("function loop() while true do end end");
  EXPECT_THROW(sandbox.call("_G", "loop", nullptr), ScriptError);
  EXPECT_EQ(sandbox.run("return 1"), json(1)) << "each entry gets the whole budget again";
}

TEST(Sandbox, AMemoryBombIsStoppedByTheMemoryLimit) {
  Sandbox sandbox({});
  try {
    sandbox.run("local t = {} while true do t[#t+1] = string.rep('x', 1e6) end");
    FAIL() << "no error";
  } catch (const ScriptError& e) {
    EXPECT_EQ(std::string(e.what()), "not enough memory: the code passed its limit of 64 MiB");
  }
  EXPECT_EQ(sandbox.run("return #string.rep('y', 1000)"), json(1000));
  EXPECT_LT(sandbox.memory(), std::size_t{64} << 20);
}

TEST(Sandbox, TooLittleMemoryToStartIsAnError) {
  ScriptOptions options;
  options.memory = 2000;
  EXPECT_THROW(Sandbox{options}, ScriptError);
  EXPECT_THROW(Sandbox({.allow = {"debug"}}), ScriptError);
}

// Callers act on the kind, not on the words: control's eval resets a state that ran out of
// memory, and only that one (code that raises "not enough memory" itself has not run out).
TEST(Sandbox, EachFailureCarriesItsKindAndLine) {
  using Code = ScriptError::Code;
  ScriptOptions options;
  options.instructions = 10000;
  options.memory = 4u << 20;
  Sandbox sandbox(options);
  const auto failure = [&](std::string_view code) -> std::pair<Code, int> {
    try {
      sandbox.run(code, "t");
    } catch (const ScriptError& e) {
      return {e.code(), e.line()};
    }
    ADD_FAILURE() << "no error from " << code;
    return {Code::Usage, -1};
  };
  EXPECT_EQ(failure("local a = 1\nlocal = 2"), std::make_pair(Code::Syntax, 2));
  EXPECT_EQ(failure("\n\nerror('not enough memory')"), std::make_pair(Code::Runtime, 3));
  EXPECT_EQ(failure("local s = 'x'\nfor i = 1, 40 do s = s .. s end"),
            std::make_pair(Code::Memory, 0));
  EXPECT_EQ(failure("\nwhile true do end"), std::make_pair(Code::Instructions, 2));
  EXPECT_EQ(failure("local n = 0\nwhile true do pcall(function() while true do end end) end").first,
            Code::Instructions)
      << "a limit the code catches is still the limit";
  EXPECT_EQ(failure("return function() end"), std::make_pair(Code::Value, 0));
  sandbox.define("again", [&](const json&) { return sandbox.run("return 1"); });
  EXPECT_EQ(failure("again()").first, Code::Runtime) << "a defined function's failure is Lua's";
  try {
    Script script("return 1", {});
    script.call({.topic = "t", .payload = ""});
    ADD_FAILURE() << "a number was taken for a message";
  } catch (const ScriptError& e) {
    EXPECT_EQ(e.code(), Code::Value) << e.what();
  }
  try {
    Sandbox{{.allow = {"debug"}}};
    ADD_FAILURE() << "debug was allowed";
  } catch (const ScriptError& e) {
    EXPECT_EQ(e.code(), Code::Usage) << e.what();
  }
}

TEST(Sandbox, PrintAndTheSandboxAreTheScriptsOwn) {
  std::vector<std::string> lines;
  ScriptOptions options;
  options.print = [&](std::string_view line) { lines.emplace_back(line); };
  Sandbox sandbox(options);
  sandbox.run("print('x', 2)");
  EXPECT_EQ(lines, (std::vector<std::string>{"x\t2"}));
  EXPECT_EQ(sandbox.run("return {type(os), type(io), type(require), type(load)}"),
            json::parse(R"(["nil", "nil", "nil", "function"])"));
}

}  // namespace
}  // namespace psos::script
