// `function` as a running service: Lua per message, results published, errors and runaway loops
// reported with the message dropped while the service keeps running; setup run once, and the
// functions in `exports` callable as functions of the service.
#include <fstream>

#include "module_harness.hpp"

namespace psos::modules {
namespace {

using nlohmann::json;

class FunctionModule : public ModuleHarness {
 protected:
  static json params(json extra) {
    json p = {{"sub", {"in/#"}},
              {"allow", json::array()},
              {"instructions", 100000},
              {"qos", 0},
              {"retain", false}};
    p.update(extra);
    return p;
  }
};

TEST_F(FunctionModule, PublishesWhatTheCodeReturns) {
  start("function", params({{"pub", "out/default"},
                            {"code",
                             "if msg.json.t > 20 then\n"
                             "  return {payload = {hot = msg.json.t}}\n"
                             "end"}}));
  watch("out/#");
  send("in/a", R"({"t": 25})");
  send("in/a", R"({"t": 15})");
  send("in/a", R"({"t": 30})");
  ASSERT_TRUE(received(2)) << log_text();
  EXPECT_EQ(seen_[0]->topic, "out/default");
  EXPECT_EQ(json::parse(seen_[0]->payload), json({{"hot", 25}}));
  EXPECT_EQ(json::parse(seen_[1]->payload), json({{"hot", 30}}));
  io_.run_for(std::chrono::milliseconds(30));
  EXPECT_EQ(seen_.size(), 2u) << "the 15 was not dropped";
}

TEST_F(FunctionModule, KeepsStateAndFansOut) {
  start("function", params({{"code",
                             "n = (n or 0) + 1\n"
                             "return {{topic = 'out/count', payload = tostring(n)},\n"
                             "        {topic = 'out/echo', payload = msg.payload}}"}}));
  watch("out/#");
  send("in/x", "a");
  send("in/x", "b");
  ASSERT_TRUE(received(4)) << log_text();
  EXPECT_EQ(seen_[2]->topic, "out/count");
  EXPECT_EQ(seen_[2]->payload, "2");
  EXPECT_EQ(seen_[3]->topic, "out/echo");
  EXPECT_EQ(seen_[3]->payload, "b");
}

TEST_F(FunctionModule, ErrorsAndRunawayLoopsDropTheMessageAndTheServiceGoesOn) {
  start("function", params({{"pub", "out/ok"},
                            {"code",
                             "if msg.payload == 'loop' then while true do end end\n"
                             "if msg.payload == 'bad' then return msg.x.y end\n"
                             "return {payload = msg.payload}"}}));
  watch("out/#");
  send("in/a", "loop");
  send("in/a", "bad");
  send("in/a", "fine");
  ASSERT_TRUE(received(1)) << log_text();
  EXPECT_EQ(seen_[0]->payload, "fine");
  EXPECT_FALSE(finished_) << failure();
  EXPECT_NE(log_text().find("line 1: instruction limit exceeded (on a message on in/a, dropped)"),
            std::string::npos)
      << log_text();
  EXPECT_NE(log_text().find("line 2: attempt to index a nil value"), std::string::npos)
      << log_text();
}

TEST_F(FunctionModule, AMessageWithoutTopicNeedsPub) {
  start("function", params({{"code", "return {payload = 'x'}"}}));
  watch("#");
  send("in/a", "1");
  EXPECT_TRUE(run_until([&] { return log_text().find("without a topic") != std::string::npos; }))
      << log_text();
}

TEST_F(FunctionModule, ReadsTheCodeFromAFile) {
  std::filesystem::create_directories(state_root_);
  const auto file = state_root_ / "double.lua";
  std::ofstream(file) << "return {topic = 'out/d', payload = tostring(msg.json * 2)}\n";
  start("function", params({{"file", file.string()}}));
  watch("out/#");
  send("in/n", "21");
  ASSERT_TRUE(received(1)) << log_text();
  EXPECT_EQ(seen_[0]->payload, "42");
}

TEST_F(FunctionModule, ASyntaxErrorFailsTheServiceWithTheLine) {
  start("function", params({{"code", "local a = 1\nlocal = 2"}}));
  ASSERT_TRUE(run_until([&] { return finished_; }));
  EXPECT_EQ(failure().rfind("line 2: ", 0), 0u) << failure();
}

TEST_F(FunctionModule, SetupRunsOnceBeforeAnyMessageWithTheSameGlobals) {
  start("function", params({{"pub", "out/n"},
                            {"setup", "count = 10 print('set up')"},
                            {"code", "count = count + 1 return {payload = tostring(count)}"}}));
  watch("out/#");
  send("in/a", "x");
  send("in/a", "x");
  ASSERT_TRUE(received(2)) << log_text();
  EXPECT_EQ(seen_[0]->payload, "11");
  EXPECT_EQ(seen_[1]->payload, "12");
  EXPECT_EQ(log_text().find("set up"), log_text().rfind("set up")) << "setup ran once";
}

TEST_F(FunctionModule, ExportsAreFunctionsOfTheService) {
  start("function", checked("function", {{"setup",
                                          "scale = 2\n"
                                          "function exports.add(args)\n"
                                          "  return {sum = (args.a + args.b) * scale, "
                                          "list = args.list}\n"
                                          "end\n"
                                          "function exports.nothing() end"}}));
  EXPECT_EQ(call("add", {{"a", 1}, {"b", 2.5}, {"list", {1, "x"}}}),
            json::parse(R"({"sum": 7.0, "list": [1, "x"]})"));
  EXPECT_EQ(call("nothing"), json(nullptr));
  std::vector<std::string> names;
  for (const FunctionSpec* f : service_->function_specs()) {
    names.push_back(f->name);
    if (f->name == "add") {
      EXPECT_EQ(f->description, "Lua export");
      EXPECT_TRUE(f->any_args);
    }
  }
  EXPECT_EQ(names, (std::vector<std::string>{"status", "add", "nothing"}));
  EXPECT_EQ(call("add", json::array({1})),
            json({{"error", "invalid_arguments"},
                  {"message", "expected an object of arguments, found a list"}}));
  EXPECT_FALSE(finished_) << "a library of exports, without sub, keeps running: " << failure();
}

TEST_F(FunctionModule, ExportsFollowTheTableAsTheCodeChangesIt) {
  start("function",
        params({{"code",
                 "last = msg.payload\n"
                 "if msg.payload == 'on' then exports.last = function() return last "
                 "end end\n"
                 "if msg.payload == 'off' then exports.last = nil end"},
                {"setup", "function exports.forget() exports.forget = nil return 1 end"}}));
  EXPECT_EQ(call("last")["error"], "unknown_function");
  send("in/a", "on");
  io_.run_for(std::chrono::milliseconds(20));
  EXPECT_EQ(call("last"), json("on"));
  send("in/a", "off");
  io_.run_for(std::chrono::milliseconds(20));
  EXPECT_EQ(call("last")["error"], "unknown_function");
  EXPECT_EQ(call("forget"), json(1));
  EXPECT_EQ(call("forget"),
            json({{"error", "unknown_function"},
                  {"message",
                   "service svc (module function) has no function forget (functions: "
                   "status)"}}))
      << "an export that removed itself is gone after its call";
}

TEST_F(FunctionModule, AnExportThatFailsOrRunsAwayFailsTheCallAndTheServiceGoesOn) {
  start("function", checked("function", {{"instructions", 10000},
                                         {"setup",
                                          "function exports.boom(args) error('no ' .. args.what) "
                                          "end\n"
                                          "function exports.spin() while true do end end\n"
                                          "function exports.ok() return 'ok' end"}}));
  EXPECT_EQ(call("boom", {{"what", "pump"}}),
            json({{"error", "failed"}, {"message", "setup line 1: no pump"}}));
  EXPECT_EQ(call("spin"),
            json({{"error", "failed"}, {"message", "setup line 2: instruction limit exceeded"}}));
  EXPECT_EQ(call("ok"), json("ok"));
  EXPECT_FALSE(finished_) << failure();
}

TEST_F(FunctionModule, ExportsThatCannotBeOfferedAreReportedOnce) {
  start("function", checked("function", {{"setup",
                                          "exports['two words'] = print\n"
                                          "exports.status = print\n"
                                          "exports.fine = function() return true end"}}));
  EXPECT_EQ(call("fine"), json(true));
  const std::string log = log_text();
  EXPECT_NE(log.find("exports[\"two words\"] is not offered: an export's name is a Lua "
                     "identifier (letters, digits and '_', at most 64)"),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("exports.status is not offered: function status is already one of module "
                     "function's: choose another name"),
            std::string::npos)
      << log;
  EXPECT_EQ(call("status")["module"], "function");
  call("fine");
  EXPECT_EQ(log_text(), log) << "said once, not after every call";
}

TEST_F(FunctionModule, AnErrorInSetupFailsTheServiceWithTheLine) {
  start("function", params({{"code", "return msg"}, {"setup", "x = 1\nerror('bad setup')"}}));
  ASSERT_TRUE(run_until([&] { return finished_; }));
  EXPECT_EQ(failure(), "setup line 2: bad setup");
}

}  // namespace
}  // namespace psos::modules
