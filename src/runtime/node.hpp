// A node: the router, its listeners, the uplink and the services of one node of a definition,
// with the supervisor (restart with backoff, failed after repeated failures), the blocked-loop
// report and a clean stop in reverse start order. What the control plane (control/) reads and
// does — services started, stopped and replaced one at a time, the loop's lag, the uplink's
// connections — is its public interface; the control topics themselves are control/'s.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "system/definition.hpp"

namespace psos::router {
class Router;
}  // namespace psos::router
namespace psos::bridge {
class Uplink;
}  // namespace psos::bridge

namespace psos::runtime {

class Service;

struct NodeOptions {
  system::NodeDefinition definition;
  // Replace the definition's listeners / uplink when given (psos run --listen / --uplink).
  std::vector<std::string> listen;
  std::optional<std::string> uplink_url;
  // Router persistence (--data) and the node's own files (DIR/services/NAME, conf overrides, the
  // boot counter). Empty: the router keeps its state in memory and the node's files go to
  // .psos/<system>/<node>/.
  std::filesystem::path data_dir;
  // exec services run commands on this machine: refused unless the node's own configuration
  // allows it (psos run --allow-exec), never by the definition, which may come from elsewhere.
  bool allow_exec = false;
  // How long stop() gives the services to end before it abandons them.
  std::chrono::milliseconds stop_deadline{5000};
  // The uplink's will: the control plane's `$state lost`. Empty topic: no will.
  std::string will_topic;
  std::string will_payload;
};

// The embedded default (DESIGN.md): a node with neither an uplink nor listeners listens here.
inline constexpr const char* kDefaultListener = "mqtt://127.0.0.1:1883";

// How late the event loop ran its probe timer over an interval: a service that computes for
// long shows here before anyone notices it elsewhere.
struct LoopLag {
  std::chrono::microseconds p50{0};
  std::chrono::microseconds p99{0};
  std::chrono::microseconds max{0};
  std::size_t samples = 0;
};

class Node {
 public:
  Node(boost::asio::any_io_executor executor, NodeOptions options);
  ~Node();
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  // Opens the listeners, joins the uplink and starts the services. Returns what went wrong
  // ("cannot listen on 127.0.0.1:1883: address already in use — ..."), empty on success.
  std::string start();
  // Stops the services in reverse start order (each given the deadline); the node's router,
  // listeners and uplink stay, so that the control plane can still say so.
  boost::asio::awaitable<void> stop_services();
  // Then leaves: lets the uplink send what it holds, disconnects it cleanly, closes the
  // listeners and the router.
  boost::asio::awaitable<void> leave();
  // Both.
  boost::asio::awaitable<void> stop();
  bool stopping() const noexcept;

  // What `psos run` prints on start: listeners, uplink, services with their topics.
  std::string summary() const;
  // The listeners' bound URLs (port 0 resolved).
  std::vector<std::string> listening() const;
  // "psos/<system>/<node>/": the control plane's prefix.
  std::string control_prefix() const;
  // Where the node keeps its own files: the data directory, or .psos/<system>/<node>/.
  const std::filesystem::path& state_dir() const noexcept;

  const system::NodeDefinition& definition() const noexcept;
  boost::asio::any_io_executor executor() const noexcept;
  router::Router& router() noexcept;
  // nullptr when the node has no uplink.
  bridge::Uplink* uplink() noexcept;
  // "lan (mqtt://...)", a URL, or "none".
  const std::string& uplink_name() const noexcept;

  // The services in start order (enabled ones).
  std::vector<Service*> services();
  Service* service(std::string_view name);
  // Starts a stopped, finished or failed service again (fresh state, counters kept). Returns
  // why not, empty on success.
  std::string start_service(std::string_view name);
  // Stops one service and waits for it (the stop deadline at most). Returns why not.
  boost::asio::awaitable<std::string> stop_service(std::string_view name);
  // Stops it and starts it again; with `replacement`, from that definition (its parameters
  // overridden), which it keeps. Returns why not.
  boost::asio::awaitable<std::string> restart_service(
      std::string_view name, std::optional<system::ServiceDefinition> replacement = std::nullopt);

  // Runs `after` (the same node, another revision of its definition) without stopping the node:
  // stops the services `after` no longer has and those named in `restart`, starts those in
  // `restart` from `after` and those new in `after`; the others keep running with their state.
  // Settings other than services, metrics and log levels take effect at the next start. Returns
  // why not (a module missing or not allowed, a service that did not stop), empty on success.
  boost::asio::awaitable<std::string> apply_definition(system::NodeDefinition after,
                                                       std::vector<std::string> restart);

  // Called after any service changes status (started, failed, restarting, stopped).
  void on_service_change(std::function<void(Service&)> handler);
  // Called when the uplink connects (true) or loses its connection (false).
  void on_uplink_state(std::function<void(bool connected)> handler);
  // The loop's lag since the last call.
  LoopLag take_loop_lag();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace psos::runtime
