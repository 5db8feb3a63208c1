// Runs one module as a service on a real router and watches what it publishes: the fixture of
// the tests of modules that run with I/O (files, processes, Lua).
#pragma once

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <exception>
#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "modules/context.hpp"
#include "router/local_client.hpp"
#include "runtime/service.hpp"

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
    service_ = std::make_unique<runtime::Service>(
        router_, io_.get_executor(), "sys", "node1",
        system::ServiceDefinition{.name = "svc", .module = module, .params = Params(params)},
        state_root_);
    // The service's lines are kept for the tests to read, beside the usual sink.
    service_->log().sinks().push_back(std::make_shared<spdlog::sinks::ostream_sink_mt>(log_));
    const modules::Run run = find_run(module);
    ASSERT_NE(run, nullptr) << module;
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
