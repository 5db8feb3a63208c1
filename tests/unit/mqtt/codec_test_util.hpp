// Shared helpers of the codec tests: spec bytes written as readable hex, packet framing, and
// assertions that decode fails with an exact reason code and an error that names the packet.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "mqtt/codec.hpp"
#include "mqtt/error.hpp"
#include "mqtt/packets.hpp"
#include "mqtt/reason_code.hpp"

namespace psos::mqtt::test {

// Bytes from hex pairs and quoted ASCII: hex("10 0F 00 04 'MQTT' 04"). Spaces are ignored.
inline std::string hex(std::string_view text) {
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    ADD_FAILURE() << "bad hex digit '" << c << "'";
    return 0;
  };
  std::string out;
  for (std::size_t i = 0; i < text.size();) {
    const char c = text[i];
    if (c == ' ' || c == '\n') {
      ++i;
    } else if (c == '\'') {
      const std::size_t end = text.find('\'', i + 1);
      out.append(text.substr(i + 1, end - i - 1));
      i = end + 1;
    } else {
      out.push_back(static_cast<char>(nibble(c) * 16 + nibble(text[i + 1])));
      i += 2;
    }
  }
  return out;
}

// "10 0f 00 04" for failure messages.
inline std::string to_hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (const char c : bytes) {
    const auto byte = static_cast<unsigned char>(c);
    if (!out.empty()) out.push_back(' ');
    out.push_back(kDigits[byte >> 4]);
    out.push_back(kDigits[byte & 0x0F]);
  }
  return out;
}

inline std::string u16(std::uint16_t value) {
  return {static_cast<char>(value >> 8), static_cast<char>(value & 0xFF)};
}

inline std::string u32(std::uint32_t value) {
  return {static_cast<char>(value >> 24), static_cast<char>((value >> 16) & 0xFF),
          static_cast<char>((value >> 8) & 0xFF), static_cast<char>(value & 0xFF)};
}

// Variable byte integer written independently of the codec (spec 1.5.5).
inline std::string varint(std::uint32_t value) {
  std::string out;
  do {
    auto byte = static_cast<std::uint8_t>(value % 128);
    value /= 128;
    if (value > 0) byte = static_cast<std::uint8_t>(byte | 0x80);
    out.push_back(static_cast<char>(byte));
  } while (value > 0);
  return out;
}

// A UTF-8 string or binary data field: two-byte length, then the bytes.
inline std::string str(std::string_view text) {
  return u16(static_cast<std::uint16_t>(text.size())) + std::string(text);
}

// Properties field: the variable byte integer length, then the properties.
inline std::string props(std::string_view properties) {
  return varint(static_cast<std::uint32_t>(properties.size())) + std::string(properties);
}

// A whole packet: first byte, remaining length, body.
inline std::string packet(std::uint8_t first_byte, std::string_view body) {
  return std::string(1, static_cast<char>(first_byte)) +
         varint(static_cast<std::uint32_t>(body.size())) + std::string(body);
}

inline const char* version_name(Version version) {
  return version == Version::v5 ? "v5" : "v3.1.1";
}

// Encodes and fails the test when encoding fails.
inline std::string encode_ok(const Packet& input, Version version) {
  std::string out;
  const Error error = encode(input, version, out);
  EXPECT_FALSE(error) << version_name(version) << " encode failed: " << to_string(error);
  return out;
}

// Decodes and fails the test when decoding fails.
inline Packet decode_ok(std::string_view bytes, Version version) {
  Packet out;
  const Error error = decode(bytes, version, out);
  EXPECT_FALSE(error) << version_name(version) << " decode of [" << to_hex(bytes)
                      << "] failed: " << to_string(error);
  return out;
}

// Decodes bytes expected to hold a packet of type T.
template <typename T>
T decode_as(std::string_view bytes, Version version) {
  const Packet out = decode_ok(bytes, version);
  const T* typed = std::get_if<T>(&out);
  EXPECT_NE(typed, nullptr) << "decoded packet type " << static_cast<int>(type_of(out));
  return typed != nullptr ? *typed : T{};
}

// Decoding `bytes` fails with exactly `code`; the error names the packet, carries a message and
// points inside the packet.
inline ::testing::AssertionResult DecodeFails(std::string_view bytes, Version version,
                                              ReasonCode code, PacketType type) {
  Packet out;
  const Error error = decode(bytes, version, out);
  const std::string where = std::string(" (") + version_name(version) + " [" + to_hex(bytes) + "])";
  if (!error) return ::testing::AssertionFailure() << "decode succeeded" << where;
  const std::string text = to_string(error);
  if (error.code != code) {
    return ::testing::AssertionFailure()
           << "expected " << reason_name(code) << " got " << text << where;
  }
  if (error.message == nullptr || std::string_view(error.message).empty()) {
    return ::testing::AssertionFailure() << "empty error message" << where;
  }
  if (error.packet_type != static_cast<std::uint8_t>(type)) {
    return ::testing::AssertionFailure()
           << "error.packet_type " << static_cast<int>(error.packet_type) << ": " << text << where;
  }
  if (text.find(packet_name(type)) == std::string::npos) {
    return ::testing::AssertionFailure() << "to_string does not name the packet: " << text << where;
  }
  if (text.find(error.message) == std::string::npos) {
    return ::testing::AssertionFailure() << "to_string lacks the message: " << text << where;
  }
  if (error.offset > bytes.size()) {
    return ::testing::AssertionFailure()
           << "offset " << error.offset << " past the packet" << where;
  }
  return ::testing::AssertionSuccess() << text;
}

// Every proper prefix of the body of `bytes` (fixed header rewritten to match, so the packet is
// self-consistent but a field is cut short) fails with MalformedPacket, for body lengths in
// [0, limit). `bytes` must be a valid packet with a one-byte remaining length.
inline ::testing::AssertionResult EveryTruncationIsMalformed(std::string_view bytes,
                                                             Version version, std::size_t limit) {
  const auto first = static_cast<std::uint8_t>(bytes[0]);
  const auto type = static_cast<PacketType>(first >> 4);
  const std::string_view body = bytes.substr(2);
  for (std::size_t length = 0; length < limit && length < body.size(); ++length) {
    const std::string cut = packet(first, body.substr(0, length));
    auto result = DecodeFails(cut, version, ReasonCode::MalformedPacket, type);
    if (!result) return result << " at body length " << length;
  }
  return ::testing::AssertionSuccess();
}

// Invalid UTF-8 (spec 1.5.4): each one makes a string field ill-formed.
inline constexpr std::string_view kBadUtf8[] = {
    std::string_view("a\0b", 3),  // U+0000 [MQTT-1.5.4-2]
    "\xED\xA0\x80",               // U+D800, a surrogate [MQTT-1.5.4-1]
    "\xED\xBF\xBF",               // U+DFFF, a surrogate
    "\xC0\xAF",                   // overlong '/'
    "\xE0\x80\xAF",               // overlong '/', three bytes
    "\xC0\x80",                   // overlong U+0000
    "\xE2\x82",                   // truncated three-byte sequence
    "a\x80",                      // lone continuation byte
    "\xF4\x90\x80\x80",           // above U+10FFFF
    "\xFF",                       // never valid in UTF-8
};

}  // namespace psos::mqtt::test
