// libFuzzer harness for the packet decoder: arbitrary bytes through StreamDecoder (whole, one byte
// at a time, or in data-derived chunks) and decode(). Every packet that decodes must re-encode,
// and decoding that encoding must give the same packet: a mismatch aborts (a finding).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <variant>

#include "mqtt/codec.hpp"
#include "mqtt/stream_decoder.hpp"

namespace psos::mqtt {
namespace {

// Largest packet (fixed header included) the stream decoder accepts, chosen by the control byte.
constexpr std::uint32_t kMaxPacketSizes[8] = {
    kMaxRemainingLength + 5, 2, 5, 16, 64, 300, 4096, 65536,
};

[[noreturn]] void finding(const char* what, const Packet& packet, const Error& error) {
  std::fprintf(stderr, "fuzz_decoder: %s (%.*s): %s\n", what,
               static_cast<int>(packet_name(type_of(packet)).size()),
               packet_name(type_of(packet)).data(), to_string(error).c_str());
  std::abort();
}

// CONNECT carries its own protocol version; every other packet is in the session's.
Version version_of(const Packet& packet, Version session) {
  if (const auto* connect = std::get_if<Connect>(&packet)) return connect->version;
  return session;
}

// A decoded packet is valid, so it must encode, to exactly encoded_size() bytes, and decode
// back to itself.
void check_round_trip(const Packet& packet, Version session) {
  const Version version = version_of(packet, session);
  std::string encoding;
  if (const Error error = encode(packet, version, encoding)) {
    finding("a decoded packet does not encode", packet, error);
  }
  if (encoded_size(packet, version) != encoding.size()) {
    finding("encoded_size() differs from the size encode() wrote", packet, Error{});
  }
  Packet again;
  if (const Error error = decode(encoding, version, again)) {
    finding("the encoding of a decoded packet does not decode", packet, error);
  }
  if (!(again == packet)) finding("decode(encode(packet)) != packet", packet, Error{});
}

// The decoder must accept any chunking: the stream either yields packets or fails, and a
// packet it yields is exactly what decode() makes of its raw bytes.
void check_stream(std::string_view data, Version version, std::uint32_t max_packet_size,
                  unsigned chunking, std::uint8_t control) {
  StreamDecoder decoder(version, max_packet_size);
  Packet packet;
  std::size_t offset = 0;
  while (offset < data.size()) {
    std::size_t size = data.size() - offset;
    if (chunking == 1) {
      size = 1;
    } else if (chunking >= 2) {
      const auto from_data = static_cast<std::uint8_t>(data[offset]) ^ control;
      size = std::min<std::size_t>(size, 1 + from_data % (chunking == 2 ? 7 : 97));
    }
    decoder.feed(data.substr(offset, size));
    offset += size;
    for (;;) {
      const StreamDecoder::Status status = decoder.next(packet);
      if (status == StreamDecoder::Status::NeedMore) break;
      if (status == StreamDecoder::Status::Failed) {
        if (!decoder.error()) finding("the stream failed without an error", packet, Error{});
        return;
      }
      if (decoder.raw().size() > max_packet_size) {
        finding("the stream returned a packet larger than its maximum", packet, Error{});
      }
      Packet direct;
      if (const Error error = decode(decoder.raw(), version, direct)) {
        finding("decode() rejects the bytes of a packet the stream decoded", packet, error);
      }
      if (!(direct == packet)) finding("decode(raw()) != the stream's packet", packet, Error{});
      check_round_trip(packet, version);
    }
  }
}

}  // namespace
}  // namespace psos::mqtt

// Input: one control byte, then the bytes of the stream.
//   bit 0: session version (0 v3.1.1, 1 v5); bits 1-2: chunking (0 whole, 1 one byte at a time,
//   2 chunks of 1..7 bytes, 3 chunks of 1..97 bytes, sizes taken from the data); bits 3-5: the
//   stream's maximum packet size (kMaxPacketSizes).
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace psos::mqtt;
  if (size == 0) return 0;
  const std::uint8_t control = data[0];
  const Version version = (control & 1) ? Version::v5 : Version::v311;
  const unsigned chunking = (control >> 1) & 3;
  const std::uint32_t max_packet_size = kMaxPacketSizes[(control >> 3) & 7];
  const std::string_view bytes(reinterpret_cast<const char*>(data + 1), size - 1);

  check_stream(bytes, version, max_packet_size, chunking, control);

  Packet packet;
  if (!decode(bytes, version, packet)) check_round_trip(packet, version);
  return 0;
}
