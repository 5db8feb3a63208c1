// CONNECT and CONNACK against the bytes of the specifications: MQTT 3.1.1 (3.1, 3.2) and MQTT 5.0
// (3.1, 3.2), and every rule a receiver of these packets must enforce.
#include <gtest/gtest.h>

#include <initializer_list>
#include <string>

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

constexpr auto kConnect = PacketType::Connect;
constexpr auto kConnack = PacketType::Connack;
constexpr auto kMalformed = ReasonCode::MalformedPacket;
constexpr auto kProtocolError = ReasonCode::ProtocolError;

// A CONNECT body after the protocol name and level: flags, keep alive 60, then `rest`.
std::string connect_v311(std::uint8_t flags, std::string_view rest) {
  return packet(0x10, str("MQTT") + "\x04" + std::string(1, static_cast<char>(flags)) +
                          test::u16(60) + std::string(rest));
}
std::string connect_v5(std::uint8_t flags, std::string_view properties, std::string_view rest) {
  return packet(0x10, str("MQTT") + "\x05" + std::string(1, static_cast<char>(flags)) +
                          test::u16(60) + props(properties) + std::string(rest));
}

// Spec 3.1.1 figure 3.2-3.6: protocol name "MQTT", level 4, Clean Session, Keep Alive 60.
TEST(CodecConnect, V311MinimalMatchesSpecBytes) {
  Connect connect;
  connect.version = Version::v311;
  connect.client_id = "abc";
  const std::string bytes = hex("10 0F 00 04 'MQTT' 04 02 00 3C 00 03 'abc'");
  EXPECT_EQ(to_hex(encode_ok(connect, Version::v311)), to_hex(bytes));

  const auto decoded = decode_as<Connect>(bytes, Version::v311);
  EXPECT_EQ(decoded.version, Version::v311);
  EXPECT_EQ(decoded.client_id, "abc");
  EXPECT_TRUE(decoded.clean_start);
  EXPECT_EQ(decoded.keep_alive, 60);
  EXPECT_FALSE(decoded.username);
  EXPECT_FALSE(decoded.password);
  EXPECT_FALSE(decoded.will);
  EXPECT_EQ(decoded, connect);
}

// Every optional payload field in the order of spec 3.1.3: client id, will topic, will message,
// user name, password. Flags 0xEE: user name, password, will retain, will QoS 1, will, clean.
TEST(CodecConnect, V311WithWillAndCredentialsMatchesSpecBytes) {
  Connect connect;
  connect.version = Version::v311;
  connect.client_id = "cid";
  connect.keep_alive = 10;
  connect.username = "u";
  connect.password = "p";
  connect.will = Will{"w/t", "bye", QoS::AtLeastOnce, true, {}};
  const std::string bytes =
      hex("10 1F 00 04 'MQTT' 04 EE 00 0A 00 03 'cid' 00 03 'w/t' 00 03 'bye' 00 01 'u' 00 01 'p'");
  EXPECT_EQ(to_hex(encode_ok(connect, Version::v311)), to_hex(bytes));

  const auto decoded = decode_as<Connect>(bytes, Version::v311);
  EXPECT_EQ(decoded.client_id, "cid");
  EXPECT_EQ(decoded.keep_alive, 10);
  EXPECT_EQ(decoded.username, "u");
  EXPECT_EQ(decoded.password, "p");
  ASSERT_TRUE(decoded.will);
  EXPECT_EQ(decoded.will->topic, "w/t");
  EXPECT_EQ(decoded.will->payload, "bye");
  EXPECT_EQ(decoded.will->qos, QoS::AtLeastOnce);
  EXPECT_TRUE(decoded.will->retain);
  EXPECT_EQ(decoded, connect);
}

// Spec 5.0 3.1.2: level 5 and a property length after Keep Alive.
TEST(CodecConnect, V5MinimalMatchesSpecBytes) {
  Connect connect;
  connect.client_id = "abc";
  const std::string bytes = hex("10 10 00 04 'MQTT' 05 02 00 3C 00 00 03 'abc'");
  EXPECT_EQ(to_hex(encode_ok(connect, Version::v5)), to_hex(bytes));

  const auto decoded = decode_as<Connect>(bytes, Version::v5);
  EXPECT_EQ(decoded.version, Version::v5);
  EXPECT_TRUE(decoded.properties.empty());
  EXPECT_EQ(decoded, connect);
}

