// An application message with owned contents: what a PUBLISH carries, kept after the packet's
// buffer is gone. The one message type of psos: the router routes it, the client sends and
// receives it, services see it; shared (MessagePtr) rather than copied per subscriber.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "mqtt/packets.hpp"

namespace psos::mqtt {

struct Message {
  std::string topic;
  std::string payload;
  QoS qos = QoS::AtMostOnce;
  bool retain = false;
  // The DUP flag of the PUBLISH it arrived in (the client's received messages).
  bool dup = false;
  // Published to `local/<topic>` (the router's local prefix): delivered on this node only,
  // never sent to an uplink or a bridge.
  bool local = false;
  // v5 properties that travel with the message, passed through unchanged (spec 3.3.2.3).
  std::optional<std::uint8_t> payload_format_indicator;
  std::optional<std::uint32_t> message_expiry_interval;  // seconds, as published
  std::optional<std::string> content_type;
  std::optional<std::string> response_topic;
  std::optional<std::string> correlation_data;
  std::vector<std::pair<std::string, std::string>> user_properties;
  // The identifiers of the subscriptions it matched, as the broker sent them (the client's
  // received messages; the router keeps them per delivery instead).
  std::vector<std::uint32_t> subscription_identifiers;
  // When the router got it: the start of its expiry interval.
  std::chrono::steady_clock::time_point received{};
  // The router session that published it (for No Local); 0: the router itself.
  std::uint64_t origin = 0;

  // Bytes this message holds, for queue limits.
  std::size_t footprint() const noexcept;
  // Seconds left before expiry, counted from `received` (nullopt: never expires); 0: expired.
  std::optional<std::uint32_t> remaining_expiry(
      std::chrono::steady_clock::time_point now) const noexcept;
  bool expired(std::chrono::steady_clock::time_point now) const noexcept {
    const auto left = remaining_expiry(now);
    return left && *left == 0;
  }
};

using MessagePtr = std::shared_ptr<const Message>;

// Copies what a decoded PUBLISH carries (its views die with the input buffer) into `out`:
// topic, payload, QoS, retain, DUP and the v5 properties that travel with a message, with the
// Subscription Identifiers. `topic` is the effective topic: the PUBLISH's own, or the one its
// Topic Alias stands for. `received` and `origin` are left as they are.
void fill_message(const Publish& publish, std::string_view topic, Message& out);

// Fills `out` (views into `message`) with topic, payload, QoS, retain and the PUBLISH properties
// (the Message Expiry Interval as stored: the router sends the time left instead; Topic Alias
// and Subscription Identifiers cleared). Packet id and DUP are left as they are. Reuses the
// capacity of out's vectors, so a Publish kept for encoding allocates nothing once warm.
void fill_publish(const Message& message, Publish& out);

}  // namespace psos::mqtt
