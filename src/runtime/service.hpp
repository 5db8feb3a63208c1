// One running service: the module API (modules::Context) on an in-process router session, with
// the inbox, timers and stop signal the supervisor uses.
#pragma once

#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/steady_timer.hpp>
#include <deque>
#include <filesystem>
#include <memory>
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

class Service final : public modules::Context {
 public:
  Service(router::Router& router, boost::asio::any_io_executor executor, std::string system,
          std::string node, system::ServiceDefinition definition, std::filesystem::path state_root);
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

  // ---- for the supervisor ----
  const system::ServiceDefinition& definition() const noexcept { return definition_; }
  ServiceStatus status = ServiceStatus::Starting;
  unsigned restarts = 0;
  std::string last_error;
  // Asks run() to end: pending next()/sleep() throw operation_aborted.
  void request_stop();
  bool stopping() const noexcept { return stopping_; }
  boost::asio::cancellation_signal& cancel() noexcept { return cancel_; }
  // Clears what a failed run() left (subscriptions, inbox) before the next run.
  void reset();
  // Set around every resumption of the service's code, for the blocked-loop report.
  static Service* last_resumed;

 private:
  void check_stop() const;

  boost::asio::any_io_executor executor_;
  std::string system_;
  std::string node_;
  system::ServiceDefinition definition_;
  std::filesystem::path state_root_;
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
