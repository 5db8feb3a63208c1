// Internal to the codec: bounds-checked reading and plain writing of the MQTT data
// representations (spec 1.5): integers, variable byte integers, strings, binary data.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "mqtt/error.hpp"
#include "mqtt/packets.hpp"
#include "mqtt/topic.hpp"

namespace psos::mqtt::wire {

// Reads one packet's bytes. Every read checks bounds; the first failure is kept in `error` with
// the offset from the packet's first byte, and later reads fail without overwriting it.
class Reader {
 public:
  Reader(const char* packet_start, const char* begin, const char* end, PacketType type) noexcept
      : start_(packet_start), p_(begin), end_(end), type_(static_cast<std::uint8_t>(type)) {}

  std::size_t remaining() const noexcept { return static_cast<std::size_t>(end_ - p_); }
  bool at_end() const noexcept { return p_ == end_; }
  const char* position() const noexcept { return p_; }
  std::uint32_t offset() const noexcept { return static_cast<std::uint32_t>(p_ - start_); }
  PacketType type() const noexcept { return static_cast<PacketType>(type_); }

  bool fail(ReasonCode code, const char* message, std::uint8_t property = 0) noexcept {
    return fail_at(offset(), code, message, property);
  }
  bool fail_at(std::uint32_t at, ReasonCode code, const char* message,
               std::uint8_t property = 0) noexcept {
    if (!error_) error_ = Error{code, message, at, type_, property};
    return false;
  }
  const Error& error() const noexcept { return error_; }

  bool u8(std::uint8_t& v, const char* what) noexcept {
    if (p_ == end_) return truncated(what);
    v = static_cast<std::uint8_t>(*p_++);
    return true;
  }
  bool u16(std::uint16_t& v, const char* what) noexcept {
    if (remaining() < 2) return truncated(what);
    v = static_cast<std::uint16_t>((static_cast<std::uint8_t>(p_[0]) << 8) |
                                   static_cast<std::uint8_t>(p_[1]));
    p_ += 2;
    return true;
  }
  bool u32(std::uint32_t& v, const char* what) noexcept {
    if (remaining() < 4) return truncated(what);
    v = (std::uint32_t{static_cast<std::uint8_t>(p_[0])} << 24) |
        (std::uint32_t{static_cast<std::uint8_t>(p_[1])} << 16) |
        (std::uint32_t{static_cast<std::uint8_t>(p_[2])} << 8) |
        std::uint32_t{static_cast<std::uint8_t>(p_[3])};
    p_ += 4;
    return true;
  }
  // Variable byte integer: at most 4 bytes, minimal encoding (spec 1.5.5).
  bool varint(std::uint32_t& v, const char* what) noexcept;
  // Two-byte length then that many bytes, not validated.
  bool binary(std::string_view& v, const char* what) noexcept {
    std::uint16_t len = 0;
    if (!u16(len, what)) return false;
    if (remaining() < len) return truncated(what);
    v = std::string_view(p_, len);
    p_ += len;
    return true;
  }
  // UTF-8 encoded string: binary plus well-formedness (ill-formed is a Malformed Packet).
  bool utf8(std::string_view& v, const char* what) noexcept {
    const std::uint32_t at = offset() + 2;
    if (!binary(v, what)) return false;
    const std::size_t bad = find_invalid_utf8(v);
    if (bad != std::string_view::npos)
      return fail_at(at + static_cast<std::uint32_t>(bad), ReasonCode::MalformedPacket,
                     what_utf8(what));
    return true;
  }
  std::string_view rest() noexcept {
    std::string_view v(p_, remaining());
    p_ = end_;
    return v;
  }
  bool skip(std::size_t n) noexcept {
    if (remaining() < n) return false;
    p_ += n;
    return true;
  }
  // A sub-range reader for a length-prefixed block (properties), sharing the error slot.
  const char* end() const noexcept { return end_; }

 private:
  bool truncated(const char* what) noexcept;
  static const char* what_utf8(const char* what) noexcept;

  const char* start_;
  const char* p_;
  const char* end_;
  std::uint8_t type_;
  Error error_;
};

// Appends to a byte string. Callers reserve the exact size first.
class Writer {
 public:
  explicit Writer(std::string& out) noexcept : out_(out) {}
  void u8(std::uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void u16(std::uint16_t v) {
    const char b[2] = {static_cast<char>(v >> 8), static_cast<char>(v & 0xFF)};
    out_.append(b, 2);
  }
  void u32(std::uint32_t v) {
    const char b[4] = {static_cast<char>(v >> 24), static_cast<char>((v >> 16) & 0xFF),
                       static_cast<char>((v >> 8) & 0xFF), static_cast<char>(v & 0xFF)};
    out_.append(b, 4);
  }
  void varint(std::uint32_t v);
  void binary(std::string_view v) {  // also UTF-8 strings; length checked by the sizing pass
    u16(static_cast<std::uint16_t>(v.size()));
    out_.append(v.data(), v.size());
  }
  void raw(std::string_view v) { out_.append(v.data(), v.size()); }

 private:
  std::string& out_;
};

inline constexpr std::size_t kMaxString = 65535;

// Size of a length-prefixed string; sets `ok` false when it is too long to encode.
inline std::size_t string_size(std::string_view v, bool& ok) noexcept {
  if (v.size() > kMaxString) ok = false;
  return 2 + v.size();
}

}  // namespace psos::mqtt::wire