// Spec 5.0 3.1.2.11 and 3.1.3.2: CONNECT properties before the client id, will properties before
// the will topic.
TEST(CodecConnect, V5WithWillPropertiesMatchesSpecBytes) {
  Connect connect;
  connect.client_id = "cid";
  connect.keep_alive = 10;
  connect.username = "u";
  connect.password = "p";
  connect.properties.session_expiry_interval = 3600;
  Will will{"w/t", "bye", QoS::AtLeastOnce, true, {}};
  will.properties.will_delay_interval = 5;
  connect.will = will;
  const std::string bytes =
      hex("10 2B 00 04 'MQTT' 05 EE 00 0A 05 11 00 00 0E 10 00 03 'cid'"
          " 05 18 00 00 00 05 00 03 'w/t' 00 03 'bye' 00 01 'u' 00 01 'p'");
  EXPECT_EQ(to_hex(encode_ok(connect, Version::v5)), to_hex(bytes));

  const auto decoded = decode_as<Connect>(bytes, Version::v5);
  EXPECT_EQ(decoded.properties.session_expiry_interval, 3600u);
  ASSERT_TRUE(decoded.will);
  EXPECT_EQ(decoded.will->properties.will_delay_interval, 5u);
  EXPECT_FALSE(decoded.properties.will_delay_interval);
  EXPECT_EQ(decoded, connect);
}

TEST(CodecConnect, WillQos2AndCleanStartFalseRoundTrip) {
  for (const Version version : {Version::v311, Version::v5}) {
    Connect connect;
    connect.version = version;
    connect.client_id = "c";
    connect.clean_start = false;
    connect.keep_alive = 0;
    connect.will = Will{"t", "", QoS::ExactlyOnce, false, {}};
    const std::string bytes = encode_ok(connect, version);
    // Flags: will QoS 2 (0x10) | will (0x04); no clean start.
    EXPECT_EQ(static_cast<unsigned char>(bytes[9]), 0x14) << to_hex(bytes);
    EXPECT_EQ(decode_as<Connect>(bytes, version), connect);
  }
}

// CONNECT carries its own protocol level, whatever the session thinks.
TEST(CodecConnect, DecodesItsOwnVersion) {
  EXPECT_EQ(decode_as<Connect>(hex("10 10 00 04 'MQTT' 05 02 00 3C 00 00 03 'abc'"), Version::v311)
                .version,
            Version::v5);
  EXPECT_EQ(
      decode_as<Connect>(hex("10 0F 00 04 'MQTT' 04 02 00 3C 00 03 'abc'"), Version::v5).version,
      Version::v311);
}

// A zero-length client id is well formed (spec 3.1.3.1); whether it is accepted is the server's
// decision, not the codec's.
TEST(CodecConnect, EmptyClientIdIsWellFormed) {
  EXPECT_EQ(decode_as<Connect>(connect_v311(0x02, str("")), Version::v311).client_id, "");
  EXPECT_EQ(decode_as<Connect>(connect_v5(0x02, "", str("")), Version::v5).client_id, "");
}

// Password, will payload and authentication data are Binary Data: any bytes.
TEST(CodecConnect, BinaryFieldsAcceptAnyBytes) {
  const std::string binary("\x00\xFF\xC0\x80\xED\xA0\x80", 7);
  const std::string bytes =
      connect_v311(0xC6, str("c") + str("t") + str(binary) + str("u") + str(binary));
  const auto decoded = decode_as<Connect>(bytes, Version::v311);
  EXPECT_EQ(decoded.password, binary);
  ASSERT_TRUE(decoded.will);
  EXPECT_EQ(decoded.will->payload, binary);
}

