// Incremental decoder: bytes arrive in chunks of any size, whole packets come out.
// A packet that lies entirely inside the chunk given to feed() is decoded in place (its strings
// are views into that chunk); only a packet split across chunks is assembled in an internal
// buffer. Views stay valid until the next call to next() or feed().
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "mqtt/codec.hpp"

namespace psos::mqtt {

class StreamDecoder {
 public:
  enum class Status : std::uint8_t { Ready, NeedMore, Failed };

  explicit StreamDecoder(Version version = Version::v5,
                         std::uint32_t max_packet_size = kMaxRemainingLength + 5) noexcept
      : version_(version), max_packet_size_(max_packet_size) {}

  // The version of the session (a server learns it from CONNECT and sets it afterwards).
  void set_version(Version version) noexcept { version_ = version; }
  Version version() const noexcept { return version_; }
  // Largest whole packet (fixed header included) accepted; larger ones fail with PacketTooLarge
  // as soon as their fixed header is read, before their body is buffered.
  void set_max_packet_size(std::uint32_t bytes) noexcept { max_packet_size_ = bytes; }
  std::uint32_t max_packet_size() const noexcept { return max_packet_size_; }

  // Hands the decoder the next chunk. The chunk must stay alive and unchanged until next()
  // returns NeedMore (the decoder then has copied what it still needs).
  void feed(std::string_view chunk) noexcept;

  // Ready: `out` holds the next packet (and `raw()` its bytes). NeedMore: feed more bytes.
  // Failed: `error()` says why; the stream cannot be resynchronised, close the connection.
  Status next(Packet& out);

  const Error& error() const noexcept { return error_; }
  // The bytes of the packet last returned by next().
  std::string_view raw() const noexcept { return raw_; }
  // Bytes held over between chunks (a partial packet).
  std::size_t buffered() const noexcept { return buffer_.size(); }

 private:
  Status fail(const Error& error) noexcept;

  Version version_;
  std::uint32_t max_packet_size_;
  std::string buffer_;      // partial packet carried across chunks
  std::string_view chunk_;  // unread part of the caller's chunk
  std::string_view raw_;
  bool buffer_consumed_ = false;  // buffer_ held the last packet; clear it on the next call
  bool failed_ = false;
  Error error_;
};

}  // namespace psos::mqtt
