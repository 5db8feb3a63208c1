// Each module run for real: a service on an in-process router, its definition checked as `psos
// check` would, messages fed and its output read by a second session on the same router.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "modules/module.hpp"
#include "router/local_client.hpp"
#include "router/router.hpp"
#include "runtime/service.hpp"
#include "system/definition.hpp"
#include "system/secrets.hpp"

namespace psos {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using nlohmann::json;

router::RouterOptions quiet_router() {
  router::RouterOptions options;
  options.sys_interval_seconds = 0;
  return options;
}

// One service of `module` with `params`, and a probe session that publishes its input and
// collects what it publishes on out/#.
class ModuleRun {
 public:
  ModuleRun(const std::string& module, json params) {
    params["name"] = "svc";
    params["module"] = module;
    const json definition = {
        {"psos", 1}, {"system", "test"}, {"nodes", {{"n", {{"services", json::array({params})}}}}}};
    const auto checked = system::check_definition(definition.dump(), "test.json", system::Secrets(),
                                                  modules::builtin_catalog());
    for (const auto& e : checked.errors)
      ADD_FAILURE() << system::to_string(e);
    if (!checked.valid() || checked.nodes.size() != 1)
      throw std::invalid_argument("the test's definition is not valid");
    const modules::Module* entry = modules::find_builtin(module);
    if (entry == nullptr) throw std::invalid_argument("no module " + module);
    const auto run = entry->run;
    service_ =
        std::make_unique<runtime::Service>(router_, io_.get_executor(), "test", "n",
                                           checked.nodes[0].services[0], entry->spec, state_root());
    probe_.subscribe("out/#");
    asio::co_spawn(io_, run(*service_), [this](const std::exception_ptr& e) {
      finished_ = true;
      if (!e) return;
      try {
        std::rethrow_exception(e);
      } catch (const boost::system::system_error& stop) {
        if (stop.code() != asio::error::operation_aborted) error_ = stop.what();
      } catch (const std::exception& other) {
        error_ = other.what();
      }
    });
    io_.poll();  // the service subscribes before the test publishes
  }

  ~ModuleRun() {
    service_->request_stop();
    for (int i = 0; i < 100 && !finished_; ++i)
      io_.run_for(10ms);
    EXPECT_TRUE(finished_) << "the service did not end when asked to stop";
  }

  void publish(const std::string& topic, const std::string& payload) {
    probe_.publish(topic, payload);
    io_.poll();
  }
  void run_for(std::chrono::milliseconds time) { io_.run_for(time); }
  // Runs until `count` messages came out (at most 1.5 s).
  void run_until(std::size_t count) {
    const auto deadline = std::chrono::steady_clock::now() + 1500ms;
    while (out.size() < count && std::chrono::steady_clock::now() < deadline)
      io_.run_for(5ms);
  }

  std::vector<std::string> payloads() const {
    std::vector<std::string> p;
    for (const auto& m : out)
      p.push_back(m->payload);
    return p;
  }
  std::vector<std::string> topics() const {
    std::vector<std::string> t;
    for (const auto& m : out)
      t.push_back(m->topic);
    return t;
  }

  std::vector<router::MessagePtr> out;
  std::string error_;  // what run() threw, other than being stopped
  bool finished_ = false;

 private:
  static std::filesystem::path state_root() {
    return std::filesystem::temp_directory_path() / "psos-modules-tests";
  }