// Spec 5.0 3.1.2.9: the v5 password flag no longer needs the user name flag.
TEST(CodecConnect, V5AllowsPasswordWithoutUserName) {
  const std::string bytes = connect_v5(0x42, "", str("c") + str("secret"));
  const auto decoded = decode_as<Connect>(bytes, Version::v5);
  EXPECT_FALSE(decoded.username);
  EXPECT_EQ(decoded.password, "secret");
  EXPECT_EQ(to_hex(encode_ok(decoded, Version::v5)), to_hex(bytes));
}

// Spec 3.1.1 3.1.2.9 [MQTT-3.1.2-22]: "If the User Name Flag is set to 0, the Password Flag MUST
// be set to 0". v3.1.1 names no reason code; like the other bad connect-flag combinations it is
// reported as a Malformed Packet.
TEST(CodecConnect, V311RejectsPasswordWithoutUserName) {
  EXPECT_TRUE(DecodeFails(connect_v311(0x42, str("c") + str("secret")), Version::v311, kMalformed,
                          kConnect));
}

// Spec 5.0 3.1.2.1 / 3.1.1 3.1.2.1: the name must be "MQTT", capitalised as shown; a server
// must not go on processing the packet by this specification. The specification names no code;
// the codec answers 0x84 Unsupported Protocol Version, as for MQTT 3.1's "MQIsdp".
TEST(CodecConnect, RejectsOtherProtocolNames) {
  for (const std::string_view name : {"MQTX", "mqtt", "MQTTT", "MQ", ""}) {
    const std::string bytes = packet(0x10, str(name) + hex("04 02 00 3C") + str("c"));
    EXPECT_TRUE(DecodeFails(bytes, Version::v311, ReasonCode::UnsupportedProtocolVersion, kConnect))
        << name;
  }
}

// MQTT 3.1 ("MQIsdp", level 3) and any level other than 4 and 5 (spec 5.0 3.1.2.2: "MAY send a
// CONNACK packet with Reason Code 0x84 (Unsupported Protocol Version)"; 3.1.1 3.1.2.2
// [MQTT-3.1.2-2] return code 0x01).
TEST(CodecConnect, RejectsUnsupportedProtocolLevels) {
  for (const int level : {0, 1, 2, 3, 6, 7, 0x84, 0xFF}) {
    const std::string bytes = packet(
        0x10, str("MQTT") + std::string(1, static_cast<char>(level)) + hex("02 00 3C") + str("c"));
    EXPECT_TRUE(DecodeFails(bytes, Version::v5, ReasonCode::UnsupportedProtocolVersion, kConnect))
        << level;
  }
  EXPECT_TRUE(DecodeFails(packet(0x10, str("MQIsdp") + hex("03 02 00 3C") + str("c")),
                          Version::v311, ReasonCode::UnsupportedProtocolVersion, kConnect));
}

// Spec 5.0 2.1.3 / 3.1.1 2.2.2: CONNECT's fixed header flags are reserved, 0000; "If invalid flags
// are received it is a Malformed Packet".
TEST(CodecConnect, RejectsReservedFixedHeaderFlags) {
  for (const std::uint8_t first :
       std::initializer_list<std::uint8_t>{0x11, 0x12, 0x14, 0x18, 0x1F}) {
    std::string bytes = connect_v311(0x02, str("c"));
    bytes[0] = static_cast<char>(first);
    EXPECT_TRUE(DecodeFails(bytes, Version::v311, kMalformed, kConnect));
    bytes = connect_v5(0x02, "", str("c"));
    bytes[0] = static_cast<char>(first);
    EXPECT_TRUE(DecodeFails(bytes, Version::v5, kMalformed, kConnect));
  }
}

// Spec 5.0 3.1.2.3 [MQTT-3.1.2-3]: "If the reserved flag is not 0 it is a Malformed Packet."
// 3.1.1 3.1.2.3 [MQTT-3.1.2-3] likewise.
TEST(CodecConnect, RejectsReservedConnectFlag) {
  EXPECT_TRUE(DecodeFails(connect_v311(0x03, str("c")), Version::v311, kMalformed, kConnect));
  EXPECT_TRUE(DecodeFails(connect_v5(0x03, "", str("c")), Version::v5, kMalformed, kConnect));
}

