// Folding nodes' $state, $info and $metrics into statuses (see node_directory.hpp).
#include "control/node_directory.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

namespace psos::control {

using nlohmann::json;

namespace {

// psos/<system>/<node>/<what>: the three levels, or false for any other topic.
bool split_topic(std::string_view topic, std::string_view& system, std::string_view& node,
                 std::string_view& what) {
  if (!topic.starts_with("psos/")) return false;
  topic.remove_prefix(5);
  const std::size_t a = topic.find('/');
  if (a == std::string_view::npos) return false;
  const std::size_t b = topic.find('/', a + 1);
  if (b == std::string_view::npos || topic.find('/', b + 1) != std::string_view::npos) return false;
  system = topic.substr(0, a);
  node = topic.substr(a + 1, b - a - 1);
  what = topic.substr(b + 1);
  return true;
}

std::int64_t integer(const json& object, const char* name) {
  const auto it = object.find(name);
  return it != object.end() && it->is_number_integer() ? it->get<std::int64_t>() : 0;
}

}  // namespace

NodeDirectory::Change NodeDirectory::apply(std::string_view topic, std::string_view payload,
                                           bool retained, std::int64_t received_ms) {
  std::string_view system, node, what;
  if (!split_topic(topic, system, node, what)) return Change::none;
  if (what != "$state" && what != "$info" && what != "$metrics") return Change::none;
  const auto key = std::make_pair(std::string(system), std::string(node));
  auto it = nodes_.find(key);
  if (it == nodes_.end()) {
    // A cleared retained message, or metrics, of a node not known: nothing to show.
    if (payload.empty() || what == "$metrics") return Change::none;
    it = nodes_.emplace(key, NodeStatus{.system = key.first, .node = key.second}).first;
  }
  NodeStatus& s = it->second;
  const NodeStatus before = s;
  const bool appeared = s.state.empty() && !s.has_info;

  if (what == "$state") {
    s.state = std::string(payload);
  } else if (what == "$info") {
    const json info = json::parse(payload, nullptr, false);
    if (payload.empty() || !info.is_object()) {
      s.has_info = false;
      s.version.clear();
      s.started_ms = 0;
      s.services_running = s.services_total = 0;
    } else {
      s.has_info = true;
      s.version = info.value("version", "");
      s.started_ms = integer(info, "started");
      s.services_running = s.services_total = 0;
      std::int64_t newest = s.started_ms;
      if (const auto services = info.find("services");
          services != info.end() && services->is_array()) {
        for (const json& service : *services) {
          if (!service.is_object()) continue;
          ++s.services_total;
          if (service.value("status", "") == "running") ++s.services_running;
          newest = std::max(newest, integer(service, "started"));
        }
      }
      if (retained) s.last_seen_ms = std::max(s.last_seen_ms, newest);
    }
  } else {
    const json metrics = json::parse(payload, nullptr, false);
    if (retained && metrics.is_object())
      s.last_seen_ms = std::max(s.last_seen_ms, integer(metrics, "ts"));
  }
  if (!retained) s.last_seen_ms = std::max(s.last_seen_ms, received_ms);

  if (s.state.empty() && !s.has_info) {
    nodes_.erase(it);
    return appeared ? Change::none : Change::shown;
  }
  if (appeared || s.state != before.state || s.version != before.version ||
      s.services_running != before.services_running || s.services_total != before.services_total)
    return Change::shown;
  return s.last_seen_ms != before.last_seen_ms || s.started_ms != before.started_ms ? Change::seen
                                                                                    : Change::none;
}

}  // namespace psos::control