  asio::io_context io_;
  router::Router router_{io_.get_executor(), quiet_router()};
  router::LocalClient probe_{
      router_, io_.get_executor(), "probe",
      [this](const router::MessagePtr& m, const router::Delivery&) { out.push_back(m); }};
  std::unique_ptr<runtime::Service> service_;
};

using Payloads = std::vector<std::string>;

TEST(TimerRun, EveryPublishesCountedTicks) {
  ModuleRun run("timer", {{"every", "20ms"}, {"pub", "out/tick"}, {"payload", "n={count}"}});
  run.run_until(3);
  ASSERT_GE(run.out.size(), 3U);
  EXPECT_EQ(run.payloads()[0], "n=1");
  EXPECT_EQ(run.payloads()[2], "n=3");
}

TEST(TimerRun, AtEverySecondTicks) {
  ModuleRun run("timer",
                {{"at", json::array({"*:*:*:*"})}, {"pub", "out/tick"}, {"payload", "{count}"}});
  run.run_until(1);
  ASSERT_EQ(run.payloads(), Payloads{"1"});
  EXPECT_EQ(run.error_, "");
}

TEST(SwitchRun, FirstMatchingRuleOrOtherwise) {
  ModuleRun run(
      "switch",
      {{"sub", "in/#"},
       {"rules", json::array({
                     {{"property", "temp"}, {"op", ">"}, {"value", 30}, {"pub", "out/hot"}},
                     {{"property", "temp"}, {"op", ">"}, {"value", 20}, {"pub", "out/warm"}},
                 })},
       {"otherwise", "out/other"}});
  run.publish("in/a", R"({"temp":35})");
  run.publish("in/a", R"({"temp":25})");
  run.publish("in/a", R"({"temp":5})");
  run.publish("in/a", "not json");
  run.run_until(4);
  EXPECT_EQ(run.topics(), (Payloads{"out/hot", "out/warm", "out/other", "out/other"}));
  EXPECT_EQ(run.payloads()[0], R"({"temp":35})");  // unchanged
}

TEST(SwitchRun, AllModeSendsToEveryMatchAndDropsTheRest) {
  ModuleRun run("switch",
                {{"sub", "in"},
                 {"mode", "all"},
                 {"rules", json::array({
                               {{"op", "between"}, {"value", 0}, {"to", 10}, {"pub", "out/low"}},
                               {{"op", "regex"}, {"value", "^[0-9]$"}, {"pub", "out/digit"}},
                           })}});
  run.publish("in", "7");
  run.publish("in", "70");
  run.publish("in", "15");
  run.run_until(2);
  run.run_for(20ms);
  EXPECT_EQ(run.topics(), (Payloads{"out/low", "out/digit"}));
}

TEST(FilterRun, ChangePassesNewValuesPerTopic) {
  ModuleRun run("filter", {{"sub", "in/#"}, {"pub", "out/f"}, {"property", "state"}});
  for (const char* p : {R"({"state":"on"})", R"({"state":"on","t":1})", R"({"state":"off"})",
                        R"({"state":"off"})", R"({"state":"on"})"})
    run.publish("in/a", p);
  run.publish("in/b", R"({"state":"on"})");  // another topic: its first message passes
  run.run_until(4);
  run.run_for(10ms);
  EXPECT_EQ(run.payloads(), (Payloads{R"({"state":"on"})", R"({"state":"off"})",
                                      R"({"state":"on"})", R"({"state":"on"})"}));
}

TEST(FilterRun, DeadbandPassesMovesOfAtLeastBand) {
  ModuleRun run("filter", {{"sub", "in"}, {"pub", "out/f"}, {"mode", "deadband"}, {"band", 1}});
  for (const char* p : {"20", "20.5", "20.99", "21", "19.9", "x", "20.5"})
    run.publish("in", p);
  run.run_until(3);
  run.run_for(10ms);
  EXPECT_EQ(run.payloads(), (Payloads{"20", "21", "19.9"}));
}

TEST(DelayRun, DelayHoldsThenSendsInOrder) {
  ModuleRun run("delay", {{"sub", "in"}, {"pub", "out/d"}, {"time", "50ms"}});
  run.publish("in", "a");
  run.publish("in", "b");
  EXPECT_TRUE(run.out.empty());
  run.run_until(2);
  EXPECT_EQ(run.payloads(), (Payloads{"a", "b"}));
}

TEST(DelayRun, DelayQueueDropsTheOldest) {
  ModuleRun run("delay", {{"sub", "in"}, {"pub", "out/d"}, {"time", "30ms"}, {"queue", 2}});
  for (const char* p : {"a", "b", "c"})
    run.publish("in", p);
  run.run_until(2);
  run.run_for(40ms);
  EXPECT_EQ(run.payloads(), (Payloads{"b", "c"}));
}

TEST(DelayRun, ThrottleDropSendsTheFirstOnly) {
  ModuleRun run(
      "delay",
      {{"sub", "in"}, {"pub", "out/d"}, {"mode", "throttle"}, {"time", "1s"}, {"drop", true}});
  for (const char* p : {"a", "b", "c"})
    run.publish("in", p);
  run.run_for(20ms);
  EXPECT_EQ(run.payloads(), (Payloads{"a"}));
}

TEST(DelayRun, ThrottleHoldsAndSpacesMessages) {
  ModuleRun run("delay", {{"sub", "in"}, {"pub", "out/d"}, {"mode", "throttle"}, {"time", "50ms"}});
  for (const char* p : {"a", "b", "c"})
    run.publish("in", p);
  run.run_for(10ms);
  EXPECT_EQ(run.payloads(), (Payloads{"a"}));  // the next ones wait their turn
  run.run_until(3);
  EXPECT_EQ(run.payloads(), (Payloads{"a", "b", "c"}));
}

TEST(DelayRun, DebounceSendsTheLastAfterQuiet) {
  ModuleRun run("delay", {{"sub", "in"}, {"pub", "out/d"}, {"mode", "debounce"}, {"time", "50ms"}});
  for (const char* p : {"a", "b", "c"}) {
    run.publish("in", p);
    run.run_for(10ms);
  }
  EXPECT_TRUE(run.out.empty());
  run.run_until(1);
  run.run_for(60ms);
  EXPECT_EQ(run.payloads(), (Payloads{"c"}));
}

TEST(AggregateRun, SlidingCountWindow) {
  ModuleRun run("aggregate", {{"sub", "in"},
                              {"pub", "out/a"},
                              {"count", 3},
                              {"ops", json::array({"min", "max", "mean", "count", "sum"})}});
  for (const char* p : {"1", "2", "x", "3", "10.5"})
    run.publish("in", p);
  run.run_until(4);
  EXPECT_EQ(run.payloads(),
            (Payloads{R"({"min":1,"max":1,"mean":1,"count":1,"sum":1})",
                      R"({"min":1,"max":2,"mean":1.5,"count":2,"sum":3})",
                      R"({"min":1,"max":3,"mean":2,"count":3,"sum":6})",
                      R"({"min":2,"max":10.5,"mean":5.166666666666667,"count":3,"sum":15.5})"}));
}

TEST(AggregateRun, TumblingCountWindowOnAProperty) {
  ModuleRun run("aggregate", {{"sub", "in"},
                              {"pub", "out/a"},
                              {"count", 2},
                              {"emit", "window"},
                              {"property", "temp"},
                              {"ops", json::array({"sum"})}});
  for (const char* p :
       {R"({"temp":1})", R"({"temp":2})", R"({"temp":3})", R"({"temp":4})", R"({"temp":5})"})
    run.publish("in", p);
  run.run_until(2);
  run.run_for(10ms);
  EXPECT_EQ(run.payloads(), (Payloads{R"({"sum":3})", R"({"sum":7})"}));
}

TEST(AggregateRun, SlidingTimeWindowForgetsOldValues) {
  ModuleRun run(
      "aggregate",
      {{"sub", "in"}, {"pub", "out/a"}, {"window", "60ms"}, {"ops", json::array({"count"})}});
  run.publish("in", "1");
  run.publish("in", "2");
  run.run_for(100ms);
  run.publish("in", "3");
  run.run_until(3);
  EXPECT_EQ(run.payloads(), (Payloads{R"({"count":1})", R"({"count":2})", R"({"count":1})"}));
}

TEST(AggregateRun, TimeWindowsAreEmittedOnTime) {
  ModuleRun run("aggregate", {{"sub", "in"},
                              {"pub", "out/a"},
                              {"window", "50ms"},
                              {"emit", "window"},
                              {"ops", json::array({"max", "count"})}});
  run.publish("in", "4");
  run.publish("in", "9");
  EXPECT_TRUE(run.out.empty());
  run.run_until(1);
  EXPECT_EQ(run.payloads(), (Payloads{R"({"max":9,"count":2})"}));
  run.run_for(60ms);  // an empty window publishes nothing
  EXPECT_EQ(run.out.size(), 1U);
}

TEST(SimRun, DhtWalksFromItsStartWithinStep) {
  ModuleRun run("sim.dht", {{"pub", "out/dht"},
                            {"every", "10ms"},
                            {"temp", 20},
                            {"hum", 99.9},
                            {"step", 0.5},
                            {"seed", 7}});
  run.run_until(20);
  ASSERT_GE(run.out.size(), 20U);
  EXPECT_EQ(run.payloads()[0], R"({"hum":99.9,"temp":20.0})");
  double temp = 20;
  double hum = 99.9;
  for (const auto& m : run.out) {
    const json r = json::parse(m->payload);
    EXPECT_LE(std::abs(r["temp"].get<double>() - temp), 0.5 + 0.011) << m->payload;
    EXPECT_LE(std::abs(r["hum"].get<double>() - hum), 0.5 + 0.011) << m->payload;
    EXPECT_LE(r["hum"].get<double>(), 100.0);
    temp = r["temp"].get<double>();
    hum = r["hum"].get<double>();
  }
}

TEST(SimRun, SensorStaysWithinBoundsWithUnit) {
  ModuleRun run("sim.sensor", {{"pub", "out/s"},
                               {"every", "5ms"},
                               {"start", 5},
                               {"step", 3},
                               {"min", 0},
                               {"max", 6},
                               {"field", "lux"},
                               {"unit", "lx"}});
  run.run_until(30);
  ASSERT_GE(run.out.size(), 30U);
  EXPECT_EQ(run.payloads()[0], R"({"lux":5.0,"unit":"lx"})");
  for (const auto& m : run.out) {
    const double lux = json::parse(m->payload)["lux"].get<double>();
    EXPECT_GE(lux, 0.0);
    EXPECT_LE(lux, 6.0);
  }
}

TEST(SimRun, SensorBareNumberAndSeedRepeats) {
  const auto readings = [] {
    ModuleRun run("sim.sensor", {{"pub", "out/s"}, {"every", "5ms"}, {"field", ""}, {"seed", 42}});
    run.run_until(5);
    auto p = run.payloads();
    p.resize(5);
    return p;
  };
  const auto first = readings();
  EXPECT_EQ(first[0], "0.0");
  EXPECT_NE(first[1], "0.0");
  EXPECT_EQ(first, readings());
}

TEST(SimRun, SensorUnitWithoutFieldIsRefused) {
  ModuleRun run("sim.sensor", {{"pub", "out/s"}, {"field", ""}, {"unit", "lx"}});
  run.run_for(10ms);
  EXPECT_EQ(run.error_,
            "sim.sensor: parameter \"unit\" needs a field: a bare number has no room for it");
}

}  // namespace
}  // namespace psos