// Spec 5.0 3.1.2.6 "A value of 3 (0x03) is a Malformed Packet" [MQTT-3.1.2-12]; 3.1.1 3.1.2.6
// [MQTT-3.1.2-14] "MUST NOT be 3".
TEST(CodecConnect, RejectsWillQos3) {
  const std::string will = str("t") + str("m");
  EXPECT_TRUE(
      DecodeFails(connect_v311(0x1E, str("c") + will), Version::v311, kMalformed, kConnect));
  EXPECT_TRUE(DecodeFails(connect_v5(0x1E, "", str("c") + props("") + will), Version::v5,
                          kMalformed, kConnect));
}

// Spec 5.0 3.1.2.6 [MQTT-3.1.2-11] and 3.1.2.7 [MQTT-3.1.2-13]: without the will flag, will QoS
// and will retain MUST be 0. Like will QoS 3, a bad combination in the connect flags byte makes
// the packet malformed.
TEST(CodecConnect, RejectsWillQosOrRetainWithoutWillFlag) {
  for (const std::uint8_t flags : std::initializer_list<std::uint8_t>{0x0A, 0x12, 0x22, 0x3A}) {
    EXPECT_TRUE(DecodeFails(connect_v311(flags, str("c")), Version::v311, kMalformed, kConnect))
        << static_cast<int>(flags);
    EXPECT_TRUE(DecodeFails(connect_v5(flags, "", str("c")), Version::v5, kMalformed, kConnect))
        << static_cast<int>(flags);
  }
}

// The will topic is the topic name the will is published to (spec 5.0 3.1.3.3): no wildcards
// (4.7.1, [MQTT-3.3.2-2]), at least one character (4.7.3 [MQTT-4.7.3-1]).
TEST(CodecConnect, RejectsInvalidWillTopic) {
  for (const std::string_view topic : {"a/#", "+", "a/+/b", ""}) {
    EXPECT_TRUE(DecodeFails(connect_v311(0x06, str("c") + str(topic) + str("m")), Version::v311,
                            ReasonCode::TopicNameInvalid, kConnect))
        << topic;
    EXPECT_TRUE(DecodeFails(connect_v5(0x06, "", str("c") + props("") + str(topic) + str("m")),
                            Version::v5, ReasonCode::TopicNameInvalid, kConnect))
        << topic;
  }
}

// Spec 1.5.4: client id, will topic and user name are UTF-8 Encoded Strings; ill-formed UTF-8 or
// U+0000 "is a Malformed Packet" [MQTT-1.5.4-1] [MQTT-1.5.4-2].
TEST(CodecConnect, RejectsInvalidUtf8InStrings) {
  for (const std::string_view bad : test::kBadUtf8) {
    SCOPED_TRACE(to_hex(bad));
    EXPECT_TRUE(DecodeFails(connect_v311(0x02, str(bad)), Version::v311, kMalformed, kConnect));
    EXPECT_TRUE(DecodeFails(connect_v5(0x02, "", str(bad)), Version::v5, kMalformed, kConnect));
    EXPECT_TRUE(DecodeFails(connect_v311(0x06, str("c") + str(bad) + str("m")), Version::v311,
                            kMalformed, kConnect));
    EXPECT_TRUE(
        DecodeFails(connect_v311(0x82, str("c") + str(bad)), Version::v311, kMalformed, kConnect));
    EXPECT_TRUE(
        DecodeFails(connect_v5(0x82, "", str("c") + str(bad)), Version::v5, kMalformed, kConnect));
  }
}

TEST(CodecConnect, AcceptsMultiByteUtf8) {
  const std::string id = "\xC3\xA9t\xC3\xA9-\xE2\x82\xAC-\xF0\x9F\x98\x80-\xEF\xBF\xBF";
  EXPECT_EQ(decode_as<Connect>(connect_v5(0x02, "", str(id)), Version::v5).client_id, id);
}

