// Runs one module as a service on a real router and watches what it publishes: the fixture of
// the tests of modules that run with I/O (files, processes, Lua).
#pragma once

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <exception>
#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "modules/module.hpp"
#include "router/local_client.hpp"
#include "runtime/service.hpp"
#include "system/arguments.hpp"
#include "system/definition.hpp"
#include "system/secrets.hpp"

namespace psos::modules {

class ModuleHarness : public ::testing::Test {
 protected:
  ModuleHarness() {
    spdlog::set_level(spdlog::level::info);
    state_root_ = std::filesystem::temp_directory_path() /
                  ("psos-modules-io-" + std::to_string(::getpid()) + "-" +
                   ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(state_root_);
  }
  ~ModuleHarness() override {
    if (service_) service_->request_stop();
    io_.run_for(std::chrono::milliseconds(50));
    std::filesystem::remove_all(state_root_);
  }

  // Starts `module` with `params` (the checked definition's values, defaults included) and lets
  // it subscribe.
  void start(const std::string& module, nlohmann::json params) {
    const Module* entry = find_builtin(module);
    ASSERT_NE(entry, nullptr) << module;
    service_ = std::make_unique<runtime::Service>(
        router_, io_.get_executor(), "sys", "node1",
        system::ServiceDefinition{.name = "svc", .module = module, .params = Params(params)},
        entry->spec, state_root_);
    // The service's lines are kept for the tests to read, beside the usual sink.
    service_->log().sinks().push_back(std::make_shared<spdlog::sinks::ostream_sink_mt>(log_));
    const modules::Run run = entry->run;
    service_->status = runtime::ServiceStatus::Running;  // as the supervisor sets it
    // Bound to the service's stop signal, as the supervisor does: request_stop() cancels what
    // the module awaits.
    boost::asio::co_spawn(io_, run(*service_),
                          boost::asio::bind_cancellation_slot(service_->cancel().slot(),
                                                              [this](std::exception_ptr e) {
                                                                finished_ = true;
                                                                failure_ = e;
                                                              }));
    io_.run_for(std::chrono::milliseconds(20));
  }

  // `params` as `psos check` makes them for a service of `module`: checked, defaults filled in,
  // durations in milliseconds.
  static nlohmann::json checked(const std::string& module, nlohmann::json params) {
    params["name"] = "svc";
    params["module"] = module;
    const nlohmann::json definition = {
        {"psos", 1}, {"system", "sys"}, {"nodes", {{"node1", {{"services", {params}}}}}}};
    const auto result = system::check_definition(definition.dump(), "test.json", system::Secrets(),
                                                 builtin_catalog());
    for (const auto& e : result.errors)
      ADD_FAILURE() << system::to_string(e);
    if (!result.valid()) return nlohmann::json::object();
    return result.nodes.at(0).services.at(0).params.all();
  }

  void watch(std::string_view filter) { probe_.subscribe(filter); }
  void send(std::string_view topic, std::string_view payload) { probe_.publish(topic, payload); }

  // Runs the loop until `done` holds or 2 s pass; returns whether it holds.
  bool run_until(const std::function<bool()>& done,
                 std::chrono::milliseconds limit = std::chrono::milliseconds(2000)) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (!done() && std::chrono::steady_clock::now() < end)
      io_.run_for(std::chrono::milliseconds(5));
    return done();
  }
  bool received(std::size_t count) {
    return run_until([&] { return seen_.size() >= count; });
  }
  std::string failure() const {
    if (!failure_) return "";
    try {
      std::rethrow_exception(failure_);
    } catch (const std::exception& e) {
      return e.what();
    }
    return "?";
  }
  std::string log_text() const { return log_.str(); }

  // Calls one of the service's functions as the control plane does (arguments checked against
  // its spec first), running the loop until it answers; a CallError comes back as {"error": code,
  // "message": text}, arguments the spec refuses as {"error": "invalid_arguments", "message":
  // the problems, one per line}.
  nlohmann::json call(std::string_view function, nlohmann::json args = nlohmann::json::object()) {
    if (const modules::FunctionSpec* spec = service_->function_spec(function)) {
      system::CheckedArguments checked_args = system::check_arguments(*spec, args);
      if (!checked_args.ok()) {
        std::string problems;
        for (const std::string& e : checked_args.errors)
          problems += (problems.empty() ? "" : "\n") + e;
        return {{"error", "invalid_arguments"}, {"message", problems}};
      }
      args = std::move(checked_args.values);
    }
    std::optional<nlohmann::json> result;
    boost::asio::co_spawn(
        io_,
        [&]() -> boost::asio::awaitable<void> {
          try {
            result = co_await service_->call(function, args);
          } catch (const runtime::CallError& e) {
            result = nlohmann::json{{"error", e.code()}, {"message", e.what()}};
          }
        },
        boost::asio::detached);
    run_until([&] { return result.has_value(); });
    return result.value_or(nlohmann::json("no answer within 2 s"));
  }

  boost::asio::io_context io_;
  router::RouterOptions options_ = [] {
    router::RouterOptions o;
    o.sys_interval_seconds = 0;
    return o;
  }();
  router::Router router_{io_.get_executor(), options_};
  std::vector<router::MessagePtr> seen_;
  router::LocalClient probe_{
      router_, io_.get_executor(), "probe",
      [this](const router::MessagePtr& m, const router::Delivery&) { seen_.push_back(m); }};
  std::filesystem::path state_root_;
  std::unique_ptr<runtime::Service> service_;
  std::ostringstream log_;
  bool finished_ = false;
  std::exception_ptr failure_;
};

}  // namespace psos::modules
