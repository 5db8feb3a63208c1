// PINGREQ, PINGRESP, DISCONNECT and AUTH (spec 3.1.1 3.12-3.14, 5.0 3.12-3.15), the reserved
// packet types, and the names the errors are reported with.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "codec_test_util.hpp"
#include "mqtt/codec.hpp"
#include "mqtt/reason_code.hpp"

namespace psos::mqtt {
namespace {

using test::decode_as;
using test::DecodeFails;
using test::encode_ok;
using test::hex;
using test::packet;
using test::props;
using test::str;
using test::to_hex;

constexpr auto kMalformed = ReasonCode::MalformedPacket;
constexpr auto kProtocolError = ReasonCode::ProtocolError;

TEST(CodecPing, MatchesSpecBytesInBothVersions) {
  for (const Version version : {Version::v311, Version::v5}) {
    EXPECT_EQ(to_hex(encode_ok(Pingreq{}, version)), "c0 00");
    EXPECT_EQ(to_hex(encode_ok(Pingresp{}, version)), "d0 00");
    decode_as<Pingreq>(hex("C0 00"), version);
    decode_as<Pingresp>(hex("D0 00"), version);
  }
}

// Spec 5.0 2.1.3: flags 0000. 3.12 / 3.13: no variable header, no payload.
TEST(CodecPing, RejectsFlagsAndBody) {
  for (const Version version : {Version::v311, Version::v5}) {
    EXPECT_TRUE(DecodeFails(hex("C1 00"), version, kMalformed, PacketType::Pingreq));
    EXPECT_TRUE(DecodeFails(hex("C8 00"), version, kMalformed, PacketType::Pingreq));
    EXPECT_TRUE(DecodeFails(hex("D2 00"), version, kMalformed, PacketType::Pingresp));
    EXPECT_TRUE(DecodeFails(hex("C0 01 00"), version, kMalformed, PacketType::Pingreq));
    EXPECT_TRUE(DecodeFails(hex("D0 01 00"), version, kMalformed, PacketType::Pingresp));
  }
}

// Spec 3.1.1 3.14: DISCONNECT is two bytes.
TEST(CodecDisconnect, V311MatchesSpecBytes) {
  Disconnect disconnect;
  disconnect.reason = ReasonCode::ServerShuttingDown;  // v5 only: ignored
  disconnect.properties.reason_string = "bye";
  EXPECT_EQ(to_hex(encode_ok(disconnect, Version::v311)), "e0 00");
  EXPECT_EQ(decode_as<Disconnect>(hex("E0 00"), Version::v311), Disconnect{});
  EXPECT_TRUE(DecodeFails(hex("E0 01 00"), Version::v311, kMalformed, PacketType::Disconnect));
  EXPECT_TRUE(DecodeFails(hex("E1 00"), Version::v311, kMalformed, PacketType::Disconnect));
}

// Spec 5.0 3.14.2.1: "The Reason Code and Property Length can be omitted if the Reason Code is
// 0x00 (Normal disconnecton) and there are no Properties. In this case the DISCONNECT has a
// Remaining Length of 0."
TEST(CodecDisconnect, V5MatchesSpecBytes) {
  EXPECT_EQ(to_hex(encode_ok(Disconnect{}, Version::v5)), "e0 00");
  EXPECT_EQ(decode_as<Disconnect>(hex("E0 00"), Version::v5), Disconnect{});

  Disconnect disconnect;
  disconnect.reason = ReasonCode::ServerShuttingDown;
  disconnect.properties.reason_string = "by";
  const std::string bytes = hex("E0 07 8B 05 1F 00 02 'by'");
  EXPECT_EQ(to_hex(encode_ok(disconnect, Version::v5)), to_hex(bytes));
  EXPECT_EQ(decode_as<Disconnect>(bytes, Version::v5), disconnect);

  Disconnect with_will;
  with_will.reason = ReasonCode::DisconnectWithWill;
  with_will.properties.session_expiry_interval = 0;
  const std::string will_bytes = hex("E0 07 04 05 11 00 00 00 00");
  EXPECT_EQ(to_hex(encode_ok(with_will, Version::v5)), to_hex(will_bytes));
  EXPECT_EQ(decode_as<Disconnect>(will_bytes, Version::v5), with_will);
}

// Spec 5.0 3.14.2.2.1: "If the Remaining Length is less than 2, a value of 0 is used" for the
// property length.
TEST(CodecDisconnect, V5DecodesRemainingLengths0And1And2) {
  Disconnect expected;
  expected.reason = ReasonCode::DisconnectWithWill;
  EXPECT_EQ(decode_as<Disconnect>(hex("E0 01 04"), Version::v5), expected);
  EXPECT_EQ(decode_as<Disconnect>(hex("E0 02 04 00"), Version::v5), expected);
  Disconnect reason_only;
  reason_only.reason = ReasonCode::ServerBusy;
  const std::string bytes = encode_ok(reason_only, Version::v5);
  EXPECT_TRUE(bytes == hex("E0 01 89") || bytes == hex("E0 02 89 00")) << to_hex(bytes);
  EXPECT_EQ(decode_as<Disconnect>(bytes, Version::v5), reason_only);
}

TEST(CodecDisconnect, V5Rejections) {
  constexpr auto kType = PacketType::Disconnect;
  EXPECT_TRUE(DecodeFails(hex("E2 00"), Version::v5, kMalformed, kType));
  EXPECT_TRUE(DecodeFails(hex("E0 01 05"), Version::v5, kProtocolError, kType));  // unknown reason
  EXPECT_TRUE(DecodeFails(hex("E0 03 00 00 00"), Version::v5, kMalformed, kType));  // trailing
  EXPECT_TRUE(DecodeFails(hex("E0 05 00 03 23 00 01"), Version::v5, kMalformed, kType));
  EXPECT_TRUE(DecodeFails(hex("E0 0C 00 0A 11 00 00 00 01 11 00 00 00 01"), Version::v5,
                          kProtocolError, kType));
  // Body lengths 0 and 1 are the short forms; from 2 on the properties are cut short.
  const std::string full = hex("E0 07 8B 05 1F 00 02 'by'");
  for (std::size_t length = 2; length < 7; ++length) {
    EXPECT_TRUE(DecodeFails(packet(0xE0, std::string_view(full).substr(2, length)), Version::v5,
                            kMalformed, kType))
        << length;
  }
}

// Spec 5.0 3.15.2.1: AUTH with Success and no properties may have a Remaining Length of 0.
TEST(CodecAuth, V5MatchesSpecBytes) {
  EXPECT_EQ(to_hex(encode_ok(Auth{}, Version::v5)), "f0 00");
  EXPECT_EQ(decode_as<Auth>(hex("F0 00"), Version::v5), Auth{});

  Auth auth;
  auth.reason = ReasonCode::ContinueAuthentication;
  auth.properties.authentication_method = "SCRM";
  const std::string bytes = hex("F0 09 18 07 15 00 04 'SCRM'");
  EXPECT_EQ(to_hex(encode_ok(auth, Version::v5)), to_hex(bytes));
  EXPECT_EQ(decode_as<Auth>(bytes, Version::v5), auth);

  Auth reauth;
  reauth.reason = ReasonCode::ReAuthenticate;
  reauth.properties.authentication_method = "SCRM";
  reauth.properties.authentication_data = std::string_view("\x00\x01", 2);
  const std::string reauth_bytes = hex("F0 0E 19 0C 15 00 04 'SCRM' 16 00 02 00 01");
  EXPECT_EQ(to_hex(encode_ok(reauth, Version::v5)), to_hex(reauth_bytes));
  EXPECT_EQ(decode_as<Auth>(reauth_bytes, Version::v5), reauth);
}

TEST(CodecAuth, V5Rejections) {
  constexpr auto kType = PacketType::Auth;
  EXPECT_TRUE(DecodeFails(hex("F1 00"), Version::v5, kMalformed, kType));
  EXPECT_TRUE(DecodeFails(hex("F0 02 05 00"), Version::v5, kProtocolError, kType));
  EXPECT_TRUE(DecodeFails(packet(0xF0, hex("18") + props(hex("15 00 01 'm' 23 00 01"))),
                          Version::v5, kMalformed, kType));
  EXPECT_TRUE(DecodeFails(packet(0xF0, hex("18") + props(hex("15 00 01 'm' 15 00 01 'm'"))),
                          Version::v5, kProtocolError, kType));
  // Trailing byte after the properties; properties cut short.
  EXPECT_TRUE(DecodeFails(packet(0xF0, hex("18") + props(hex("15 00 01 'm'")) + "x"), Version::v5,
                          kMalformed, kType));
  const std::string full = hex("F0 09 18 07 15 00 04 'SCRM'");
  for (std::size_t length = 2; length < 9; ++length) {
    EXPECT_TRUE(DecodeFails(packet(0xF0, std::string_view(full).substr(2, length)), Version::v5,
                            kMalformed, kType))
        << length;
  }
}

// Spec 5.0 3.15.2.2.2: "It is a Protocol Error to omit the Authentication Method".
TEST(CodecAuth, V5RejectsMissingAuthenticationMethod) {
  EXPECT_TRUE(DecodeFails(packet(0xF0, hex("18") + props(hex("16 00 01 'd'"))), Version::v5,
                          kProtocolError, PacketType::Auth));
}

// AUTH does not exist in v3.1.1: type 15 is "Reserved, Forbidden" (spec 3.1.1 2.2.1). v3.1.1 has
// no reason codes; the error must still name the packet.
TEST(CodecAuth, IsAnErrorInV311) {
  Packet out;
  const Error error = decode(hex("F0 00"), Version::v311, out);
  ASSERT_TRUE(error);
  EXPECT_TRUE(error.code == kMalformed || error.code == kProtocolError) << to_string(error);
  EXPECT_NE(std::string_view(error.message), "");

  std::string bytes = "prefix";
  const Error encode_error = encode(Auth{}, Version::v311, bytes);
  EXPECT_TRUE(encode_error);
  EXPECT_NE(std::string_view(encode_error.message), "");
  EXPECT_EQ(bytes, "prefix");
  EXPECT_EQ(encoded_size(Auth{}, Version::v311), 0u);
}

// Spec 5.0 2.1.2: packet type 0 is "Reserved, Forbidden".
TEST(CodecPacketType, ZeroIsMalformed) {
  for (const Version version : {Version::v311, Version::v5}) {
    Packet out;
    const Error error = decode(hex("00 00"), version, out);
    EXPECT_EQ(error.code, kMalformed) << to_string(error);
    EXPECT_NE(std::string_view(error.message), "");
  }
  FixedHeader header;
  Error error;
  EXPECT_EQ(parse_fixed_header(hex("00 00"), header, error), HeaderStatus::Invalid);
  EXPECT_EQ(parse_fixed_header(hex("0F 02 00 00"), header, error), HeaderStatus::Invalid);
}

TEST(CodecPacketType, NamesMatchTheSpecification) {
  const char* names[] = {"CONNECT",  "CONNACK", "PUBLISH",   "PUBACK",     "PUBREC",
                         "PUBREL",   "PUBCOMP", "SUBSCRIBE", "SUBACK",     "UNSUBSCRIBE",
                         "UNSUBACK", "PINGREQ", "PINGRESP",  "DISCONNECT", "AUTH"};
  for (int type = 1; type <= 15; ++type) {
    EXPECT_EQ(packet_name(static_cast<PacketType>(type)), names[type - 1]);
  }
  EXPECT_EQ(type_of(Packet{Auth{}}), PacketType::Auth);
  EXPECT_EQ(type_of(Packet{Connect{}}), PacketType::Connect);
  EXPECT_EQ(type_of(Packet{Unsuback{}}), PacketType::Unsuback);
}

// Spec 5.0 2.4, table 2-6.
TEST(CodecReasonCode, NamesAndValidity) {
  EXPECT_EQ(reason_name(ReasonCode::MalformedPacket), "Malformed Packet");
  EXPECT_EQ(reason_name(ReasonCode::ProtocolError), "Protocol Error");
  EXPECT_EQ(reason_name(ReasonCode::TopicFilterInvalid), "Topic Filter invalid");
  EXPECT_EQ(reason_name(ReasonCode::TopicNameInvalid), "Topic Name invalid");
  EXPECT_EQ(reason_name(static_cast<ReasonCode>(0x05)), "Unknown reason code");
  const std::uint8_t known[] = {0x00, 0x01, 0x02, 0x04, 0x10, 0x11, 0x18, 0x19, 0x80, 0x81, 0x82,
                                0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x8B, 0x8C, 0x8D,
                                0x8E, 0x8F, 0x90, 0x91, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98,
                                0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1, 0xA2};
  int count = 0;
  for (int code = 0; code < 256; ++code) {
    const auto byte = static_cast<std::uint8_t>(code);
    const bool listed = std::find(std::begin(known), std::end(known), byte) != std::end(known);
    EXPECT_EQ(is_known_reason(byte), listed) << code;
    if (listed) {
      ++count;
      EXPECT_NE(reason_name(static_cast<ReasonCode>(byte)), "Unknown reason code") << code;
    }
  }
  EXPECT_EQ(count, 43);
}

// The reason codes each v5 packet may carry (spec 5.0 3.2.2.2, 3.4.2.1, 3.5.2.1, 3.6.2.1, 3.7.2.1,
// 3.9.3, 3.11.3, 3.14.2.1, 3.15.2.1): every other byte is refused as a Protocol Error.
TEST(CodecReasonCode, EachPacketAcceptsExactlyItsTable) {
  struct Table {
    PacketType type;
    std::string prefix;  // the bytes before the reason code
    std::string suffix;  // the bytes after it
    std::vector<int> codes;
  };
  const std::vector<int> pub = {0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99};
  const std::vector<int> rel = {0x00, 0x92};
  const Table tables[] = {
      {PacketType::Connack, hex("00"), hex("00"), {0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86,
                                                   0x87, 0x88, 0x89, 0x8A, 0x8C, 0x90, 0x95, 0x97,
                                                   0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F}},
      {PacketType::Puback, hex("00 01"), hex("00"), pub},
      {PacketType::Pubrec, hex("00 01"), hex("00"), pub},
      {PacketType::Pubrel, hex("00 01"), hex("00"), rel},
      {PacketType::Pubcomp, hex("00 01"), hex("00"), rel},
      {PacketType::Suback,
       hex("00 01 00"),
       "",
       {0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2}},
      {PacketType::Unsuback, hex("00 01 00"), "", {0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91}},
      {PacketType::Disconnect, "", hex("00"), {0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89,
                                               0x8B, 0x8D, 0x8E, 0x8F, 0x90, 0x93, 0x94, 0x95,
                                               0x96, 0x97, 0x98, 0x99, 0x9A, 0x9B, 0x9C, 0x9D,
                                               0x9E, 0x9F, 0xA0, 0xA1, 0xA2}},
      {PacketType::Auth, "", hex("03 15 00 00"), {0x00, 0x18, 0x19}},
  };
  for (const Table& table : tables) {
    const auto type_value = static_cast<std::uint8_t>(table.type);
    const auto first = static_cast<std::uint8_t>(type_value << 4 |
                                                 (table.type == PacketType::Pubrel ? 0x02 : 0x00));
    for (int code = 0; code < 256; ++code) {
      const std::string bytes =
          packet(first, table.prefix + std::string(1, static_cast<char>(code)) + table.suffix);
      const bool listed =
          std::find(table.codes.begin(), table.codes.end(), code) != table.codes.end();
      if (listed) {
        Packet out;
        const Error error = decode(bytes, Version::v5, out);
        EXPECT_FALSE(error) << to_string(error);
      } else {
        EXPECT_TRUE(DecodeFails(bytes, Version::v5, kProtocolError, table.type));
      }
    }
  }
}

// Error.offset: "Byte offset from the start of the packet where the problem was found".
TEST(CodecError, OffsetPointsAtTheProblem) {
  Packet out;
  EXPECT_EQ(decode(hex("80 05 00 01 00 01 'a'"), Version::v311, out).offset, 0u);  // flags
  EXPECT_EQ(decode(hex("10 0F 00 04 'MQTT' 04 03 00 3C 00 03 'abc'"), Version::v311, out).offset,
            9u);  // connect flags
  EXPECT_EQ(decode(packet(0x30, str("t") + props(hex("11 00 00 00 01"))), Version::v5, out).offset,
            6u);  // the property identifier
  EXPECT_EQ(
      decode(packet(0x30, str("t") + props(hex("11 00 00 00 01"))), Version::v5, out).property_id,
      0x11);
  EXPECT_EQ(decode(hex("C0 00"), Version::v5, out).property_id, 0);
}

TEST(CodecError, ToStringNamesPacketMessageAndReason) {
  Error error = make_error(ReasonCode::TopicFilterInvalid, "topic filter is empty", 12);
  error.packet_type = static_cast<std::uint8_t>(PacketType::Subscribe);
  const std::string text = to_string(error);
  EXPECT_NE(text.find("SUBSCRIBE"), std::string::npos) << text;
  EXPECT_NE(text.find("topic filter is empty"), std::string::npos) << text;
  EXPECT_NE(text.find("Topic Filter invalid"), std::string::npos) << text;
  EXPECT_NE(text.find("12"), std::string::npos) << text;
  EXPECT_FALSE(Error{});
  EXPECT_TRUE(error);
}

}  // namespace
}  // namespace psos::mqtt