// Every field cut short: the protocol name, level, flags, keep alive, property length and
// properties, client id, will properties, will topic, will message, user name and password.
TEST(CodecConnect, RejectsEveryTruncation) {
  const std::string v311 =
      hex("10 1F 00 04 'MQTT' 04 EE 00 0A 00 03 'cid' 00 03 'w/t' 00 03 'bye' 00 01 'u' 00 01 'p'");
  EXPECT_TRUE(test::EveryTruncationIsMalformed(v311, Version::v311, v311.size()));
  const std::string v5 =
      hex("10 2B 00 04 'MQTT' 05 EE 00 0A 05 11 00 00 0E 10 00 03 'cid'"
          " 05 18 00 00 00 05 00 03 'w/t' 00 03 'bye' 00 01 'u' 00 01 'p'");
  EXPECT_TRUE(test::EveryTruncationIsMalformed(v5, Version::v5, v5.size()));
}

// Bytes after the last field the flags announce.
TEST(CodecConnect, RejectsTrailingBytes) {
  EXPECT_TRUE(DecodeFails(connect_v311(0x02, str("c") + "x"), Version::v311, kMalformed, kConnect));
  EXPECT_TRUE(DecodeFails(connect_v311(0xC2, str("c") + str("u") + str("p") + "x"), Version::v311,
                          kMalformed, kConnect));
  EXPECT_TRUE(DecodeFails(connect_v5(0x02, "", str("c") + "x"), Version::v5, kMalformed, kConnect));
  // A user name the flags do not announce is a trailing field.
  EXPECT_TRUE(
      DecodeFails(connect_v5(0x02, "", str("c") + str("u")), Version::v5, kMalformed, kConnect));
}

// Spec 5.0 2.2.2.2: "A Control Packet which contains an Identifier which is not valid for its
// packet type ... is a Malformed Packet." Topic Alias belongs to PUBLISH; Will Delay Interval to
// the will properties; Session Expiry Interval to CONNECT itself.
TEST(CodecConnect, V5RejectsPropertiesOfOtherPackets) {
  EXPECT_TRUE(
      DecodeFails(connect_v5(0x02, hex("23 00 01"), str("c")), Version::v5, kMalformed, kConnect));
  EXPECT_TRUE(DecodeFails(connect_v5(0x02, hex("18 00 00 00 01"), str("c")), Version::v5,
                          kMalformed, kConnect));
  EXPECT_TRUE(DecodeFails(
      connect_v5(0x06, "", str("c") + props(hex("11 00 00 00 01")) + str("t") + str("m")),
      Version::v5, kMalformed, kConnect));
}

// Spec 5.0 3.1.2.11.2: "It is a Protocol Error to include the Session Expiry Interval more than
// once"; 3.1.3.2.2 likewise for the Will Delay Interval.
TEST(CodecConnect, V5RejectsRepeatedProperties) {
  EXPECT_TRUE(DecodeFails(connect_v5(0x02, hex("11 00 00 00 01 11 00 00 00 02"), str("c")),
                          Version::v5, kProtocolError, kConnect));
  EXPECT_TRUE(DecodeFails(
      connect_v5(0x06, "",
                 str("c") + props(hex("18 00 00 00 01 18 00 00 00 01")) + str("t") + str("m")),
      Version::v5, kProtocolError, kConnect));
}

// Spec 5.0 3.1.2.11.10: "It is a Protocol Error to include Authentication Data if there is no
// Authentication Method."
TEST(CodecConnect, V5RejectsAuthenticationDataWithoutMethod) {
  EXPECT_TRUE(DecodeFails(connect_v5(0x02, hex("16 00 01 'x'"), str("c")), Version::v5,
                          kProtocolError, kConnect));
  const std::string bytes = connect_v5(0x02, hex("15 00 05 'SCRAM' 16 00 01 'x'"), str("c"));
  const auto ok = decode_as<Connect>(bytes, Version::v5);
  EXPECT_EQ(ok.properties.authentication_method, "SCRAM");
  EXPECT_EQ(ok.properties.authentication_data, "x");
}

