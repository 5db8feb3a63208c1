// Internal to the codec: the per-packet body readers and writers, one overload set per packet
// type (connect.cpp, publish.cpp, ...). The dispatch in codec.cpp handles the fixed header.
#pragma once

#include <span>

#include "mqtt/packets.hpp"
#include "mqtt/wire.hpp"

namespace psos::mqtt::wire {

// Collects what makes a packet impossible to encode while sizing it.
struct EncodeCheck {
  bool ok = true;  // false: a string or list too long for its length field
  Error error;     // first semantic problem (a property not allowed, packet id 0, ...)
  void fail(ReasonCode code, const char* message) noexcept {
    if (!error) error = make_error(code, message);
  }
};

// Readers: `reader` spans the body (after the fixed header); `flags` is the low nibble of the
// first byte, already checked by the dispatcher except for PUBLISH.
bool read_body(Reader& reader, std::uint8_t flags, Version version, Connect& out);
bool read_body(Reader& reader, std::uint8_t flags, Version version, Connack& out);
bool read_body(Reader& reader, std::uint8_t flags, Version version, Publish& out);
template <PacketType Type>
bool read_body(Reader& reader, std::uint8_t flags, Version version, Ack<Type>& out);
bool read_body(Reader& reader, std::uint8_t flags, Version version, Subscribe& out);
bool read_body(Reader& reader, std::uint8_t flags, Version version, Suback& out);
bool read_body(Reader& reader, std::uint8_t flags, Version version, Unsubscribe& out);
bool read_body(Reader& reader, std::uint8_t flags, Version version, Unsuback& out);
bool read_body(Reader& reader, std::uint8_t flags, Version version, Pingreq& out);
bool read_body(Reader& reader, std::uint8_t flags, Version version, Pingresp& out);
bool read_body(Reader& reader, std::uint8_t flags, Version version, Disconnect& out);
bool read_body(Reader& reader, std::uint8_t flags, Version version, Auth& out);

// Writers: the flags of the first byte, the body size (the remaining length), the body.
std::uint8_t header_flags(const Publish& packet) noexcept;
std::size_t body_size(const Connect& packet, Version version, EncodeCheck& check);
std::size_t body_size(const Connack& packet, Version version, EncodeCheck& check);
std::size_t body_size(const Publish& packet, Version version, EncodeCheck& check);
template <PacketType Type>
std::size_t body_size(const Ack<Type>& packet, Version version, EncodeCheck& check);
std::size_t body_size(const Subscribe& packet, Version version, EncodeCheck& check);
std::size_t body_size(const Suback& packet, Version version, EncodeCheck& check);
std::size_t body_size(const Unsubscribe& packet, Version version, EncodeCheck& check);
std::size_t body_size(const Unsuback& packet, Version version, EncodeCheck& check);
std::size_t body_size(const Disconnect& packet, Version version, EncodeCheck& check);
std::size_t body_size(const Auth& packet, Version version, EncodeCheck& check);

void write_body(Writer& writer, const Connect& packet, Version version);
void write_body(Writer& writer, const Connack& packet, Version version);
void write_body(Writer& writer, const Publish& packet, Version version);
template <PacketType Type>
void write_body(Writer& writer, const Ack<Type>& packet, Version version);
void write_body(Writer& writer, const Subscribe& packet, Version version);
void write_body(Writer& writer, const Suback& packet, Version version);
void write_body(Writer& writer, const Unsubscribe& packet, Version version);
void write_body(Writer& writer, const Unsuback& packet, Version version);
void write_body(Writer& writer, const Disconnect& packet, Version version);
void write_body(Writer& writer, const Auth& packet, Version version);

// A reason code byte that must be one of `allowed` (Protocol Error otherwise).
bool read_reason(Reader& reader, ReasonCode& out, std::span<const std::uint8_t> allowed);
bool reason_in(ReasonCode code, std::span<const std::uint8_t> allowed) noexcept;

// Size of a property block for `context` (0 for v3.1.1, which has none).
std::size_t properties_size(const Properties& properties, PropertyContext context, Version version,
                            EncodeCheck& check) noexcept;

}  // namespace psos::mqtt::wire

namespace psos::mqtt::wire {

// A PUBLISH or will topic name: UTF-8 (Malformed Packet if not), no wildcards (Topic Name
// invalid). `allow_empty` for v5 PUBLISH, where a Topic Alias may stand in for the name.
bool read_topic_name(Reader& reader, std::string_view& out, bool allow_empty);

// A SUBSCRIBE or UNSUBSCRIBE topic filter: UTF-8, then validate_topic_filter.
bool read_filter(Reader& reader, std::string_view& out);

}  // namespace psos::mqtt::wire
