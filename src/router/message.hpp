// A published application message as the router keeps it: owned, immutable once made, and
// shared by every session it is delivered to (MessagePtr), never copied per subscriber.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "mqtt/packets.hpp"

namespace psos::router {

using Clock = std::chrono::steady_clock;
using SessionId = std::uint64_t;

struct Message {
  std::string topic;
  std::string payload;
  mqtt::QoS qos = mqtt::QoS::AtMostOnce;
  bool retain = false;
  // v5 properties that travel with the message, passed through unchanged (spec 3.3.2.3).
  std::optional<std::uint8_t> payload_format_indicator;
  std::optional<std::uint32_t> message_expiry_interval;  // seconds, as published
  std::optional<std::string> content_type;
  std::optional<std::string> response_topic;
  std::optional<std::string> correlation_data;
  std::vector<std::pair<std::string, std::string>> user_properties;
  Clock::time_point received{};  // when the router got it: the start of its expiry interval
  SessionId origin = 0;          // the publishing session (for No Local); 0 = the router itself
  // Published to `local/<topic>` (RouterOptions::local_prefix): delivered on this node only,
  // never sent to an uplink.
  bool local = false;

  // Bytes this message holds, for queue limits.
  std::size_t footprint() const noexcept;
  // Seconds left before expiry (nullopt: never expires); 0 means expired.
  std::optional<std::uint32_t> remaining_expiry(Clock::time_point now) const noexcept;
  bool expired(Clock::time_point now) const noexcept {
    const auto left = remaining_expiry(now);
    return left && *left == 0;
  }
};

using MessagePtr = std::shared_ptr<const Message>;

// Takes a decoded PUBLISH (whose views die with the input buffer) into an owned message.
// `topic` is the effective topic (the PUBLISH's own, or the one its Topic Alias stands for).
MessagePtr make_message(const mqtt::Publish& publish, std::string_view topic, SessionId origin,
                        Clock::time_point now);

// Fills `out` to send `message` (views into it): topic, payload and properties; the caller sets
// QoS, packet id, DUP, retain, subscription identifiers and topic alias. The Message Expiry
// Interval sent is the time left (spec 3.3.2.3.3).
void fill_publish(const Message& message, Clock::time_point now, mqtt::Publish& out);

}  // namespace psos::router