// v5-only fields are ignored when encoding v3.1.1 (packets.hpp).
TEST(CodecConnect, V311EncodingIgnoresProperties) {
  Connect connect;
  connect.version = Version::v311;
  connect.client_id = "cid";
  connect.keep_alive = 10;
  connect.username = "u";
  connect.password = "p";
  connect.properties.session_expiry_interval = 3600;
  Will will{"w/t", "bye", QoS::AtLeastOnce, true, {}};
  will.properties.will_delay_interval = 5;
  connect.will = will;
  EXPECT_EQ(to_hex(encode_ok(connect, Version::v311)),
            to_hex(hex("10 1F 00 04 'MQTT' 04 EE 00 0A 00 03 'cid' 00 03 'w/t' 00 03 'bye'"
                       " 00 01 'u' 00 01 'p'")));
}

// Spec 3.1.1 3.2: CONNACK is 20 02, acknowledge flags, return code.
TEST(CodecConnack, V311MatchesSpecBytes) {
  Connack connack;
  EXPECT_EQ(to_hex(encode_ok(connack, Version::v311)), to_hex(hex("20 02 00 00")));
  connack.session_present = true;
  EXPECT_EQ(to_hex(encode_ok(connack, Version::v311)), to_hex(hex("20 02 01 00")));
  EXPECT_EQ(decode_as<Connack>(hex("20 02 01 00"), Version::v311), connack);
  EXPECT_EQ(decode_as<Connack>(hex("20 02 00 00"), Version::v311), Connack{});
}

// Spec 3.1.1 table 3.1: return codes 0-5, mapped to the v5 reason codes of the same meaning.
TEST(CodecConnack, V311ReturnCodesMapToReasonCodes) {
  const ReasonCode reasons[] = {ReasonCode::Success,
                                ReasonCode::UnsupportedProtocolVersion,
                                ReasonCode::ClientIdentifierNotValid,
                                ReasonCode::ServerUnavailable,
                                ReasonCode::BadUserNameOrPassword,
                                ReasonCode::NotAuthorized};
  for (std::uint8_t code = 0; code < 6; ++code) {
    SCOPED_TRACE(static_cast<int>(code));
    EXPECT_EQ(to_v3_connack(reasons[code]), code);
    EXPECT_EQ(from_v3_connack(code), reasons[code]);
    const std::string bytes = hex("20 02 00") + std::string(1, static_cast<char>(code));
    Connack connack;
    connack.reason = reasons[code];
    EXPECT_EQ(to_hex(encode_ok(connack, Version::v311)), to_hex(bytes));
    EXPECT_EQ(decode_as<Connack>(bytes, Version::v311).reason, reasons[code]);
  }
  EXPECT_EQ(from_v3_connack(6), ReasonCode::UnspecifiedError);
  EXPECT_EQ(from_v3_connack(0xFF), ReasonCode::UnspecifiedError);
}

// A 3.1.1-only server refuses a v5 CONNECT with a 3.1.1 CONNACK (return code 1, no properties):
// a v5 client reads it as Unsupported Protocol Version, so that it can fall back to 3.1.1. Any
// other 2-byte CONNACK is still malformed for v5.
TEST(CodecConnack, V5ClientReadsAV311VersionRefusal) {
  EXPECT_EQ(decode_as<Connack>(hex("20 02 00 01"), Version::v5).reason,
            ReasonCode::UnsupportedProtocolVersion);
  EXPECT_TRUE(DecodeFails(hex("20 02 00 00"), Version::v5, kMalformed, kConnack));
  EXPECT_TRUE(DecodeFails(hex("20 02 00 05"), Version::v5, kMalformed, kConnack));
  EXPECT_TRUE(DecodeFails(hex("20 02 01 01"), Version::v5, ReasonCode::ProtocolError, kConnack));
}

