// The fifteen MQTT control packets as plain structs, one representation for v3.1.1 and v5
// (v5 is the superset; v5-only fields are ignored when encoding v3.1.1). Strings and payloads
// are views: into the decoder's buffer after decoding, into the caller's data when encoding.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

#include "mqtt/properties.hpp"

namespace psos::mqtt {

enum class Version : std::uint8_t { v311 = 4, v5 = 5 };

enum class QoS : std::uint8_t { AtMostOnce = 0, AtLeastOnce = 1, ExactlyOnce = 2 };

// Maximum remaining length the 4-byte variable byte integer can express.
inline constexpr std::uint32_t kMaxRemainingLength = 268'435'455;
inline constexpr std::uint32_t kMaxVarInt = kMaxRemainingLength;

struct Will {
  std::string_view topic;
  std::string_view payload;
  QoS qos = QoS::AtMostOnce;
  bool retain = false;
  Properties properties;  // v5 will properties
  friend bool operator==(const Will&, const Will&) = default;
};

struct Connect {
  Version version = Version::v5;
  std::string_view client_id;
  bool clean_start = true;  // v3.1.1: Clean Session
  std::uint16_t keep_alive = 60;
  std::optional<std::string_view> username;
  std::optional<std::string_view> password;  // binary data
  std::optional<Will> will;
  Properties properties;
  friend bool operator==(const Connect&, const Connect&) = default;
};

struct Connack {
  bool session_present = false;
  ReasonCode reason = ReasonCode::Success;  // v3.1.1 return codes are mapped (to_v3_connack)
  Properties properties;
  friend bool operator==(const Connack&, const Connack&) = default;
};

struct Publish {
  std::string_view topic;  // may be empty in v5 when a Topic Alias is set
  std::string_view payload;
  QoS qos = QoS::AtMostOnce;
  bool retain = false;
  bool dup = false;
  std::uint16_t packet_id = 0;  // only for QoS 1 and 2
  Properties properties;
  friend bool operator==(const Publish&, const Publish&) = default;
};

// PUBACK, PUBREC, PUBREL and PUBCOMP share one shape.
template <PacketType Type>
struct Ack {
  static constexpr PacketType type = Type;
  std::uint16_t packet_id = 0;
  ReasonCode reason = ReasonCode::Success;  // v5 only
  Properties properties;
  friend bool operator==(const Ack&, const Ack&) = default;
};
using Puback = Ack<PacketType::Puback>;
using Pubrec = Ack<PacketType::Pubrec>;
using Pubrel = Ack<PacketType::Pubrel>;
using Pubcomp = Ack<PacketType::Pubcomp>;

enum class RetainHandling : std::uint8_t {
  SendOnSubscribe = 0,
  SendIfNewSubscription = 1,
  DoNotSend = 2,
};

struct SubscribeTopic {
  std::string_view filter;
  QoS qos = QoS::AtMostOnce;
  bool no_local = false;                                             // v5
  bool retain_as_published = false;                                  // v5
  RetainHandling retain_handling = RetainHandling::SendOnSubscribe;  // v5
  friend bool operator==(const SubscribeTopic&, const SubscribeTopic&) = default;
};

struct Subscribe {
  std::uint16_t packet_id = 0;
  std::vector<SubscribeTopic> topics;
  Properties properties;
  friend bool operator==(const Subscribe&, const Subscribe&) = default;
};

struct Suback {
  std::uint16_t packet_id = 0;
  // Granted QoS (0x00-0x02) or a failure code. v3.1.1 failure (0x80) maps to UnspecifiedError.
  std::vector<ReasonCode> reasons;
  Properties properties;
  friend bool operator==(const Suback&, const Suback&) = default;
};

struct Unsubscribe {
  std::uint16_t packet_id = 0;
  std::vector<std::string_view> filters;
  Properties properties;
  friend bool operator==(const Unsubscribe&, const Unsubscribe&) = default;
};

struct Unsuback {
  std::uint16_t packet_id = 0;
  std::vector<ReasonCode> reasons;  // v5 only; empty for v3.1.1
  Properties properties;
  friend bool operator==(const Unsuback&, const Unsuback&) = default;
};

struct Pingreq {
  friend bool operator==(const Pingreq&, const Pingreq&) = default;
};
struct Pingresp {
  friend bool operator==(const Pingresp&, const Pingresp&) = default;
};

struct Disconnect {
  ReasonCode reason = ReasonCode::Success;  // v5 only
  Properties properties;
  friend bool operator==(const Disconnect&, const Disconnect&) = default;
};

struct Auth {  // v5 only
  ReasonCode reason = ReasonCode::Success;
  Properties properties;
  friend bool operator==(const Auth&, const Auth&) = default;
};

// Alternative index + 1 == PacketType value.
using Packet = std::variant<Connect, Connack, Publish, Puback, Pubrec, Pubrel, Pubcomp, Subscribe,
                            Suback, Unsubscribe, Unsuback, Pingreq, Pingresp, Disconnect, Auth>;

namespace detail {
template <class P, class V>
struct packet_index;
template <class P, class... Ts>
struct packet_index<P, std::variant<Ts...>> {
  static constexpr std::size_t value = [] {
    constexpr bool same[] = {std::is_same_v<P, Ts>...};
    for (std::size_t i = 0; i < sizeof...(Ts); ++i)
      if (same[i]) return i;
    return sizeof...(Ts);
  }();
};
}  // namespace detail

// The PacketType of a packet struct, at compile time: packet_type_v<Publish> == Publish.
template <class P>
inline constexpr PacketType packet_type_v =
    static_cast<PacketType>(detail::packet_index<P, Packet>::value + 1);

inline PacketType type_of(const Packet& packet) noexcept {
  return static_cast<PacketType>(packet.index() + 1);
}

}  // namespace psos::mqtt
