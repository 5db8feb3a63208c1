// What the broker says about nodes: each node's retained psos/<system>/<node>/$state and $info
// and its latest $metrics, folded into one status per node, as `psos nodes` shows them. Pure
// (no I/O): messages in, statuses out.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>

namespace psos::control {

struct NodeStatus {
  std::string system;
  std::string node;
  std::string state;            // $state: init, ready, stopped, lost; "" before one is known
  std::string version;          // $info "version"; "" before one is known
  std::int64_t started_ms = 0;  // $info "started" (epoch ms); 0 unknown
  int services_running = 0;     // $info services whose status is "running"
  int services_total = 0;
  bool has_info = false;
  // The newest time the node is known to have said something (epoch ms; 0 unknown): when a
  // message arrived live, or what a retained one tells ($info's start times; $metrics' ts).
  std::int64_t last_seen_ms = 0;
};

class NodeDirectory {
 public:
  enum class Change {
    none,   // not a node's $state/$info/$metrics, or nothing new
    seen,   // only last_seen_ms moved
    shown,  // state, version or services changed, or the node appeared or went away
  };

  // Takes one message. `retained`: it was retained (sent when subscribing), so its arrival
  // time says nothing of when the node published it. An empty $state and $info (both cleared)
  // removes the node.
  Change apply(std::string_view topic, std::string_view payload, bool retained,
               std::int64_t received_ms);

  // By system, then node.
  const std::map<std::pair<std::string, std::string>, NodeStatus>& nodes() const noexcept {
    return nodes_;
  }

 private:
  std::map<std::pair<std::string, std::string>, NodeStatus> nodes_;
};

}  // namespace psos::control