// Spec 5.0 3.2: flags, reason code, properties (always present in CONNACK).
TEST(CodecConnack, V5MatchesSpecBytes) {
  Connack connack;
  EXPECT_EQ(to_hex(encode_ok(connack, Version::v5)), to_hex(hex("20 03 00 00 00")));
  EXPECT_EQ(decode_as<Connack>(hex("20 03 00 00 00"), Version::v5), connack);

  connack.session_present = true;
  connack.properties.receive_maximum = 10;
  const std::string bytes = hex("20 06 01 00 03 21 00 0A");
  EXPECT_EQ(to_hex(encode_ok(connack, Version::v5)), to_hex(bytes));
  EXPECT_EQ(decode_as<Connack>(bytes, Version::v5), connack);

  Connack refused;
  refused.reason = ReasonCode::Banned;
  EXPECT_EQ(to_hex(encode_ok(refused, Version::v5)), to_hex(hex("20 03 00 8A 00")));
  EXPECT_EQ(decode_as<Connack>(hex("20 03 00 8A 00"), Version::v5), refused);
}

TEST(CodecConnack, RejectsReservedFixedHeaderFlags) {
  EXPECT_TRUE(DecodeFails(hex("21 02 00 00"), Version::v311, kMalformed, kConnack));
  EXPECT_TRUE(DecodeFails(hex("28 03 00 00 00"), Version::v5, kMalformed, kConnack));
}

// Spec 5.0 3.2.2.1 [MQTT-3.2.2-1] and 3.1.1 3.2.2.1: bits 7-1 of the acknowledge flags are
// reserved and MUST be 0.
TEST(CodecConnack, RejectsReservedAcknowledgeFlags) {
  EXPECT_TRUE(DecodeFails(hex("20 02 02 00"), Version::v311, kMalformed, kConnack));
  EXPECT_TRUE(DecodeFails(hex("20 03 80 00 00"), Version::v5, kMalformed, kConnack));
}

TEST(CodecConnack, RejectsTruncationAndTrailingBytes) {
  EXPECT_TRUE(test::EveryTruncationIsMalformed(hex("20 02 00 00"), Version::v311, 2));
  // The v5 property length is not optional in CONNACK.
  EXPECT_TRUE(test::EveryTruncationIsMalformed(hex("20 06 01 00 03 21 00 0A"), Version::v5, 6));
  EXPECT_TRUE(DecodeFails(hex("20 03 00 00 00"), Version::v311, kMalformed, kConnack));
  EXPECT_TRUE(DecodeFails(hex("20 04 00 00 00 00"), Version::v5, kMalformed, kConnack));
}

// Spec 5.0 3.2.2.2: an unknown reason code is not a CONNACK reason code.
TEST(CodecConnack, V5RejectsUnknownReasonCode) {
  EXPECT_TRUE(DecodeFails(hex("20 03 00 05 00"), Version::v5, kProtocolError, kConnack));
}

// Spec 5.0 3.2.2.3: CONNACK properties out of range are Protocol Errors.
TEST(CodecConnack, V5RejectsPropertyValuesOutOfRange) {
  const char* cases[] = {
      "21 00 00",        // Receive Maximum 0 (3.2.2.3.3)
      "27 00 00 00 00",  // Maximum Packet Size 0 (3.2.2.3.6)
      "24 02",           // Maximum QoS 2 (3.2.2.3.4)
      "25 02",           // Retain Available 2 (3.2.2.3.5)
      "28 02",           // Wildcard Subscription Available 2 (3.2.2.3.11)
      "29 02",           // Subscription Identifiers Available 2 (3.2.2.3.12)
      "2A 02",           // Shared Subscription Available 2 (3.2.2.3.13)
  };
  for (const char* property : cases) {
    EXPECT_TRUE(DecodeFails(packet(0x20, hex("00 00") + props(hex(property))), Version::v5,
                            kProtocolError, kConnack))
        << property;
  }
  // The boundaries themselves are valid.
  const auto ok = decode_as<Connack>(
      packet(0x20, hex("00 00") + props(hex("21 00 01 27 00 00 00 01 24 01 25 00"))), Version::v5);
  EXPECT_EQ(ok.properties.receive_maximum, 1);
  EXPECT_EQ(ok.properties.maximum_packet_size, 1u);
  EXPECT_EQ(ok.properties.maximum_qos, 1);
  EXPECT_EQ(ok.properties.retain_available, 0);
}

}  // namespace
}  // namespace psos::mqtt
