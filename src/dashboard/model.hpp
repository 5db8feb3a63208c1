// What the dashboard knows about the system, fed by the messages it receives: every topic's
// latest message and rate, and the control plane's events (state, info, metrics, log) in a
// bounded ring. Pure (no I/O): messages in, JSON frames for the page out. Each WebSocket client
// keeps a Cursor into it, so a slow client costs a cursor, never a queue.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <unordered_map>

namespace psos::dashboard {

struct ModelLimits {
  std::size_t max_topics = 20'000;         // topics beyond are counted, not kept
  std::size_t max_payload = 4'096;         // bytes of a payload kept (and shown)
  std::size_t max_events = 2'000;          // control-plane events kept for clients behind
  std::size_t max_metrics_per_node = 360;  // an hour of $metrics at the default 10 s
  std::size_t max_logs_per_node = 300;     // log records kept per node for a new page
  std::size_t max_topics_per_frame = 500;  // topic updates sent to one client per frame
  std::size_t max_events_per_frame = 200;  // control-plane events sent to one client per frame
};

// Where one client is: what it has been sent.
struct Cursor {
  std::uint64_t topic_version = 0;  // topics changed after this are due
  std::uint64_t event_seq = 0;      // events after this are due
  bool snapshot_sent = false;
};

class Model {
 public:
  explicit Model(ModelLimits limits = {});

  // Takes one message received on the dashboard's subscriptions.
  void apply(std::string_view topic, std::string_view payload, bool retained, std::int64_t now_ms);
  // Recomputes every topic's rate (messages/s over the last window): call about once a second.
  void tick(std::int64_t now_ms);

  // The next frame for a client, or an empty object when nothing is due. A client that has
  // fallen behind the event ring gets a snapshot of the nodes again (its events were coalesced).
  // Bounded: at most max_topics_per_frame topics and max_events_per_frame events per frame.
  nlohmann::json next_frame(Cursor& cursor) const;
  // The nodes, their state, info, latest metrics, metrics history and recent logs.
  nlohmann::json snapshot() const;

  std::size_t topic_count() const noexcept { return topics_.size(); }
  std::uint64_t topics_dropped() const noexcept { return topics_dropped_; }
  std::uint64_t messages() const noexcept { return messages_; }

 private:
  struct Topic {
    std::string payload;   // at most max_payload bytes
    std::size_t size = 0;  // of the whole payload
    bool retained = false;
    std::uint64_t count = 0;         // messages since the dashboard started
    std::uint64_t window_count = 0;  // messages in the current rate window
    double rate = 0;                 // messages/s
    std::int64_t last_ms = 0;
    std::uint64_t version = 0;  // of the last change shown
  };
  struct Node {
    std::string state;
    nlohmann::json info;  // null before $info
    std::deque<nlohmann::json> metrics;
    std::deque<nlohmann::json> logs;
  };
  struct Event {
    std::uint64_t seq;
    nlohmann::json body;
  };

  void control(std::string_view system, std::string_view node, std::string_view kind,
               std::string_view payload, std::int64_t now_ms);
  void push_event(nlohmann::json body);
  nlohmann::json topic_json(const std::string& name, const Topic& t) const;
  static nlohmann::json node_json(const std::string& key, const Node& n, bool history);

  ModelLimits limits_;
  std::unordered_map<std::string, Topic> topics_;
  std::map<std::string, Node> nodes_;  // by "system/node"
  std::deque<Event> events_;
  std::uint64_t version_ = 0;
  std::uint64_t seq_ = 0;
  std::uint64_t topics_dropped_ = 0;
  std::uint64_t messages_ = 0;
  std::int64_t window_start_ms_ = 0;
};

// Payload text for JSON: valid UTF-8 kept, anything else shown as hex ("0x0a1b...").
std::string printable_payload(std::string_view payload);

}  // namespace psos::dashboard
