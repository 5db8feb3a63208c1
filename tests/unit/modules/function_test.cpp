// `function` as a running service: Lua per message, results published, errors and runaway loops
// reported with the message dropped while the service keeps running.
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

}  // namespace
}  // namespace psos::modules
