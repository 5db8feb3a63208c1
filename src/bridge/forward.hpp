// The forwarding core shared by the uplink (uplink.hpp: a node's whole router joined to another
// broker) and the `bridge` module (chosen topics, with a prefix, to a second broker): what
// leaves the node, what comes in, and the one scheme that keeps a message from looping. No I/O:
// the callers own the router session and the client::Client; this decides per message.
//
// Loop prevention, one scheme for both:
// 1. No Local on both sides. The node-side session subscribes with No Local, so what the
//    forwarder publishes into the router does not come back to it; the remote subscriptions
//    ask for No Local (v5), so what it publishes there does not come back either.
// 2. Via (v5): every message forwarded, in either direction, carries the user property
//    "psos-bridge" with the forwarder's client id, and a forwarder forwards nothing that
//    already carries its own id. A message going round a cycle of brokers and forwarders stops
//    at the first forwarder it passes a second time.
// 3. Echo (v3.1.1, which has neither No Local nor properties): what is sent out and matches one
//    of the forwarder's own remote subscriptions is remembered by content for a minute, and the
//    first copy that comes back is dropped.
// Beside loops, one copy in per message: a broker may send one copy per matching subscription
// (Mosquitto does) or one with every identifier. Each remote subscription gets a v5
// Subscription Identifier; the copy carrying the lowest identifier that matches is taken.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "mqtt/message.hpp"

namespace psos::bridge {

using Message = mqtt::Message;
using Clock = std::chrono::steady_clock;

// The user property of rule 2, valued with the forwarder's client id.
inline constexpr std::string_view kVia = "psos-bridge";

struct ForwardStats {
  std::uint64_t sent = 0;        // messages handed out to the remote broker
  std::uint64_t received = 0;    // messages from the remote broker taken into the node
  std::uint64_t duplicates = 0;  // remote copies dropped (overlapping subscriptions)
  std::uint64_t echoes = 0;      // our own messages coming back (v3.1.1) dropped
  std::uint64_t loops = 0;       // messages that carried our own id (rule 2) dropped
  std::uint64_t refused = 0;     // publishes the client refused (queue full, too large)
};

class Forwarder {
 public:
  // `id`: the client id at the remote broker (rule 2). `prefix`: put before a topic going out
  // and taken off one coming in ("" for the uplink). `v5`: the remote session's version.
  Forwarder(std::string id, std::string prefix, bool v5);

  // The remote filter for a node-side filter (`$share/g/f` becomes `$share/g/<prefix>f`).
  std::string remote_filter(std::string_view filter) const;
  // A remote subscription is made for `remote` (a remote_filter()): its Subscription Identifier
  // (0 for v3.1.1, which has none). Filters are counted: a second add() returns the first's id.
  std::uint32_t add(const std::string& remote);
  // One add() of `remote` is undone; true when it was the last (unsubscribe remotely).
  bool remove(const std::string& remote);
  // Remote filters with how many add()s are behind each.
  const std::map<std::string, std::size_t>& counts() const noexcept { return counts_; }

  // What a message of the node becomes out there, or nothing when it must not leave (a local
  // message, or one that carries our id). `qos`: forced, else as published.
  std::optional<Message> outgoing(const Message& m, std::optional<mqtt::QoS> qos,
                                  Clock::time_point now);
  // What a message from the remote broker becomes in the node, or nothing when it is dropped
  // (a second copy, an echo, a loop, or a topic outside the prefix or the subscriptions).
  std::optional<Message> incoming(const Message& m, Clock::time_point now);

  // The client refused a publish: counted; true when worth a log line (the first, then at most
  // one per 10 s, so that a log that goes out itself, `$log`, does not feed on its refusals).
  bool refused(Clock::time_point now);

  const ForwardStats& stats() const noexcept { return stats_; }
  const std::string& id() const noexcept { return id_; }

 private:
  bool carries_via(const Message& m) const;
  // The lowest identifier of a subscription that matches `topic` (0: none matches).
  std::uint32_t lowest_match(std::string_view topic) const;
  bool is_echo(const Message& m, Clock::time_point now);

  std::string id_;
  std::string prefix_;
  bool v5_;
  std::map<std::string, std::size_t> counts_;
  std::map<std::string, std::uint32_t> identifiers_;
  std::uint32_t next_identifier_ = 1;
  struct Sent {
    std::size_t hash;
    Clock::time_point at;
  };
  std::deque<Sent> sent_;  // rule 3
  ForwardStats stats_;
  std::optional<Clock::time_point> last_refusal_report_;
};

}  // namespace psos::bridge
