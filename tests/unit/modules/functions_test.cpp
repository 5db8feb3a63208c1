// The built-in modules' functions called as the control plane calls them (arguments checked
// against the spec, then Service::call): timer.fire, switch.state, aggregate.read and reset,
// delay.flush, sysinfo.read, with their exact results and errors.
#include "module_harness.hpp"

namespace psos::modules {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

class ModuleFunctions : public ModuleHarness {
 protected:
  std::vector<std::string> payloads() const {
    std::vector<std::string> out;
    for (const auto& m : seen_)
      out.push_back(m->payload);
    return out;
  }
  void settle() { io_.run_for(20ms); }
};

TEST_F(ModuleFunctions, StatusAndUnknownFunctionsAndArguments) {
  start("timer", checked("timer", {{"every", "1h"}, {"pub", "out/t"}}));
  EXPECT_EQ(call("status")["status"], "running");
  EXPECT_EQ(call("nope"),
            json({{"error", "unknown_function"},
                  {"message",
                   "service svc (module timer) has no function nope (functions: status, fire)"}}));
  EXPECT_EQ(
      call("fire", {{"now", true}}),
      json({{"error", "invalid_arguments"},
            {"message", "now: unknown argument \"now\" of function fire: it takes no arguments"}}));
  service_->status = runtime::ServiceStatus::Restarting;
  EXPECT_EQ(call("fire"), json({{"error", "not_running"},
                                {"message",
                                 "service svc is restarting: its functions work while "
                                 "it runs"}}));
}

TEST_F(ModuleFunctions, TimerFirePublishesTheNextTickNow) {
  start("timer", checked("timer", {{"every", "1h"}, {"pub", "out/t"}, {"payload", "n={count}"}}));
  watch("out/#");
  EXPECT_EQ(call("fire"), json({{"count", 1}, {"topic", "out/t"}, {"payload", "n=1"}}));
  EXPECT_EQ(call("fire"), json({{"count", 2}, {"topic", "out/t"}, {"payload", "n=2"}}));
  ASSERT_TRUE(received(2));
  EXPECT_EQ(payloads(), (std::vector<std::string>{"n=1", "n=2"}));
  EXPECT_EQ(seen_[0]->topic, "out/t");
}

TEST_F(ModuleFunctions, TimerFireTakesTheDueTickAndTheScheduleGoesOn) {
  const auto begin = std::chrono::steady_clock::now();
  start("timer", checked("timer", {{"every", "200ms"}, {"pub", "out/t"}, {"payload", "{count}"}}));
  watch("out/#");
  EXPECT_EQ(call("fire")["count"], 1);
  ASSERT_TRUE(received(2));
  // The tick due at 200 ms was the one fired: the next comes at 400 ms, as count 2.
  EXPECT_GE(std::chrono::steady_clock::now() - begin, 380ms);
  EXPECT_EQ(payloads(), (std::vector<std::string>{"1", "2"}));
}

TEST_F(ModuleFunctions, TimerFireWithAPayloadItCannotFillFails) {
  start("timer", checked("timer", {{"every", "1h"}, {"pub", "out/t"}, {"payload", "{nope}"}}));
  EXPECT_EQ(call("fire"),
            json({{"error", "failed"},
                  {"message", "payload template names {nope}, which timer does not know"}}));
}

TEST_F(ModuleFunctions, SwitchStateCountsMatchesPerRule) {
  start("switch",
        checked("switch",
                {{"sub", "in"},
                 {"rules", json::array({
                               {{"property", "t"}, {"op", ">"}, {"value", 30}, {"pub", "out/hot"}},
                               {{"property", "t"}, {"op", ">"}, {"value", 20}, {"pub", "out/warm"}},
                           })}}));
  for (const char* p : {R"({"t": 35})", R"({"t": 25})", R"({"t": 26})", R"({"t": 5})", "x"})
    send("in", p);
  settle();
  EXPECT_EQ(call("state"), json::parse(R"({
    "rules": [
      {"property": "t", "op": ">", "value": 30, "pub": "out/hot", "matched": 1},
      {"property": "t", "op": ">", "value": 20, "pub": "out/warm", "matched": 2}],
    "otherwise": 2,
    "messages": 5})"));
}

TEST_F(ModuleFunctions, AggregateReadsAndResetsATumblingCountWindow) {
  start("aggregate", checked("aggregate", {{"sub", "in"},
                                           {"pub", "out/a"},
                                           {"count", 3},
                                           {"emit", "window"},
                                           {"ops", {"min", "max", "mean", "sum"}}}));
  watch("out/#");
  const auto now_ms = [] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  };
  json read = call("read");
  EXPECT_EQ(read["count"], 0);
  EXPECT_TRUE(read["min"].is_null() && read["max"].is_null() && read["mean"].is_null()) << read;
  EXPECT_EQ(read["sum"], 0);
  EXPECT_TRUE(read["end"].is_null()) << "a count window has no set end";
  EXPECT_LE(std::abs(read["start"].get<std::int64_t>() - now_ms()), 1000) << read;

