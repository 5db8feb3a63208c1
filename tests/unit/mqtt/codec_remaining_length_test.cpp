// The fixed header and its Variable Byte Integer (spec 5.0 1.5.5 / 2.1.4, 3.1.1 2.2.3): the
// boundaries of table 1-1 / 2.4, the four-byte limit, and decoding packets at those sizes.
#include <gtest/gtest.h>

#include <string>

#include "codec_test_util.hpp"
#include "mqtt/codec.hpp"

namespace psos::mqtt {
namespace {

using test::hex;
using test::to_hex;

struct Boundary {
  std::uint32_t value;
  const char* bytes;
};

// Spec 5.0 table 1-1 "Size of Variable Byte Integer".
constexpr Boundary kBoundaries[] = {
    {0, "00"},
    {1, "01"},
    {127, "7F"},
    {128, "80 01"},
    {16'383, "FF 7F"},
    {16'384, "80 80 01"},
    {2'097'151, "FF FF 7F"},
    {2'097'152, "80 80 80 01"},
    {268'435'455, "FF FF FF 7F"},
};

TEST(CodecRemainingLength, WriteVarintMatchesSpecTable) {
  for (const auto& [value, bytes] : kBoundaries) {
    char out[4] = {};
    const std::size_t size = write_varint(value, out);
    EXPECT_EQ(to_hex(std::string_view(out, size)), to_hex(hex(bytes))) << value;
    EXPECT_EQ(varint_size(value), hex(bytes).size()) << value;
  }
  EXPECT_EQ(varint_size(321), 2u);
  char out[4] = {};
  ASSERT_EQ(write_varint(321, out), 2u);  // spec 1.5.5 example algorithm: 321 = C1 02
  EXPECT_EQ(to_hex(std::string_view(out, 2)), "c1 02");
}

TEST(CodecRemainingLength, ParseFixedHeaderAtEachBoundary) {
  for (const auto& [value, bytes] : kBoundaries) {
    const std::string header = hex("30") + hex(bytes);
    FixedHeader parsed;
    Error error;
    ASSERT_EQ(parse_fixed_header(header, parsed, error), HeaderStatus::Complete) << value;
    EXPECT_FALSE(error);
    EXPECT_EQ(parsed.first_byte, 0x30);
    EXPECT_EQ(parsed.remaining_length, value);
    EXPECT_EQ(parsed.header_size, header.size());
    EXPECT_EQ(parsed.total_size(), header.size() + value);
    // The header alone is enough: the body may not have arrived yet.
    for (std::size_t cut = 0; cut < header.size(); ++cut) {
      EXPECT_EQ(parse_fixed_header(std::string_view(header).substr(0, cut), parsed, error),
                HeaderStatus::Incomplete)
          << value << " cut at " << cut;
    }
  }
}

// Spec 1.5.5: at most four bytes. A fourth byte with its continuation bit set is malformed
// whether or not a fifth byte has arrived.
TEST(CodecRemainingLength, FiveByteLengthIsMalformed) {
  for (const char* bytes : {"30 FF FF FF FF 7F", "30 80 80 80 80 01", "30 FF FF FF FF",
                            "C0 80 80 80 80 00", "10 FF FF FF 80"}) {
    FixedHeader parsed;
    Error error;
    EXPECT_EQ(parse_fixed_header(hex(bytes), parsed, error), HeaderStatus::Invalid) << bytes;
    EXPECT_EQ(error.code, ReasonCode::MalformedPacket) << bytes;
    EXPECT_NE(std::string_view(error.message), "") << bytes;
  }
  Packet out;
  const Error error = decode(hex("30 FF FF FF FF 7F"), Version::v5, out);
  EXPECT_EQ(error.code, ReasonCode::MalformedPacket) << to_string(error);
  EXPECT_NE(to_string(error).find("PUBLISH"), std::string::npos) << to_string(error);
}

// Spec 1.5.5 [MQTT-1.5.5-1]: "The encoded value MUST use the minimum number of bytes necessary";
// a padded length (0x80 0x00 for 0) is not one the specification allows.
TEST(CodecRemainingLength, NonMinimalLengthIsMalformed) {
  for (const char* bytes : {"C0 80 00", "30 85 80 00", "30 FF 80 80 00"}) {
    FixedHeader parsed;
    Error error;
    EXPECT_EQ(parse_fixed_header(hex(bytes), parsed, error), HeaderStatus::Invalid) << bytes;
    EXPECT_EQ(error.code, ReasonCode::MalformedPacket) << bytes;
  }
}

// decode takes exactly one packet: bytes after it are not silently ignored.
TEST(CodecRemainingLength, DecodeRejectsBytesBeyondThePacket) {
  Packet out;
  const Error error = decode(hex("C0 00 C0 00"), Version::v5, out);
  EXPECT_EQ(error.code, ReasonCode::MalformedPacket) << to_string(error);
}

// A PUBLISH whose remaining length is exactly `length`: v3.1.1, QoS 0, topic "t".
std::string publish_of_length(std::uint32_t length, std::string& payload_storage) {
  payload_storage.assign(length - 3, 'x');
  for (std::size_t i = 0; i < payload_storage.size(); i += 4093) {
    payload_storage[i] = static_cast<char>('a' + i % 26);
  }
  Publish publish;
  publish.topic = "t";
  publish.payload = payload_storage;
  return test::encode_ok(publish, Version::v311);
}

TEST(CodecRemainingLength, PacketsAtEachBoundaryRoundTrip) {
  for (const auto& [value, bytes] : kBoundaries) {
    if (value < 3 || value > 2'097'152) continue;
    SCOPED_TRACE(value);
    std::string payload;
    const std::string encoded = publish_of_length(value, payload);
    const std::string header = hex("30") + hex(bytes);
    ASSERT_EQ(encoded.size(), header.size() + value);
    EXPECT_EQ(to_hex(std::string_view(encoded).substr(0, header.size())), to_hex(header));
    Publish publish;
    publish.topic = "t";
    publish.payload = payload;
    EXPECT_EQ(encoded_size(publish, Version::v311), encoded.size());

    Packet out;
    const Error error = decode(encoded, Version::v311, out);
    ASSERT_FALSE(error) << to_string(error);
    const auto& decoded = std::get<Publish>(out);
    EXPECT_EQ(decoded.topic, "t");
    EXPECT_EQ(decoded.payload.size(), value - 3);
    EXPECT_EQ(decoded.payload, payload);
    // Zero copy: the payload is a view into the decoded bytes.
    EXPECT_EQ(decoded.payload.data(), encoded.data() + header.size() + 3);
  }
}

// decode must not trust the remaining length beyond the bytes it was given.
TEST(CodecRemainingLength, DecodeOfAnIncompletePacketFails) {
  for (const char* bytes : {"30", "30 0A 00 03 'a/b'", "30 80", "82 0C 00 0A 00 03 'a/b' 01"}) {
    Packet out;
    EXPECT_TRUE(decode(hex(bytes), Version::v311, out)) << bytes;
  }
  Packet out;
  EXPECT_TRUE(decode("", Version::v5, out));
}

}  // namespace
}  // namespace psos::mqtt
