// A node: the router, its listeners, the uplink and the services of one node of a definition,
// with the supervisor (restart with backoff, failed after repeated failures), the blocked-loop
// report, the $state and $info control topics and a clean stop in reverse start order.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "system/definition.hpp"

namespace psos::runtime {

struct NodeOptions {
  system::NodeDefinition definition;
  // Replace the definition's listeners / uplink when given (psos run --listen / --uplink).
  std::vector<std::string> listen;
  std::optional<std::string> uplink_url;
  // Router persistence (--data) and services' state directories (DIR/services/NAME). Empty:
  // the router keeps its state in memory and services get .psos/<system>/<node>/services/NAME.
  std::filesystem::path data_dir;
  std::string definition_hash;  // reported in $info
  // exec services run commands on this machine: refused unless the node's own configuration
  // allows it (psos run --allow-exec), never by the definition, which may come from elsewhere.
  bool allow_exec = false;
  // How long stop() gives the services to end before it abandons them.
  std::chrono::milliseconds stop_deadline{5000};
};

// The embedded default (DESIGN.md): a node with neither an uplink nor listeners listens here.
inline constexpr const char* kDefaultListener = "mqtt://127.0.0.1:1883";

class Node {
 public:
  Node(boost::asio::any_io_executor executor, NodeOptions options);
  ~Node();
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  // Opens the listeners, joins the uplink and starts the services. Returns what went wrong
  // ("cannot listen on 127.0.0.1:1883: address already in use — ..."), empty on success.
  std::string start();
  // Stops services in reverse start order (each given the deadline), publishes $state stopped,
  // leaves the uplink with a clean DISCONNECT and closes the listeners.
  boost::asio::awaitable<void> stop();

  // What `psos run` prints on start: listeners, uplink, services with their topics.
  std::string summary() const;
  // The listeners' bound URLs (port 0 resolved).
  std::vector<std::string> listening() const;
  // "psos/<system>/<node>/": the control plane's prefix.
  std::string control_prefix() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace psos::runtime
