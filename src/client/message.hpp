// An application message as the client sends and receives it: owned strings and the v5 properties
// that travel with a message. Received messages are shared (MessagePtr) by every subscription
// that matches them.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "mqtt/packets.hpp"

namespace psos::client {

struct Message {
  std::string topic;
  std::string payload;
  mqtt::QoS qos = mqtt::QoS::AtMostOnce;
  bool retain = false;
  // v5 properties, passed through unchanged (ignored toward a v3.1.1 broker).
  std::optional<std::uint8_t> payload_format_indicator;
  std::optional<std::uint32_t> message_expiry_interval;
  std::optional<std::string> content_type;
  std::optional<std::string> response_topic;
  std::optional<std::string> correlation_data;
  std::vector<std::pair<std::string, std::string>> user_properties;
  // Received messages only: the broker's DUP flag and the identifiers of the subscriptions
  // that matched (v5).
  bool dup = false;
  std::vector<std::uint32_t> subscription_identifiers;

  // Bytes this message holds, for the offline queue's limit.
  std::size_t footprint() const noexcept;
};

using MessagePtr = std::shared_ptr<const Message>;

// Fills `out` (views into `message`) with topic, payload, QoS, retain and v5 properties; the
// caller sets the packet id and DUP.
void fill_publish(const Message& message, mqtt::Publish& out);
// An owned copy of a decoded PUBLISH (whose views die with the read buffer).
Message to_message(const mqtt::Publish& publish);

}  // namespace psos::client
