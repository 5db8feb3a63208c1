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
                 std::filesystem::path state_root)
    : executor_(executor),
      system_(std::move(system)),
      node_(std::move(node)),
      definition_(std::move(definition)),
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
  log_->set_level(spdlog::default_logger()->level());
  reset();
}

Service::~Service() = default;

void Service::reset() {
  inbox_.clear();
  session_.reset();
  session_ = std::make_unique<router::LocalClient>(
      router_, executor_, "psos:" + node_ + ":" + definition_.name,
      [this](const router::MessagePtr& m, const router::Delivery&) {
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
  session_->publish(topic, payload, qos, retain);
}

void Service::publish(router::Message message) {
  session_->publish(std::move(message));
}

void Service::subscribe(std::string_view filter) {
  session_->subscribe(filter, /*no_local=*/true);
}

asio::awaitable<router::MessagePtr> Service::next() {
  while (inbox_.empty()) {
    check_stop();
    wake_.expires_at(asio::steady_timer::time_point::max());
    co_await wake_.async_wait(use_tuple);
    last_resumed = this;
  }
  check_stop();
  router::MessagePtr m = std::move(inbox_.front());
  inbox_.pop_front();
  co_return m;
}

asio::awaitable<void> Service::sleep(std::chrono::milliseconds duration) {
  check_stop();
  timer_.expires_after(duration);
  co_await timer_.async_wait(use_tuple);
  last_resumed = this;
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

}  // namespace psos::runtime
