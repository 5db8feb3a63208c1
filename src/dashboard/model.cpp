// The dashboard's model (see model.hpp).
#include "dashboard/model.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include "mqtt/topic.hpp"

namespace psos::dashboard {

using nlohmann::json;

namespace {

// Cuts `s` to at most `max` bytes without splitting a UTF-8 character.
std::string_view cut(std::string_view s, std::size_t max) {
  if (s.size() <= max) return s;
  std::size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80)
    --n;
  return s.substr(0, n);
}

}  // namespace

std::string printable_payload(std::string_view payload) {
  if (mqtt::is_valid_utf8(payload)) return std::string(payload);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "0x";
  for (const char c : payload) {
    out += kHex[(static_cast<unsigned char>(c) >> 4) & 0xF];
    out += kHex[static_cast<unsigned char>(c) & 0xF];
  }
  return out;
}

Model::Model(ModelLimits limits) : limits_(limits) {}

void Model::apply(std::string_view topic, std::string_view payload, bool retained,
                  std::int64_t now_ms) {
  ++messages_;
  auto it = topics_.find(std::string(topic));
  if (it == topics_.end()) {
    if (topics_.size() >= limits_.max_topics) {
      ++topics_dropped_;
    } else {
      it = topics_.emplace(std::string(topic), Topic{}).first;
    }
  }
  if (it != topics_.end()) {
    Topic& t = it->second;
    t.payload.assign(cut(payload, limits_.max_payload));
    t.size = payload.size();
    t.retained = retained;
    ++t.count;
    ++t.window_count;
    t.last_ms = now_ms;
    t.version = ++version_;
  }
  // psos/<system>/<node>/$<kind>
  if (!topic.starts_with("psos/")) return;
  const std::string_view rest = topic.substr(5);
  const std::size_t a = rest.find('/');
  if (a == std::string_view::npos) return;
  const std::size_t b = rest.find('/', a + 1);
  if (b == std::string_view::npos || rest.find('/', b + 1) != std::string_view::npos) return;
  const std::string_view kind = rest.substr(b + 1);
  if (!kind.starts_with('$')) return;
  control(rest.substr(0, a), rest.substr(a + 1, b - a - 1), kind.substr(1), payload, now_ms);
}

void Model::control(std::string_view system, std::string_view node, std::string_view kind,
                    std::string_view payload, std::int64_t now_ms) {
  const std::string key = std::string(system) + "/" + std::string(node);
  if (kind == "state") {
    if (payload.empty() && !nodes_.contains(key)) return;
    Node& n = nodes_[key];
    n.state = printable_payload(cut(payload, 64));
    push_event({{"type", "node"}, {"node", node_json(key, n, false)}});
    return;
  }
  if (kind != "info" && kind != "metrics" && kind != "log") return;
  json value = json::parse(payload, nullptr, false);
  if (kind == "info") {
    if (payload.empty() && !nodes_.contains(key)) return;
    Node& n = nodes_[key];
    n.info = value.is_object() ? std::move(value) : json();
    push_event({{"type", "node"}, {"node", node_json(key, n, false)}});
    return;
  }
  if (!value.is_object()) return;  // not psos's: shown in the topic tree only
  Node& n = nodes_[key];
  if (kind == "metrics") {
    if (!value.contains("ts")) value["ts"] = now_ms;
    n.metrics.push_back(value);
    if (n.metrics.size() > limits_.max_metrics_per_node) n.metrics.pop_front();
    push_event({{"type", "metrics"}, {"node", key}, {"metrics", std::move(value)}});
  } else {
    n.logs.push_back(value);
    if (n.logs.size() > limits_.max_logs_per_node) n.logs.pop_front();
    push_event({{"type", "log"}, {"node", key}, {"record", std::move(value)}});
  }
}

void Model::push_event(json body) {
  events_.push_back({++seq_, std::move(body)});
  if (events_.size() > limits_.max_events) events_.pop_front();
}

void Model::tick(std::int64_t now_ms) {
  if (window_start_ms_ == 0) {
    window_start_ms_ = now_ms;
    return;
  }
  const double seconds = static_cast<double>(now_ms - window_start_ms_) / 1000.0;
  if (seconds <= 0) return;
  for (auto& [name, t] : topics_) {
    const double rate = static_cast<double>(t.window_count) / seconds;
    if (rate != t.rate) {
      t.rate = rate;
      t.version = ++version_;
    }
    t.window_count = 0;
  }
  window_start_ms_ = now_ms;
}

json Model::topic_json(const std::string& name, const Topic& t) const {
  return {
      {"t", name},    {"p", printable_payload(t.payload)},    {"size", t.size}, {"r", t.retained},
      {"n", t.count}, {"rate", std::round(t.rate * 10) / 10}, {"ts", t.last_ms}};
}

json Model::node_json(const std::string& key, const Node& n, bool history) {
  json j = {{"id", key}, {"state", n.state}, {"info", n.info}};
  if (history) {
    j["metrics"] = json::array();
    for (const json& m : n.metrics)
      j["metrics"].push_back(m);
    j["logs"] = json::array();
    for (const json& l : n.logs)
      j["logs"].push_back(l);
  } else if (!n.metrics.empty()) {
    j["latest"] = n.metrics.back();
  }
  return j;
}

json Model::snapshot() const {
  json nodes = json::array();
  for (const auto& [key, n] : nodes_)
    nodes.push_back(node_json(key, n, true));
  return nodes;
}

json Model::next_frame(Cursor& cursor) const {
  json frame = json::object();
  const bool behind =
      !events_.empty() && cursor.event_seq + 1 < events_.front().seq && cursor.snapshot_sent;
  if (!cursor.snapshot_sent || behind) {
    frame["snapshot"] = snapshot();
    cursor.snapshot_sent = true;
    cursor.event_seq = seq_;
  } else {
    json events = json::array();
    auto it = std::lower_bound(events_.begin(), events_.end(), cursor.event_seq + 1,
                               [](const Event& e, std::uint64_t s) { return e.seq < s; });
    for (; it != events_.end() && events.size() < limits_.max_events_per_frame; ++it) {
      events.push_back(it->body);
      cursor.event_seq = it->seq;
    }
    if (!events.empty()) frame["events"] = std::move(events);
  }
  std::vector<std::pair<std::uint64_t, const std::string*>> due;
  for (const auto& [name, t] : topics_)
    if (t.version > cursor.topic_version) due.emplace_back(t.version, &name);
  if (!due.empty()) {
    const std::size_t n = std::min(due.size(), limits_.max_topics_per_frame);
    std::partial_sort(due.begin(), due.begin() + static_cast<std::ptrdiff_t>(n), due.end());
    json topics = json::array();
    for (std::size_t i = 0; i < n; ++i)
      topics.push_back(topic_json(*due[i].second, topics_.at(*due[i].second)));
    cursor.topic_version = due[n - 1].first;
    frame["topics"] = std::move(topics);
  }
  return frame;
}

}  // namespace psos::dashboard
