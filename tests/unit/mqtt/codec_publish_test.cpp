// PUBLISH against the bytes of the specifications (3.1.1 section 3.3, 5.0 section 3.3) and the
// rules a receiver enforces: flags, QoS, packet identifier, topic name, topic alias.
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
using test::str;
using test::to_hex;

constexpr auto kPublish = PacketType::Publish;
constexpr auto kMalformed = ReasonCode::MalformedPacket;
constexpr auto kProtocolError = ReasonCode::ProtocolError;

Publish make_publish(std::string_view topic, std::string_view payload, QoS qos = QoS::AtMostOnce,
                     std::uint16_t packet_id = 0) {
  Publish publish;
  publish.topic = topic;
  publish.payload = payload;
  publish.qos = qos;
  publish.packet_id = packet_id;
  return publish;
}

TEST(CodecPublish, V311Qos0MatchesSpecBytes) {
  const Publish publish = make_publish("a/b", "hello");
  const std::string bytes = hex("30 0A 00 03 'a/b' 'hello'");
  EXPECT_EQ(to_hex(encode_ok(publish, Version::v311)), to_hex(bytes));
  const auto decoded = decode_as<Publish>(bytes, Version::v311);
  EXPECT_EQ(decoded.topic, "a/b");
  EXPECT_EQ(decoded.payload, "hello");
  EXPECT_EQ(decoded.qos, QoS::AtMostOnce);
  EXPECT_FALSE(decoded.retain);
  EXPECT_FALSE(decoded.dup);
  EXPECT_EQ(decoded.packet_id, 0);
  EXPECT_EQ(decoded, publish);
}

// Spec 3.3.1: DUP is bit 3, QoS bits 2-1, RETAIN bit 0; the packet identifier follows the topic.
TEST(CodecPublish, V311FlagsAndPacketIdMatchSpecBytes) {
  Publish publish = make_publish("a/b", "hello", QoS::AtLeastOnce, 7);
  publish.retain = true;
  publish.dup = true;
  const std::string bytes = hex("3B 0C 00 03 'a/b' 00 07 'hello'");
  EXPECT_EQ(to_hex(encode_ok(publish, Version::v311)), to_hex(bytes));
  const auto decoded = decode_as<Publish>(bytes, Version::v311);
  EXPECT_EQ(decoded.qos, QoS::AtLeastOnce);
  EXPECT_TRUE(decoded.retain);
  EXPECT_TRUE(decoded.dup);
  EXPECT_EQ(decoded.packet_id, 7);
  EXPECT_EQ(decoded, publish);

  const Publish qos2 = make_publish("a/b", "hello", QoS::ExactlyOnce, 0x1234);
  const std::string qos2_bytes = hex("34 0C 00 03 'a/b' 12 34 'hello'");
  EXPECT_EQ(to_hex(encode_ok(qos2, Version::v311)), to_hex(qos2_bytes));
  EXPECT_EQ(decode_as<Publish>(qos2_bytes, Version::v311), qos2);
}

// Spec 5.0 3.3.2: a property length follows the topic (and the packet identifier).
TEST(CodecPublish, V5MatchesSpecBytes) {
  const Publish publish = make_publish("a/b", "hello");
  const std::string bytes = hex("30 0B 00 03 'a/b' 00 'hello'");
  EXPECT_EQ(to_hex(encode_ok(publish, Version::v5)), to_hex(bytes));
  EXPECT_EQ(decode_as<Publish>(bytes, Version::v5), publish);

  Publish aliased = make_publish("a/b", "hello", QoS::ExactlyOnce, 10);
  aliased.properties.topic_alias = 5;
  const std::string aliased_bytes = hex("34 10 00 03 'a/b' 00 0A 03 23 00 05 'hello'");
  EXPECT_EQ(to_hex(encode_ok(aliased, Version::v5)), to_hex(aliased_bytes));
  const auto decoded = decode_as<Publish>(aliased_bytes, Version::v5);
  EXPECT_EQ(decoded.properties.topic_alias, 5);
  EXPECT_EQ(decoded, aliased);
}

// Spec 5.0 3.3.2.3.4: with a Topic Alias the topic name may be zero length.
TEST(CodecPublish, V5EmptyTopicWithTopicAlias) {
  Publish publish = make_publish("", "hello");
  publish.properties.topic_alias = 5;
  const std::string bytes = hex("30 0B 00 00 03 23 00 05 'hello'");
  EXPECT_EQ(to_hex(encode_ok(publish, Version::v5)), to_hex(bytes));
  const auto decoded = decode_as<Publish>(bytes, Version::v5);
  EXPECT_EQ(decoded.topic, "");
  EXPECT_EQ(decoded, publish);
}

TEST(CodecPublish, EmptyAndBinaryPayloads) {
  EXPECT_EQ(decode_as<Publish>(hex("30 05 00 03 'a/b'"), Version::v311).payload, "");
  EXPECT_EQ(decode_as<Publish>(hex("30 06 00 03 'a/b' 00"), Version::v5).payload, "");
  const std::string binary("\x00\xFF\xC0\x80\x00", 5);
  const Publish publish = make_publish("t", binary, QoS::AtLeastOnce, 1);
  for (const Version version : {Version::v311, Version::v5}) {
    EXPECT_EQ(decode_as<Publish>(encode_ok(publish, version), version), publish);
  }
}

