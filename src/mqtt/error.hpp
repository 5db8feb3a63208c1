// The one error type of the protocol core: what went wrong, the v5 reason code to answer with,
// and where. No allocation, no exceptions: messages are static strings.
#pragma once

#include <cstdint>
#include <string>

#include "mqtt/reason_code.hpp"

namespace psos::mqtt {

enum class PacketType : std::uint8_t;

struct Error {
  // Success means "no error". Decoding errors carry MalformedPacket, ProtocolError,
  // PacketTooLarge, TopicNameInvalid, ... : the reason code a v5 peer is sent.
  ReasonCode code = ReasonCode::Success;
  // What was wrong, in words ("remaining length uses more than 4 bytes"). Static storage.
  const char* message = "";
  // Byte offset from the start of the packet (its first byte) where the problem was found.
  std::uint32_t offset = 0;
  // The packet being decoded or encoded, 0 when unknown.
  std::uint8_t packet_type = 0;
  // The property identifier concerned, 0 when none.
  std::uint8_t property_id = 0;

  explicit operator bool() const noexcept { return code != ReasonCode::Success; }
};

inline Error make_error(ReasonCode code, const char* message, std::uint32_t offset = 0) noexcept {
  return Error{code, message, offset, 0, 0};
}

// "SUBSCRIBE: topic filter has '#' that is not the last level (byte 12) [0x8F Topic Filter
// invalid]"
std::string to_string(const Error& error);

}  // namespace psos::mqtt
