// One running service: the module API (modules::Context) on an in-process router session, with
// the inbox, timers and stop signal the supervisor uses.
#pragma once

#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/steady_timer.hpp>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>

#include "modules/context.hpp"
#include "router/local_client.hpp"
#include "system/definition.hpp"

namespace psos::runtime {

enum class ServiceStatus : std::uint8_t {
  Starting,
  Running,
  Restarting,
  Finished,
  Failed,
  Stopped
};
std::string_view to_string(ServiceStatus status) noexcept;

// Why a function call could not be made or failed: a stable code for programs ("not_running",
// "unknown_function", "failed", ...) and a message for people.
class CallError : public std::runtime_error {
 public:
  CallError(std::string code, const std::string& message)
      : std::runtime_error(message), code_(std::move(code)) {}
  const std::string& code() const noexcept { return code_; }

 private:
  std::string code_;
};

// What a service has done since the node started (restarts do not reset it).
struct ServiceCounters {
  std::uint64_t messages_in = 0;   // delivered to its inbox
  std::uint64_t messages_out = 0;  // published
  std::uint64_t errors = 0;        // error records in its log, failures included
};

class Service final : public modules::Context {
 public:
  Service(router::Router& router, boost::asio::any_io_executor executor, std::string system,
          std::string node, system::ServiceDefinition definition, const modules::ModuleSpec& spec,
          std::filesystem::path state_root);
  ~Service() override;

  // ---- modules::Context ----
  const std::string& system() const override { return system_; }
  const std::string& node() const override { return node_; }
  const std::string& service() const override { return definition_.name; }
  const modules::Params& params() const override { return definition_.params; }
  void publish(std::string_view topic, std::string_view payload, mqtt::QoS qos,
               bool retain) override;
  void publish(router::Message message) override;
  void subscribe(std::string_view filter) override;
  boost::asio::awaitable<router::MessagePtr> next() override;
  std::size_t pending() const override { return inbox_.size(); }
  boost::asio::awaitable<void> sleep(std::chrono::milliseconds duration) override;
  boost::asio::awaitable<void> sleep_until(std::chrono::system_clock::time_point when) override;
  spdlog::logger& log() override { return *log_; }
  std::filesystem::path state_dir() override;
  const std::filesystem::path& definition_dir() const override { return definition_.directory; }
  boost::asio::any_io_executor executor() override { return executor_; }
  void provide(std::string_view function, Function handler) override;
  void provide_async(std::string_view function, AsyncFunction handler) override;
  void define_function(modules::FunctionSpec spec, Function handler) override;
  void remove_function(std::string_view function) override;

  // ---- for the supervisor ----
  const system::ServiceDefinition& definition() const noexcept { return definition_; }
  const modules::ModuleSpec& spec() const noexcept { return spec_; }
  ServiceStatus status = ServiceStatus::Starting;
  unsigned restarts = 0;
  std::string last_error;
  std::int64_t started_ms = 0;  // epoch ms of the last start of run()
  ServiceCounters counters;

  // The spec of a function of this service: `status`, one its module declares, or one its code
  // defined; nullptr when there is none of that name.
  const modules::FunctionSpec* function_spec(std::string_view function) const;
  // Every function: `status`, the module's, then those the running code defined.
  std::vector<const modules::FunctionSpec*> function_specs() const;
  // Calls a function with arguments already checked against its spec. Throws CallError.
  boost::asio::awaitable<nlohmann::json> call(std::string_view function, nlohmann::json args);
  // The same, for a synchronous handler only (Lua calls this way): "async" CallError otherwise.
  nlohmann::json call_now(std::string_view function, const nlohmann::json& args);
  // The functions callable now (`status` and those the running code provides).
  std::vector<std::string> functions() const;
  // `status`'s result.
  nlohmann::json status_json() const;
  // Forgets the handlers of the run that ended (they may refer to its frame).
  void forget_functions() {
    functions_.clear();
    defined_.clear();
  }
  // Asks run() to end: pending next()/sleep() throw operation_aborted.
  void request_stop();
  bool stopping() const noexcept { return stopping_; }
  boost::asio::cancellation_signal& cancel() noexcept { return cancel_; }
  // Clears what a failed run() left (subscriptions, inbox) before the next run.
  void reset();
  // Set around every resumption of the service's code, for the blocked-loop report and the
  // crash record; cleared when that service goes.
  static Service* last_resumed;
  // The same, but cleared while that service waits in next() or sleep(): the service whose code
  // is running now, for a crash record (null: the node's own code, or the loop idle). A module
  // that waits on something else still counts as running until its next next() or sleep().
  static Service* running;
  // Sinks every service's logger gets besides standard output (the black box's).
  static std::vector<std::shared_ptr<spdlog::sinks::sink>> log_sinks;

 private:
  void check_stop() const;

  boost::asio::any_io_executor executor_;
  std::string system_;
  std::string node_;
  system::ServiceDefinition definition_;
  const modules::ModuleSpec& spec_;
  std::filesystem::path state_root_;
  struct Handler {
    Function sync;
    AsyncFunction async;
  };
  // The handler of `function`, after checking it can be called now. Throws CallError.
  const Handler& handler(std::string_view function) const;
  std::map<std::string, Handler, std::less<>> functions_;
  std::map<std::string, modules::FunctionSpec, std::less<>> defined_;  // by the running code
  std::shared_ptr<spdlog::logger> log_;
  std::unique_ptr<router::LocalClient> session_;
  router::Router& router_;
  std::deque<router::MessagePtr> inbox_;
  boost::asio::steady_timer wake_;
  boost::asio::steady_timer timer_;
  boost::asio::cancellation_signal cancel_;
  bool stopping_ = false;
};

}  // namespace psos::runtime