// Topic names beginning with '$', containing spaces, or made of empty levels are valid.
TEST(CodecPublish, AcceptsUnusualButValidTopicNames) {
  for (const std::string_view topic : {"$SYS/broker", "/", "//", "a b", "\xC3\xA9"}) {
    const Publish publish = make_publish(topic, "x");
    EXPECT_EQ(decode_as<Publish>(encode_ok(publish, Version::v5), Version::v5).topic, topic);
  }
}

// v5-only fields are ignored when encoding v3.1.1.
TEST(CodecPublish, V311EncodingIgnoresProperties) {
  Publish publish = make_publish("a/b", "hello");
  publish.properties.message_expiry_interval = 60;
  publish.properties.user_properties.push_back({"k", "v"});
  EXPECT_EQ(to_hex(encode_ok(publish, Version::v311)), to_hex(hex("30 0A 00 03 'a/b' 'hello'")));
}

// Spec 5.0 3.3.4 [MQTT-3.3.4-6] forbids a client to send a Subscription Identifier, but the codec
// does not know the direction: it decodes the property and leaves the decision to the router.
TEST(CodecPublish, DecodesSubscriptionIdentifiersWhateverTheDirection) {
  const auto decoded = decode_as<Publish>(
      packet(0x30, str("t") + props(hex("0B 01 0B FF FF FF 7F")) + "x"), Version::v5);
  EXPECT_EQ(decoded.properties.subscription_identifiers,
            (std::vector<std::uint32_t>{1, 268'435'455}));
}

// Spec 5.0 3.3.1.2 [MQTT-3.3.1-4]: "If a Server or Client receives a PUBLISH packet which has
// both QoS bits set to 1 it is a Malformed Packet."
TEST(CodecPublish, RejectsQos3) {
  EXPECT_TRUE(DecodeFails(hex("36 07 00 03 'a/b' 00 01"), Version::v311, kMalformed, kPublish));
  EXPECT_TRUE(DecodeFails(hex("36 08 00 03 'a/b' 00 01 00"), Version::v5, kMalformed, kPublish));
}

// Spec 5.0 3.3.1.1 / 3.1.1 3.3.1.1 [MQTT-3.3.1-2]: "The DUP flag MUST be set to 0 for all QoS 0
// messages." A fixed-header flag combination the specification forbids: Malformed Packet, like
// the other invalid fixed-header flags (5.0 2.1.3).
TEST(CodecPublish, RejectsDupOnQos0) {
  EXPECT_TRUE(DecodeFails(hex("38 05 00 03 'a/b'"), Version::v311, kMalformed, kPublish));
  EXPECT_TRUE(DecodeFails(hex("38 06 00 03 'a/b' 00"), Version::v5, kMalformed, kPublish));
}

// Spec 5.0 2.2.1 [MQTT-2.2.1-3] / 3.1.1 2.3.1 [MQTT-2.3.1-1]: a QoS > 0 PUBLISH MUST carry a
// non-zero packet identifier. The packet parses; its data is not allowed: Protocol Error.
TEST(CodecPublish, RejectsPacketIdZero) {
  for (const std::uint8_t first : std::initializer_list<std::uint8_t>{0x32, 0x34}) {
    EXPECT_TRUE(DecodeFails(packet(first, str("a/b") + test::u16(0)), Version::v311, kProtocolError,
                            kPublish));
    EXPECT_TRUE(DecodeFails(packet(first, str("a/b") + test::u16(0) + props("")), Version::v5,
                            kProtocolError, kPublish));
  }
}

// Spec 5.0 3.3.2.1 [MQTT-3.3.2-2]: "The Topic Name in the PUBLISH packet MUST NOT contain
// wildcard characters"; the v5 reason code is 0x90 Topic Name invalid.
TEST(CodecPublish, RejectsWildcardsInTopicName) {
  for (const std::string_view topic : {"a/+", "a/#", "#", "+", "a+b", "sport/tennis#"}) {
    EXPECT_TRUE(DecodeFails(packet(0x30, str(topic) + "x"), Version::v311,
                            ReasonCode::TopicNameInvalid, kPublish))
        << topic;
    EXPECT_TRUE(DecodeFails(packet(0x30, str(topic) + props("") + "x"), Version::v5,
                            ReasonCode::TopicNameInvalid, kPublish))
        << topic;
  }
}

// Spec 5.0 3.3.2.1: "It is a Protocol Error if the Topic Name is zero length and there is no
// Topic Alias."
TEST(CodecPublish, V5RejectsEmptyTopicWithoutTopicAlias) {
  EXPECT_TRUE(DecodeFails(hex("30 05 00 00 00 'HI'"), Version::v5, kProtocolError, kPublish));
  EXPECT_TRUE(DecodeFails(packet(0x30, str("") + props(hex("01 01")) + "HI"), Version::v5,
                          kProtocolError, kPublish));
}

