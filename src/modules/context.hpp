// What a service's code sees of its node (the module API): its parameters, publish, subscribe with
// an inbox awaited with co_await, timers, a logger and a state directory. The runtime implements
// it on an in-process router session; a module is one coroutine `run(Context&)`.
#pragma once

#include <spdlog/logger.h>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "modules/spec.hpp"
#include "router/message.hpp"

namespace psos::modules {

class Context {
 public:
  virtual ~Context() = default;

  virtual const std::string& system() const = 0;
  virtual const std::string& node() const = 0;
  virtual const std::string& service() const = 0;
  virtual const Params& params() const = 0;

  // Publishes as this service: delivered to this node's subscribers and, unless the topic starts
  // with local/, to the uplink. Never blocks.
  virtual void publish(std::string_view topic, std::string_view payload,
                       mqtt::QoS qos = mqtt::QoS::AtMostOnce, bool retain = false) = 0;
  virtual void publish(router::Message message) = 0;

  // Adds a filter to the service's one inbox. Messages the service publishes itself are not
  // delivered back to it.
  virtual void subscribe(std::string_view filter) = 0;
  // The next message of the inbox, in arrival order. Throws (operation_aborted) when the service
  // is being stopped, which ends run() as it should.
  virtual boost::asio::awaitable<router::MessagePtr> next() = 0;
  virtual std::size_t pending() const = 0;

  // Waits; throws (operation_aborted) when the service is being stopped.
  virtual boost::asio::awaitable<void> sleep(std::chrono::milliseconds duration) = 0;
  virtual boost::asio::awaitable<void> sleep_until(std::chrono::system_clock::time_point when) = 0;

  // The service's logger: lines read "[service] message".
  virtual spdlog::logger& log() = 0;
  // A directory for the service's files (created on first use), kept across restarts.
  virtual std::filesystem::path state_dir() = 0;
  // The directory of the definition file: relative paths that parameters name (function's
  // file) are relative to it.
  virtual const std::filesystem::path& definition_dir() const = 0;
  virtual boost::asio::any_io_executor executor() = 0;

  // Makes one of the module's functions (ModuleSpec::functions) callable while run() runs, by
  // the control plane (`psos call`) and by Lua (`call()` in eval). The arguments arrive checked
  // against the function's spec, with defaults filled in. A handler runs on the node's loop and
  // returns the result as JSON, or throws std::exception with a message for the caller.
  // An async handler (for work that waits: a command, a query on a thread) must not use run()'s
  // locals after its first suspension, as the service may stop meanwhile: it captures what it
  // needs by value or shared_ptr. Lua can call only the synchronous ones.
  using Function = std::function<nlohmann::json(const nlohmann::json& args)>;
  using AsyncFunction =
      std::function<boost::asio::awaitable<nlohmann::json>(const nlohmann::json& args)>;
  virtual void provide(std::string_view function, Function handler) = 0;
  virtual void provide_async(std::string_view function, AsyncFunction handler) = 0;
  // A function the code defines at run time (function's Lua exports), described by `spec`:
  // listed by help and callable while the service runs. Defining a name again replaces it.
  // Throws std::invalid_argument for `status` or a name the module's spec declares.
  virtual void define_function(FunctionSpec spec, Function handler) = 0;
  // Forgets a function define_function defined (the code no longer offers it); nothing when
  // there is none of that name.
  virtual void remove_function(std::string_view function) = 0;
};

// A module's code: runs until the service stops (or returns when it has nothing more to do).
// Throwing marks a failure: the supervisor logs it and restarts the service with backoff.
using Run = boost::asio::awaitable<void> (*)(Context& context);

}  // namespace psos::modules
