// The control plane's state, shared by its files: agent.cpp (presence, $info, $metrics, $log,
// taking requests in), verbs.cpp (what each verb does) and conf.cpp (parameter overrides).
// Private to control/.
#pragma once

#include <spdlog/spdlog.h>

#include <array>
#include <boost/asio/steady_timer.hpp>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "control/agent.hpp"
#include "control/log_stream.hpp"
#include "control/process_stats.hpp"
#include "control/request.hpp"
#include "modules/spec.hpp"
#include "router/local_client.hpp"
#include "runtime/node.hpp"
#include "runtime/service.hpp"

namespace psos::script {
class Sandbox;
}

namespace psos::control {

struct Deployer;  // deploy.cpp

// A verb's failure: the reply's error code and message.
struct VerbError : std::runtime_error {
  VerbError(std::string c, const std::string& message)
      : std::runtime_error(message), code(std::move(c)) {}
  std::string code;
};

// A verb: its spec (name, description, arguments, as a module function's) and what it does
// with checked arguments.
struct Verb {
  modules::FunctionSpec spec;
  boost::asio::awaitable<nlohmann::json> (*run)(Agent::Impl& agent, const nlohmann::json& args);
};
// The deploy verbs (deploy.cpp).
boost::asio::awaitable<nlohmann::json> revision_verb(Agent::Impl& agent, const nlohmann::json&);
boost::asio::awaitable<nlohmann::json> deploy_begin_verb(Agent::Impl& agent,
                                                         const nlohmann::json& args);
boost::asio::awaitable<nlohmann::json> deploy_apply_verb(Agent::Impl& agent,
                                                         const nlohmann::json& args);
boost::asio::awaitable<nlohmann::json> rollback_verb(Agent::Impl& agent, const nlohmann::json&);

// Every verb, in the order help lists them (verbs.cpp).
const std::vector<Verb>& verbs();
const Verb* find_verb(std::string_view name);

struct Agent::Impl {
  Impl(runtime::Node& n, AgentOptions o);

  runtime::Node& node;
  AgentOptions options;
  boost::asio::any_io_executor executor;
  std::string prefix;  // psos/<system>/<node>/
  std::int64_t started_ms = 0;
  std::uint64_t boot = 0;
  std::string state = "init";
  bool stopping = false;
  std::unique_ptr<router::LocalClient> control;
  std::shared_ptr<bool> alive = std::make_shared<bool>(true);

  // $info: published at most once per loop turn however many services change at once.
  bool info_posted = false;
  // $log
  std::shared_ptr<LogTap> tap;
  LogBuffer buffer;
  bool log_posted = false;
  spdlog::level::level_enum local_level = spdlog::level::info;   // standard error
  spdlog::level::level_enum remote_level = spdlog::level::info;  // $log, the node's records
  std::map<std::string, spdlog::level::level_enum, std::less<>> service_levels;
  // $metrics
  CpuMeter cpu;
  std::unique_ptr<boost::asio::steady_timer> metrics_timer;
  unsigned metrics_generation = 0;
  // Requests
  std::unique_ptr<RequestGate> gate;
  std::uint64_t accepted = 0;
  std::array<std::uint64_t, kRefusalCodeCount> refused{};
  std::uint64_t failed = 0;  // accepted, then the verb failed

  std::int64_t now_ms() const;
  bool uplink_connected();

  // Presence and $info (agent.cpp).
  void publish_state(std::string_view new_state);
  void schedule_info();
  nlohmann::json info_json();
  nlohmann::json service_json(runtime::Service& service);
  // $log (agent.cpp).
  void attach_log(spdlog::logger& logger);
  void apply_levels(runtime::Service& service);
  void schedule_log();
  void flush_log();
  spdlog::level::level_enum remote_level_of(std::string_view service) const;
  // $metrics (agent.cpp).
  boost::asio::awaitable<void> metrics_loop();
  nlohmann::json metrics_json();
  // Requests (agent.cpp).
  void on_control_message(const router::MessagePtr& message, const router::Delivery& delivery);
  boost::asio::awaitable<void> execute(Accepted accepted, router::MessagePtr message);
  void reply(const router::Message& request, const std::optional<std::string>& reply_topic,
             std::string payload);

  // Deploys (deploy.cpp): the transfer in progress, the revisions kept in the state directory.
  std::shared_ptr<Deployer> deployer;
  void start_deploys();
  // A message on psos/<system>/<node>/$deploy/...: true when it was one of the deployer's.
  bool on_deploy_message(const router::MessagePtr& message);

  // conf (conf.cpp).
  boost::asio::awaitable<nlohmann::json> conf(const nlohmann::json& args);
  // eval (eval.cpp): one Lua state for the node, made on first use.
  std::unique_ptr<script::Sandbox> lua;
  nlohmann::json eval(const std::string& code);
};

}  // namespace psos::control