// Spec 3.1.1 4.7.3 [MQTT-4.7.3-1]: topic names MUST be at least one character long. v3.1.1 has
// no reason codes; the codec reports the topic-name rule that failed.
TEST(CodecPublish, V311RejectsEmptyTopic) {
  EXPECT_TRUE(
      DecodeFails(hex("30 04 00 00 'HI'"), Version::v311, ReasonCode::TopicNameInvalid, kPublish));
}

// Spec 1.5.4 [MQTT-1.5.4-1] [MQTT-1.5.4-2]: ill-formed UTF-8 or U+0000 in a UTF-8 Encoded String
// "is a Malformed Packet" (the topic name is one).
TEST(CodecPublish, RejectsInvalidUtf8InTopic) {
  for (const std::string_view bad : test::kBadUtf8) {
    EXPECT_TRUE(DecodeFails(packet(0x30, str(bad) + "x"), Version::v311, kMalformed, kPublish))
        << to_hex(bad);
    EXPECT_TRUE(
        DecodeFails(packet(0x30, str(bad) + props("") + "x"), Version::v5, kMalformed, kPublish))
        << to_hex(bad);
  }
}

// The topic, the packet identifier and the properties cut short; the payload may be any length.
TEST(CodecPublish, RejectsEveryTruncationBeforeThePayload) {
  const std::string v311 = hex("32 0C 00 03 'a/b' 00 07 'hello'");
  EXPECT_TRUE(test::EveryTruncationIsMalformed(v311, Version::v311, 7));
  EXPECT_EQ(decode_as<Publish>(packet(0x32, v311.substr(2, 7)), Version::v311).payload, "");
  const std::string v5 = hex("34 10 00 03 'a/b' 00 0A 03 23 00 05 'hello'");
  EXPECT_TRUE(test::EveryTruncationIsMalformed(v5, Version::v5, 11));
  EXPECT_EQ(decode_as<Publish>(packet(0x34, v5.substr(2, 11)), Version::v5).payload, "");
  // A topic length beyond the packet.
  EXPECT_TRUE(DecodeFails(hex("30 04 00 05 'a/'"), Version::v311, kMalformed, kPublish));
}

// Spec 5.0 2.2.2.2: a property the PUBLISH packet may not carry is a Malformed Packet.
TEST(CodecPublish, V5RejectsPropertiesOfOtherPackets) {
  for (const char* property : {"11 00 00 00 01", "21 00 01", "1F 00 01 'x'", "18 00 00 00 01"}) {
    EXPECT_TRUE(DecodeFails(packet(0x30, str("t") + props(hex(property))), Version::v5, kMalformed,
                            kPublish))
        << property;
  }
}

// Spec 5.0 3.3.2.3: each PUBLISH property but User Property and Subscription Identifier may appear
// once.
TEST(CodecPublish, V5RejectsRepeatedProperties) {
  for (const char* property :
       {"01 00", "02 00 00 00 01", "03 00 01 'x'", "08 00 01 'r'", "09 00 01 'c'", "23 00 01"}) {
    const std::string twice = hex(property) + hex(property);
    EXPECT_TRUE(
        DecodeFails(packet(0x30, str("t") + props(twice)), Version::v5, kProtocolError, kPublish))
        << property;
  }
}

// Spec 5.0 3.3.2.3.2 (Payload Format Indicator: 0 or 1), 3.3.2.3.8 (Subscription Identifier 0
// "is a Protocol Error").
TEST(CodecPublish, V5RejectsPropertyValuesOutOfRange) {
  for (const char* property : {"01 02", "01 FF", "0B 00"}) {
    EXPECT_TRUE(DecodeFails(packet(0x30, str("t") + props(hex(property))), Version::v5,
                            kProtocolError, kPublish))
        << property;
  }
}

// Spec 5.0 3.3.2.3.4 [MQTT-3.3.2-8]: "A Topic Alias of 0 is not permitted." No code is named;
// a receiver accepts only 1..Topic Alias Maximum ([MQTT-3.3.2-10], [MQTT-3.3.2-12]), so 0 is
// reported as 0x94 Topic Alias invalid.
TEST(CodecPublish, V5RejectsTopicAliasZero) {
  EXPECT_TRUE(DecodeFails(packet(0x30, str("t") + props(hex("23 00 00"))), Version::v5,
                          ReasonCode::TopicAliasInvalid, kPublish));
}

// Spec 5.0 3.3.2.3.5 [MQTT-3.3.2-14]: "The Response Topic MUST NOT contain wildcard characters".
// No code is named (0x90 is about the Topic Name); a property value the specification forbids is
// a Protocol Error.
TEST(CodecPublish, V5RejectsWildcardsInResponseTopic) {
  EXPECT_TRUE(DecodeFails(packet(0x30, str("t") + props(hex("08 00 03 'a/+'"))), Version::v5,
                          kProtocolError, kPublish));
  EXPECT_EQ(decode_as<Publish>(packet(0x30, str("t") + props(hex("08 00 03 'a/b'"))), Version::v5)
                .properties.response_topic,
            "a/b");
}

}  // namespace
}  // namespace psos::mqtt
