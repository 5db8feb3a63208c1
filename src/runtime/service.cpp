// The module API on a router session (see service.hpp).
#include "runtime/service.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace psos::runtime {

namespace asio = boost::asio;
namespace {
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
}

Service* Service::last_resumed = nullptr;
Service* Service::running = nullptr;
std::vector<std::shared_ptr<spdlog::sinks::sink>> Service::log_sinks;

std::string_view to_string(ServiceStatus status) noexcept {
  switch (status) {
    case ServiceStatus::Starting:
      return "starting";
    case ServiceStatus::Running:
      return "running";
    case ServiceStatus::Restarting:
      return "restarting";
    case ServiceStatus::Finished:
      return "finished";
    case ServiceStatus::Failed:
      return "failed";
    case ServiceStatus::Stopped:
      return "stopped";
  }
  return "?";
}

Service::Service(router::Router& router, asio::any_io_executor executor, std::string system,
                 std::string node, system::ServiceDefinition definition,
                 const modules::ModuleSpec& spec, std::filesystem::path state_root)
    : executor_(executor),
      system_(std::move(system)),
      node_(std::move(node)),
      definition_(std::move(definition)),
      spec_(spec),
      state_root_(std::move(state_root)),
      router_(router),
      wake_(executor),
      timer_(executor) {
  // Services share one sink whose lines name the service; the default logger's sinks keep their
  // own pattern.
  static const auto sink = [] {
    auto s = std::make_shared<spdlog::sinks::stdout_color_sink_mt>();
    s->set_pattern("[%Y-%m-%d %H:%M:%S.%e] [%^%l%$] [%n] %v");
    return s;
  }();
  log_ = std::make_shared<spdlog::logger>(definition_.name, sink);
  for (const auto& extra : log_sinks)
    log_->sinks().push_back(extra);
  log_->set_level(spdlog::default_logger()->level());
  reset();
}

Service::~Service() {
  // The loop watch names the service that last ran: never one that is gone (a deploy removes
  // services, a restart replaces them).
  if (last_resumed == this) last_resumed = nullptr;
  if (running == this) running = nullptr;
}

void Service::reset() {
  inbox_.clear();
  session_.reset();
  session_ = std::make_unique<router::LocalClient>(
      router_, executor_, "psos:" + node_ + ":" + definition_.name,
      [this](const router::MessagePtr& m, const router::Delivery&) {
        ++counters.messages_in;
        inbox_.push_back(m);
        wake_.cancel();
      });
}

void Service::check_stop() const {
  if (stopping_) throw boost::system::system_error(asio::error::operation_aborted);
}

void Service::request_stop() {
  stopping_ = true;
  wake_.cancel();
  timer_.cancel();
  cancel_.emit(asio::cancellation_type::terminal);
}

void Service::publish(std::string_view topic, std::string_view payload, mqtt::QoS qos,
                      bool retain) {
  ++counters.messages_out;
  session_->publish(topic, payload, qos, retain);
}

void Service::publish(router::Message message) {
  ++counters.messages_out;
  session_->publish(std::move(message));
}

void Service::subscribe(std::string_view filter) {
  session_->subscribe(filter, /*no_local=*/true);
}

asio::awaitable<router::MessagePtr> Service::next() {
  while (inbox_.empty()) {
    check_stop();
    wake_.expires_at(asio::steady_timer::time_point::max());
    running = nullptr;
    co_await wake_.async_wait(use_tuple);
    last_resumed = running = this;
  }
  check_stop();
  router::MessagePtr m = std::move(inbox_.front());
  inbox_.pop_front();
  co_return m;
}

asio::awaitable<void> Service::sleep(std::chrono::milliseconds duration) {
  check_stop();
  timer_.expires_after(duration);
  running = nullptr;
  co_await timer_.async_wait(use_tuple);
  last_resumed = running = this;
  check_stop();
}

asio::awaitable<void> Service::sleep_until(std::chrono::system_clock::time_point when) {
  const auto left = when - std::chrono::system_clock::now();
  co_await sleep(std::max(std::chrono::milliseconds(0),
                          std::chrono::duration_cast<std::chrono::milliseconds>(left)));
}

std::filesystem::path Service::state_dir() {
  const auto dir = state_root_ / definition_.name;
  std::filesystem::create_directories(dir);
  return dir;
}

