// PUBACK, PUBREC, PUBREL and PUBCOMP (spec 3.1.1 3.4-3.7, 5.0 3.4-3.7): one shape, one typed
// suite. v3.1.1 acks are exactly four bytes; v5 acks omit the reason code and the property length
// when they can ("If the Remaining Length is less than 4 there is no Property Length").
#include <gtest/gtest.h>

#include <initializer_list>
#include <string>

#include "codec_test_util.hpp"
#include "mqtt/codec.hpp"

namespace psos::mqtt {
namespace {

using test::decode_as;
using test::DecodeFails;
using test::encode_ok;
using test::hex;
using test::packet;
using test::props;
using test::to_hex;

constexpr auto kMalformed = ReasonCode::MalformedPacket;
constexpr auto kProtocolError = ReasonCode::ProtocolError;

template <typename T>
struct AckTraits;
// First byte (PUBREL's reserved flags are 0010, spec 3.6.1) and a failure reason of each packet.
template <>
struct AckTraits<Puback> {
  static constexpr std::uint8_t first = 0x40;
  static constexpr ReasonCode failure = ReasonCode::NotAuthorized;
};
template <>
struct AckTraits<Pubrec> {
  static constexpr std::uint8_t first = 0x50;
  static constexpr ReasonCode failure = ReasonCode::QuotaExceeded;
};
template <>
struct AckTraits<Pubrel> {
  static constexpr std::uint8_t first = 0x62;
  static constexpr ReasonCode failure = ReasonCode::PacketIdentifierNotFound;
};
template <>
struct AckTraits<Pubcomp> {
  static constexpr std::uint8_t first = 0x70;
  static constexpr ReasonCode failure = ReasonCode::PacketIdentifierNotFound;
};

template <typename T>
class CodecAck : public ::testing::Test {
 protected:
  static constexpr std::uint8_t kFirst = AckTraits<T>::first;
  static constexpr ReasonCode kFailure = AckTraits<T>::failure;
  static constexpr PacketType kType = T::type;
  static std::string bytes(std::string_view body) { return packet(kFirst, body); }
  static std::string reason_byte() { return std::string(1, static_cast<char>(kFailure)); }
};

using AckTypes = ::testing::Types<Puback, Pubrec, Pubrel, Pubcomp>;
TYPED_TEST_SUITE(CodecAck, AckTypes);

TYPED_TEST(CodecAck, V311IsExactlyFourBytes) {
  TypeParam ack;
  ack.packet_id = 7;
  const std::string expected = this->bytes(hex("00 07"));
  EXPECT_EQ(to_hex(encode_ok(ack, Version::v311)), to_hex(expected));
  const auto decoded = decode_as<TypeParam>(expected, Version::v311);
  EXPECT_EQ(decoded.packet_id, 7);
  EXPECT_EQ(decoded.reason, ReasonCode::Success);
  EXPECT_EQ(decoded, ack);
}

// v5-only fields are ignored when encoding v3.1.1.
TYPED_TEST(CodecAck, V311EncodingIgnoresReasonAndProperties) {
  TypeParam ack;
  ack.packet_id = 0xBEEF;
  ack.reason = this->kFailure;
  ack.properties.reason_string = "no";
  EXPECT_EQ(to_hex(encode_ok(ack, Version::v311)), to_hex(this->bytes(hex("BE EF"))));
}

// Spec 5.0 3.4.2.1: "The Reason Code and Property Length can be omitted if the Reason Code is
// 0x00 (Success) and there are no Properties. In this case the PUBACK has a Remaining Length of 2."
TYPED_TEST(CodecAck, V5SuccessWithoutPropertiesUsesShortForm) {
  TypeParam ack;
  ack.packet_id = 7;
  EXPECT_EQ(to_hex(encode_ok(ack, Version::v5)), to_hex(this->bytes(hex("00 07"))));
  EXPECT_EQ(decode_as<TypeParam>(this->bytes(hex("00 07")), Version::v5), ack);
}

TYPED_TEST(CodecAck, V5ReasonAndPropertiesMatchSpecBytes) {
  TypeParam ack;
  ack.packet_id = 7;
  ack.reason = this->kFailure;
  ack.properties.reason_string = "no";
  const std::string expected =
      this->bytes(hex("00 07") + this->reason_byte() + hex("05 1F 00 02 'no'"));
  EXPECT_EQ(to_hex(encode_ok(ack, Version::v5)), to_hex(expected));
  EXPECT_EQ(decode_as<TypeParam>(expected, Version::v5), ack);

  // Success with properties needs the long form, reason code 0x00 included.
  TypeParam with_user;
  with_user.packet_id = 7;
  with_user.properties.user_properties.push_back({"k", "v"});
  const std::string user_bytes = this->bytes(hex("00 07 00 07 26 00 01 'k' 00 01 'v'"));
  EXPECT_EQ(to_hex(encode_ok(with_user, Version::v5)), to_hex(user_bytes));
  EXPECT_EQ(decode_as<TypeParam>(user_bytes, Version::v5), with_user);
}

// A reason without properties may be sent with remaining length 3 or 4; either is correct, so only
// the round trip and the length are checked.
TYPED_TEST(CodecAck, V5ReasonWithoutPropertiesRoundTrips) {
  TypeParam ack;
  ack.packet_id = 7;
  ack.reason = this->kFailure;
  const std::string bytes = encode_ok(ack, Version::v5);
  ASSERT_GE(bytes.size(), 5u);
  EXPECT_LE(bytes.size(), 6u);
  EXPECT_EQ(bytes[4], static_cast<char>(this->kFailure));
  EXPECT_EQ(decode_as<TypeParam>(bytes, Version::v5), ack);
}

// Spec 5.0 3.4.2.2: "If the Remaining Length is less than 4 there is no Property Length and the
// value of 0 is used."
TYPED_TEST(CodecAck, V5DecodesRemainingLengths2And3And4) {
  const auto two = decode_as<TypeParam>(this->bytes(hex("00 07")), Version::v5);
  EXPECT_EQ(two.reason, ReasonCode::Success);
  const auto three =
      decode_as<TypeParam>(this->bytes(hex("00 07") + this->reason_byte()), Version::v5);
  EXPECT_EQ(three.packet_id, 7);
  EXPECT_EQ(three.reason, this->kFailure);
  EXPECT_TRUE(three.properties.empty());
  const auto four = decode_as<TypeParam>(
      this->bytes(hex("00 07") + this->reason_byte() + hex("00")), Version::v5);
  EXPECT_EQ(four, three);
}

// Spec 3.1.1 3.4.1: "Remaining Length field: This is the length of the variable header. For the
// PUBACK Packet this has the value 2."
TYPED_TEST(CodecAck, V311RejectsOtherLengths) {
  EXPECT_TRUE(DecodeFails(this->bytes(hex("00 07 00")), Version::v311, kMalformed, this->kType));
  EXPECT_TRUE(DecodeFails(this->bytes(hex("00 07 00 00")), Version::v311, kMalformed, this->kType));
  EXPECT_TRUE(test::EveryTruncationIsMalformed(this->bytes(hex("00 07")), Version::v311, 2));
}

TYPED_TEST(CodecAck, V5RejectsTruncationAndTrailingBytes) {
  const std::string full =
      this->bytes(hex("00 07") + this->reason_byte() + hex("05 1F 00 02 'no'"));
  // Body lengths 0 and 1 cut the packet identifier; 2 and 3 are the short forms.
  EXPECT_TRUE(test::EveryTruncationIsMalformed(full, Version::v5, 2));
  for (std::size_t length = 4; length < full.size() - 2; ++length) {
    EXPECT_TRUE(DecodeFails(packet(this->kFirst, std::string_view(full).substr(2, length)),
                            Version::v5, kMalformed, this->kType))
        << length;
  }
  EXPECT_TRUE(DecodeFails(this->bytes(hex("00 07") + this->reason_byte() + hex("00 FF")),
                          Version::v5, kMalformed, this->kType));
  // A property length beyond the packet.
  EXPECT_TRUE(DecodeFails(this->bytes(hex("00 07") + this->reason_byte() + hex("09 1F")),
                          Version::v5, kMalformed, this->kType));
}

// Spec 5.0 2.2.1 [MQTT-2.2.1-3]-[MQTT-2.2.1-6]: acks echo a non-zero packet identifier.
TYPED_TEST(CodecAck, RejectsPacketIdZero) {
  EXPECT_TRUE(DecodeFails(this->bytes(hex("00 00")), Version::v311, kProtocolError, this->kType));
  EXPECT_TRUE(DecodeFails(this->bytes(hex("00 00")), Version::v5, kProtocolError, this->kType));
}

// Spec 5.0 2.1.3 (figure 2-3: PUBREL 0010, the others 0000): "If invalid flags are received it is
// a Malformed Packet."
TYPED_TEST(CodecAck, RejectsReservedFixedHeaderFlags) {
  for (const std::uint8_t flags :
       std::initializer_list<std::uint8_t>{0x00, 0x01, 0x02, 0x04, 0x08, 0x0F}) {
    const auto first = static_cast<std::uint8_t>((this->kFirst & 0xF0) | flags);
    if (first == this->kFirst) continue;
    EXPECT_TRUE(DecodeFails(packet(first, hex("00 07")), Version::v311, kMalformed, this->kType))
        << static_cast<int>(first);
    EXPECT_TRUE(DecodeFails(packet(first, hex("00 07")), Version::v5, kMalformed, this->kType))
        << static_cast<int>(first);
  }
}

// A byte that is no reason code at all (spec 5.0 2.4).
TYPED_TEST(CodecAck, V5RejectsUnknownReasonCode) {
  for (const char* reason : {"05", "7F", "A3", "FF"}) {
    EXPECT_TRUE(DecodeFails(this->bytes(hex("00 07") + hex(reason)), Version::v5, kProtocolError,
                            this->kType))
        << reason;
  }
}

// Spec 5.0 3.4.2.2.2: acks carry only Reason String and User Property.
TYPED_TEST(CodecAck, V5RejectsOtherProperties) {
  EXPECT_TRUE(DecodeFails(this->bytes(hex("00 07 00") + props(hex("23 00 01"))), Version::v5,
                          kMalformed, this->kType));
  EXPECT_TRUE(DecodeFails(this->bytes(hex("00 07 00") + props(hex("11 00 00 00 01"))), Version::v5,
                          kMalformed, this->kType));
  EXPECT_TRUE(DecodeFails(this->bytes(hex("00 07 00") + props(hex("1F 00 01 'a' 1F 00 01 'b'"))),
                          Version::v5, kProtocolError, this->kType));
}

}  // namespace
}  // namespace psos::mqtt
