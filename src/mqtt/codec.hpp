// Encoding and decoding of whole packets. Decoding validates everything the specification
// requires of a receiver and reports the first violation as an Error; it never reads out of
// bounds and never allocates except for the lists in SUBSCRIBE/SUBACK/UNSUBSCRIBE/UNSUBACK and
// repeated properties.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "mqtt/error.hpp"
#include "mqtt/packets.hpp"

namespace psos::mqtt {

// The fixed header of a packet at the start of a byte stream.
struct FixedHeader {
  std::uint8_t first_byte = 0;         // type << 4 | flags
  std::uint32_t remaining_length = 0;  // bytes after the fixed header
  std::uint8_t header_size = 0;        // 2..5
  std::size_t total_size() const noexcept { return header_size + std::size_t{remaining_length}; }
};

enum class HeaderStatus : std::uint8_t { Complete, Incomplete, Invalid };

// Parses the fixed header at the start of `bytes`. Invalid: a remaining length longer than 4
// bytes (error filled in), or a packet type of 0. Incomplete: more bytes are needed.
HeaderStatus parse_fixed_header(std::string_view bytes, FixedHeader& header, Error& error) noexcept;

// Decodes exactly one packet. `bytes` holds the whole packet, fixed header included, and must
// outlive `out`: strings in `out` point into it. `version` is the session's protocol version;
// CONNECT is decoded whatever it says (it carries its own).
Error decode(std::string_view bytes, Version version, Packet& out);

// Appends the encoding of `packet` to `out`. Fails (and appends nothing) when a field cannot be
// represented: a string longer than 65535 bytes, a packet longer than the maximum remaining
// length, a v5-only packet for v3.1.1, a QoS > 0 PUBLISH with packet id 0.
Error encode(const Packet& packet, Version version, std::string& out);

// Size `encode` would append, or 0 when it would fail.
std::size_t encoded_size(const Packet& packet, Version version);

// Variable byte integer (spec 1.5.5). Returns bytes written (1..4) into `out`.
std::size_t write_varint(std::uint32_t value, char* out) noexcept;
std::size_t varint_size(std::uint32_t value) noexcept;

}  // namespace psos::mqtt