void Service::provide(std::string_view function, Function handler) {
  if (!spec_.function(function))
    throw std::logic_error("module " + spec_.name + " provides function " + std::string(function) +
                           ", which its spec does not declare");
  functions_.insert_or_assign(std::string(function), Handler{.sync = std::move(handler)});
}

void Service::provide_async(std::string_view function, AsyncFunction handler) {
  if (!spec_.function(function))
    throw std::logic_error("module " + spec_.name + " provides function " + std::string(function) +
                           ", which its spec does not declare");
  functions_.insert_or_assign(std::string(function), Handler{.async = std::move(handler)});
}

void Service::define_function(modules::FunctionSpec spec, Function handler) {
  const std::string name = spec.name;
  if (name == "status" || spec_.function(name))
    throw std::invalid_argument("function " + name + " is already one of module " + spec_.name +
                                "'s: choose another name");
  defined_.insert_or_assign(name, std::move(spec));
  functions_.insert_or_assign(name, Handler{.sync = std::move(handler)});
}

void Service::remove_function(std::string_view function) {
  const auto it = defined_.find(function);
  if (it == defined_.end()) return;
  defined_.erase(it);
  if (const auto handler = functions_.find(function); handler != functions_.end())
    functions_.erase(handler);
}

const modules::FunctionSpec* Service::function_spec(std::string_view function) const {
  if (function == "status") return &modules::status_function();
  if (const modules::FunctionSpec* f = spec_.function(function)) return f;
  const auto it = defined_.find(function);
  return it == defined_.end() ? nullptr : &it->second;
}

std::vector<const modules::FunctionSpec*> Service::function_specs() const {
  std::vector<const modules::FunctionSpec*> all = {&modules::status_function()};
  for (const modules::FunctionSpec& f : spec_.functions)
    all.push_back(&f);
  for (const auto& [name, f] : defined_)
    all.push_back(&f);
  return all;
}

std::vector<std::string> Service::functions() const {
  std::vector<std::string> names = {"status"};
  for (const auto& [name, handler] : functions_)
    names.push_back(name);
  return names;
}

nlohmann::json Service::status_json() const {
  return {{"name", definition_.name},
          {"module", definition_.module},
          {"status", to_string(status)},
          {"restarts", restarts},
          {"started", started_ms},
          {"error", last_error},
          {"params", definition_.params.all()},
          {"messages_in", counters.messages_in},
          {"messages_out", counters.messages_out},
          {"errors", counters.errors},
          {"pending", inbox_.size()}};
}

const Service::Handler& Service::handler(std::string_view function) const {
  if (!function_spec(function)) {
    std::string known;
    for (const modules::FunctionSpec* f : function_specs())
      known += (known.empty() ? "" : ", ") + f->name;
    throw CallError("unknown_function", "service " + definition_.name + " (module " + spec_.name +
                                            ") has no function " + std::string(function) +
                                            " (functions: " + known + ")");
  }
  if (status != ServiceStatus::Running)
    throw CallError("not_running", "service " + definition_.name + " is " +
                                       std::string(to_string(status)) +
                                       ": its functions work while it runs");
  const auto it = functions_.find(function);
  if (it == functions_.end())
    throw CallError("unavailable", "service " + definition_.name + " does not offer " +
                                       std::string(function) + " at the moment");
  return it->second;
}

nlohmann::json Service::call_now(std::string_view function, const nlohmann::json& args) {
  if (function == "status") return status_json();
  // A copy: the handler may replace or forget itself while it runs.
  const Handler h = handler(function);
  if (!h.sync)
    throw CallError("async", "function " + std::string(function) + " of service " +
                                 definition_.name +
                                 " waits for its result: call it with psos call");
  // The function's code runs now, called by another service or the control plane: a crash or a
  // watchdog abort in it names this service.
  struct Running {
    Service* before = running;
    explicit Running(Service* s) { running = s; }
    ~Running() { running = before; }
    Running(const Running&) = delete;
    Running& operator=(const Running&) = delete;
  } guard(this);
  try {
    return h.sync(args);
  } catch (const CallError&) {
    throw;
  } catch (const std::exception& e) {
    throw CallError("failed", e.what());
  }
}

asio::awaitable<nlohmann::json> Service::call(std::string_view function, nlohmann::json args) {
  if (function == "status") co_return status_json();
  const Handler h = handler(function);
  if (h.sync) co_return call_now(function, args);
  try {
    co_return co_await h.async(args);
  } catch (const CallError&) {
    throw;
  } catch (const std::exception& e) {
    throw CallError("failed", e.what());
  }
}

}  // namespace psos::runtime