  for (const char* p : {"4", "x", "9"})
    send("in", p);
  settle();
  read = call("read");
  read.erase("start");
  EXPECT_EQ(read, json::parse(R"({"count": 2, "min": 4, "max": 9, "mean": 6.5, "sum": 13,
                                   "skipped": 1, "end": null})"));
  json discarded = call("reset");
  discarded.erase("start");
  EXPECT_EQ(discarded, read);
  EXPECT_EQ(call("read")["count"], 0);
  for (const char* p : {"1", "2", "3"})
    send("in", p);
  ASSERT_TRUE(received(1));
  EXPECT_EQ(payloads(), (std::vector<std::string>{R"({"min":1,"max":3,"mean":2,"sum":6})"}))
      << "the reset window did not count toward the next";
}

TEST_F(ModuleFunctions, AggregateTimeWindowsReportTheirSpan) {
  start("aggregate", checked("aggregate", {{"sub", "in"},
                                           {"pub", "out/a"},
                                           {"window", "1h"},
                                           {"emit", "window"},
                                           {"ops", {"count"}}}));
  send("in", "1");
  settle();
  const json read = call("read");
  EXPECT_EQ(read["count"], 1);
  EXPECT_EQ(read["end"].get<std::int64_t>() - read["start"].get<std::int64_t>(), 3600000);
  EXPECT_EQ(call("reset")["count"], 1);
  const json after = call("read");
  EXPECT_EQ(after["count"], 0);
  EXPECT_EQ(after["end"], read["end"]) << "a time window keeps its schedule";
}

TEST_F(ModuleFunctions, AggregateSlidingWindowsEndNow) {
  start(
      "aggregate",
      checked("aggregate", {{"sub", "in"}, {"pub", "out/a"}, {"window", "1h"}, {"ops", {"max"}}}));
  send("in", "7");
  settle();
  const json sliding = call("read");
  EXPECT_EQ(sliding["max"], 7);
  EXPECT_EQ(sliding["end"].get<std::int64_t>() - sliding["start"].get<std::int64_t>(), 3600000);
}

TEST_F(ModuleFunctions, DelayFlushPublishesWhatIsHeldInOrder) {
  start("delay", checked("delay", {{"sub", "in"}, {"pub", "out/d"}, {"time", "1h"}}));
  watch("out/#");
  EXPECT_EQ(call("flush"), json({{"flushed", 0}}));
  for (const char* p : {"a", "b", "c"})
    send("in", p);
  settle();
  EXPECT_TRUE(seen_.empty());
  EXPECT_EQ(call("flush"), json({{"flushed", 3}}));
  ASSERT_TRUE(received(3));
  EXPECT_EQ(payloads(), (std::vector<std::string>{"a", "b", "c"}));
  send("in", "d");
  settle();
  EXPECT_EQ(seen_.size(), 3u) << "a message after the flush waits its time";
}

TEST_F(ModuleFunctions, DelayFlushInThrottleModeSendsAllWaiting) {
  start("delay",
        checked("delay", {{"sub", "in"}, {"pub", "out/d"}, {"mode", "throttle"}, {"time", "1h"}}));
  watch("out/#");
  for (const char* p : {"a", "b", "c"})
    send("in", p);
  ASSERT_TRUE(received(1));
  settle();
  EXPECT_EQ(payloads(), (std::vector<std::string>{"a"}));
  EXPECT_EQ(call("flush"), json({{"flushed", 2}}));
  ASSERT_TRUE(received(3));
  send("in", "d");
  settle();
  EXPECT_EQ(payloads(), (std::vector<std::string>{"a", "b", "c"})) << "d waits its turn";
}

TEST_F(ModuleFunctions, DelayFlushInDebounceModeSendsTheLast) {
  start("delay",
        checked("delay", {{"sub", "in"}, {"pub", "out/e"}, {"mode", "debounce"}, {"time", "1h"}}));
  watch("out/#");
  for (const char* p : {"x", "y"})
    send("in", p);
  settle();
  EXPECT_EQ(call("flush"), json({{"flushed", 1}}));
  ASSERT_TRUE(received(1));
  EXPECT_EQ(seen_[0]->payload, "y");
  EXPECT_EQ(call("flush"), json({{"flushed", 0}}));
}

TEST_F(ModuleFunctions, SysinfoReadReturnsAReportWithoutPublishingIt) {
  start("sysinfo", checked("sysinfo", {{"pub", "out/s"}, {"every", "1h"}}));
  watch("out/#");
  settle();
  EXPECT_TRUE(seen_.empty()) << "the report at start went out before the test watched";
  const json report = call("read");
  for (const char* field :
       {"mem_total", "mem_available", "cpu", "load", "disk_total", "disk_free", "uptime"})
    EXPECT_TRUE(report.contains(field)) << field << " missing from " << report;
  EXPECT_GT(report["mem_total"].get<std::uint64_t>(), 0u);
  EXPECT_EQ(report["load"].size(), 3u);
  settle();
  EXPECT_TRUE(seen_.empty()) << "read published";
}

}  // namespace
}  // namespace psos::modules
