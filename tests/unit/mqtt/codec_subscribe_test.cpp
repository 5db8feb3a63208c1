// SUBSCRIBE, SUBACK, UNSUBSCRIBE and UNSUBACK (spec 3.1.1 3.8-3.11, 5.0 3.8-3.11): bytes, options,
// topic filters and the rules a receiver enforces.
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

constexpr auto kSubscribe = PacketType::Subscribe;
constexpr auto kSuback = PacketType::Suback;
constexpr auto kUnsubscribe = PacketType::Unsubscribe;
constexpr auto kUnsuback = PacketType::Unsuback;
constexpr auto kMalformed = ReasonCode::MalformedPacket;
constexpr auto kProtocolError = ReasonCode::ProtocolError;

// SUBSCRIBE with one filter and an options byte.
std::string subscribe_v311(std::string_view filter, std::uint8_t options) {
  return packet(0x82, hex("00 01") + str(filter) + std::string(1, static_cast<char>(options)));
}
std::string subscribe_v5(std::string_view filter, std::uint8_t options,
                         std::string_view properties = "") {
  return packet(0x82, hex("00 01") + props(properties) + str(filter) +
                          std::string(1, static_cast<char>(options)));
}

// Spec 3.1.1 3.8.3: topic filter, then the requested QoS byte.
TEST(CodecSubscribe, V311MatchesSpecBytes) {
  Subscribe subscribe;
  subscribe.packet_id = 10;
  subscribe.topics = {{"a/b", QoS::AtLeastOnce}, {"#", QoS::ExactlyOnce}};
  const std::string bytes = hex("82 0C 00 0A 00 03 'a/b' 01 00 01 '#' 02");
  EXPECT_EQ(to_hex(encode_ok(subscribe, Version::v311)), to_hex(bytes));
  const auto decoded = decode_as<Subscribe>(bytes, Version::v311);
  EXPECT_EQ(decoded.packet_id, 10);
  ASSERT_EQ(decoded.topics.size(), 2u);
  EXPECT_EQ(decoded.topics[0].filter, "a/b");
  EXPECT_EQ(decoded.topics[0].qos, QoS::AtLeastOnce);
  EXPECT_EQ(decoded.topics[1].filter, "#");
  EXPECT_EQ(decoded.topics[1].qos, QoS::ExactlyOnce);
  EXPECT_EQ(decoded, subscribe);
}

// Spec 5.0 3.8.3.1: options bits 0-1 QoS, 2 No Local, 3 Retain As Published, 4-5 Retain Handling.
// 0x2D = Retain Handling 2, Retain As Published, No Local, QoS 1.
TEST(CodecSubscribe, V5MatchesSpecBytes) {
  Subscribe subscribe;
  subscribe.packet_id = 10;
  subscribe.topics = {{"a/b", QoS::AtLeastOnce, true, true, RetainHandling::DoNotSend},
                      {"#", QoS::AtMostOnce}};
  const std::string bytes = hex("82 0D 00 0A 00 00 03 'a/b' 2D 00 01 '#' 00");
  EXPECT_EQ(to_hex(encode_ok(subscribe, Version::v5)), to_hex(bytes));
  const auto decoded = decode_as<Subscribe>(bytes, Version::v5);
  ASSERT_EQ(decoded.topics.size(), 2u);
  EXPECT_TRUE(decoded.topics[0].no_local);
  EXPECT_TRUE(decoded.topics[0].retain_as_published);
  EXPECT_EQ(decoded.topics[0].retain_handling, RetainHandling::DoNotSend);
  EXPECT_EQ(decoded, subscribe);

  // Retain Handling 1 alone: 0x10.
  Subscribe rh1;
  rh1.packet_id = 1;
  rh1.topics = {{"t", QoS::AtMostOnce, false, false, RetainHandling::SendIfNewSubscription}};
  const std::string rh1_bytes = hex("82 07 00 01 00 00 01 't' 10");
  EXPECT_EQ(to_hex(encode_ok(rh1, Version::v5)), to_hex(rh1_bytes));
  EXPECT_EQ(decode_as<Subscribe>(rh1_bytes, Version::v5), rh1);
}

// Spec 5.0 3.8.2.1.2: Subscription Identifier, a Variable Byte Integer (300 = AC 02).
TEST(CodecSubscribe, V5SubscriptionIdentifierMatchesSpecBytes) {
  Subscribe subscribe;
  subscribe.packet_id = 10;
  subscribe.topics = {{"a/b", QoS::AtLeastOnce}};
  subscribe.properties.subscription_identifiers = {300};
  const std::string bytes = hex("82 0C 00 0A 03 0B AC 02 00 03 'a/b' 01");
  EXPECT_EQ(to_hex(encode_ok(subscribe, Version::v5)), to_hex(bytes));
  EXPECT_EQ(decode_as<Subscribe>(bytes, Version::v5), subscribe);
}

TEST(CodecSubscribe, V311EncodingIgnoresV5Options) {
  Subscribe subscribe;
  subscribe.packet_id = 10;
  subscribe.topics = {{"a/b", QoS::AtLeastOnce, true, true, RetainHandling::DoNotSend}};
  subscribe.properties.subscription_identifiers = {300};
  EXPECT_EQ(to_hex(encode_ok(subscribe, Version::v311)), to_hex(hex("82 08 00 0A 00 03 'a/b' 01")));
}

TEST(CodecSubscribe, AcceptsValidFilters) {
  for (const std::string_view filter :
       {"#", "+", "+/+", "a/+/b", "a/#", "/", "$SYS/#", "$share/g/a/+", "$share/group/#", "a b"}) {
    EXPECT_EQ(decode_as<Subscribe>(subscribe_v5(filter, 0x01), Version::v5).topics.at(0).filter,
              filter);
  }
}

// Spec 5.0 2.1.3 / 3.8.1 [MQTT-3.8.1-1]: SUBSCRIBE's fixed header flags are 0010.
TEST(CodecSubscribe, RejectsReservedFixedHeaderFlags) {
  for (const std::uint8_t first :
       std::initializer_list<std::uint8_t>{0x80, 0x81, 0x83, 0x86, 0x8A}) {
    std::string bytes = subscribe_v311("a", 0);
    bytes[0] = static_cast<char>(first);
    EXPECT_TRUE(DecodeFails(bytes, Version::v311, kMalformed, kSubscribe));
    bytes = subscribe_v5("a", 0);
    bytes[0] = static_cast<char>(first);
    EXPECT_TRUE(DecodeFails(bytes, Version::v5, kMalformed, kSubscribe));
  }
}

// Spec 5.0 2.2.1 [MQTT-2.2.1-3].
TEST(CodecSubscribe, RejectsPacketIdZero) {
  EXPECT_TRUE(DecodeFails(packet(0x82, hex("00 00") + str("a") + "\x01"), Version::v311,
                          kProtocolError, kSubscribe));
  EXPECT_TRUE(DecodeFails(packet(0x82, hex("00 00 00") + str("a") + "\x01"), Version::v5,
                          kProtocolError, kSubscribe));
}

// Spec 5.0 3.8.3 [MQTT-3.8.3-2]: "A SUBSCRIBE packet with no Payload is a Protocol Error."
// 3.1.1 3.8.3 [MQTT-3.8.3-3]: "A SUBSCRIBE packet with no payload is a protocol violation."
TEST(CodecSubscribe, RejectsNoTopics) {
  EXPECT_TRUE(DecodeFails(hex("82 02 00 01"), Version::v311, kProtocolError, kSubscribe));
  EXPECT_TRUE(DecodeFails(hex("82 03 00 01 00"), Version::v5, kProtocolError, kSubscribe));
}

// Spec 3.1.1 3.8.3.1 [MQTT-3-8.3-4]: "The Server MUST treat a SUBSCRIBE packet as malformed ...
// if any of Reserved bits in the payload are non-zero, or QoS is not 0,1 or 2". In v3.1.1 bits
// 2-7 are reserved.
TEST(CodecSubscribe, V311RejectsReservedOptionBitsAndQos3) {
  for (const std::uint8_t options :
       std::initializer_list<std::uint8_t>{0x03, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80}) {
    EXPECT_TRUE(DecodeFails(subscribe_v311("a", options), Version::v311, kMalformed, kSubscribe))
        << static_cast<int>(options);
  }
}

// Spec 5.0 3.8.3.1 [MQTT-3.8.3-5]: reserved bits 6-7 non-zero: malformed.
TEST(CodecSubscribe, V5RejectsReservedOptionBits) {
  for (const std::uint8_t options : std::initializer_list<std::uint8_t>{0x40, 0x80, 0xC1}) {
    EXPECT_TRUE(DecodeFails(subscribe_v5("a", options), Version::v5, kMalformed, kSubscribe))
        << static_cast<int>(options);
  }
}

// Spec 5.0 3.8.3.1: "It is a Protocol Error if the Maximum QoS field has the value 3." and "It is
// a Protocol Error to send a Retain Handling value of 3."
TEST(CodecSubscribe, V5RejectsQos3AndRetainHandling3) {
  EXPECT_TRUE(DecodeFails(subscribe_v5("a", 0x03), Version::v5, kProtocolError, kSubscribe));
  EXPECT_TRUE(DecodeFails(subscribe_v5("a", 0x30), Version::v5, kProtocolError, kSubscribe));
}

// Spec 5.0 3.8.3.1 [MQTT-3.8.3-4]: "It is a Protocol Error to set the No Local bit to 1 on a
// Shared Subscription."
TEST(CodecSubscribe, V5RejectsNoLocalOnSharedSubscription) {
  EXPECT_TRUE(
      DecodeFails(subscribe_v5("$share/g/a", 0x04), Version::v5, kProtocolError, kSubscribe));
  EXPECT_TRUE(decode_as<Subscribe>(subscribe_v5("a", 0x04), Version::v5).topics.at(0).no_local);
}

// Spec 4.7.1 / 4.8.2: wildcards only as whole levels, '#' last; a share name is non-empty and has
// no wildcards; a shared subscription needs a filter. v5 reason 0x8F Topic Filter invalid.
TEST(CodecSubscribe, RejectsInvalidTopicFilters) {
  for (const std::string_view filter :
       {"", "a/#/b", "a#", "#a", "a/b#", "+a", "a+/b", "a/+b", "##", "$share/g", "$share/g/",
        "$share//a", "$share/g+/a", "$share/g#/a", "$share/g/a/#/b"}) {
    EXPECT_TRUE(DecodeFails(subscribe_v311(filter, 0), Version::v311,
                            ReasonCode::TopicFilterInvalid, kSubscribe))
        << filter;
    EXPECT_TRUE(DecodeFails(subscribe_v5(filter, 0), Version::v5, ReasonCode::TopicFilterInvalid,
                            kSubscribe))
        << filter;
  }
}

// Spec 1.5.4: a topic filter is a UTF-8 Encoded String.
TEST(CodecSubscribe, RejectsInvalidUtf8InFilter) {
  for (const std::string_view bad : test::kBadUtf8) {
    EXPECT_TRUE(DecodeFails(subscribe_v5(bad, 0), Version::v5, kMalformed, kSubscribe))
        << to_hex(bad);
    EXPECT_TRUE(DecodeFails(subscribe_v311(bad, 0), Version::v311, kMalformed, kSubscribe))
        << to_hex(bad);
  }
}

TEST(CodecSubscribe, RejectsTruncation) {
  // Packet identifier, property length, filter length, filter and options cut short. Body length
  // 3 (v5) / 2 (v3.1.1) is the empty payload, a Protocol Error tested above.
  const std::string v5 = hex("82 0D 00 0A 00 00 03 'a/b' 2D 00 01 '#' 00");
  EXPECT_TRUE(test::EveryTruncationIsMalformed(v5, Version::v5, 3));
  for (std::size_t length = 4; length < 9; ++length) {
    EXPECT_TRUE(DecodeFails(packet(0x82, std::string_view(v5).substr(2, length)), Version::v5,
                            kMalformed, kSubscribe))
        << length;
  }
  // A second filter cut short: its length, its bytes, its options.
  for (std::size_t length = 10; length < 13; ++length) {
    EXPECT_TRUE(DecodeFails(packet(0x82, std::string_view(v5).substr(2, length)), Version::v5,
                            kMalformed, kSubscribe))
        << length;
  }
  const std::string v311 = hex("82 0C 00 0A 00 03 'a/b' 01 00 01 '#' 02");
  EXPECT_TRUE(test::EveryTruncationIsMalformed(v311, Version::v311, 2));
  for (std::size_t length = 3; length < 8; ++length) {
    EXPECT_TRUE(DecodeFails(packet(0x82, std::string_view(v311).substr(2, length)), Version::v311,
                            kMalformed, kSubscribe))
        << length;
  }
}

// Spec 5.0 3.8.2.1: SUBSCRIBE carries Subscription Identifier (once, 1..268435455) and User
// Property.
TEST(CodecSubscribe, V5PropertyRules) {
  EXPECT_TRUE(
      DecodeFails(subscribe_v5("a", 0, hex("0B 00")), Version::v5, kProtocolError, kSubscribe));
  EXPECT_TRUE(DecodeFails(subscribe_v5("a", 0, hex("0B 01 0B 02")), Version::v5, kProtocolError,
                          kSubscribe));
  EXPECT_TRUE(
      DecodeFails(subscribe_v5("a", 0, hex("23 00 01")), Version::v5, kMalformed, kSubscribe));
  // A five-byte Variable Byte Integer.
  EXPECT_TRUE(DecodeFails(subscribe_v5("a", 0, hex("0B 80 80 80 80 01")), Version::v5, kMalformed,
                          kSubscribe));
  const std::string bytes = subscribe_v5("a", 0, hex("0B FF FF FF 7F 26 00 01 'k' 00 00"));
  const auto ok = decode_as<Subscribe>(bytes, Version::v5);
  EXPECT_EQ(ok.properties.subscription_identifiers, std::vector<std::uint32_t>{268'435'455});
  ASSERT_EQ(ok.properties.user_properties.size(), 1u);
  EXPECT_EQ(ok.properties.user_properties[0].name, "k");
  EXPECT_EQ(ok.properties.user_properties[0].value, "");
}

// Spec 3.1.1 3.9.3: return codes 0x00-0x02 and 0x80 (failure).
TEST(CodecSuback, V311MatchesSpecBytes) {
  Suback suback;
  suback.packet_id = 10;
  suback.reasons = {ReasonCode::GrantedQos1, ReasonCode::UnspecifiedError, ReasonCode::Success,
                    ReasonCode::GrantedQos2};
  const std::string bytes = hex("90 06 00 0A 01 80 00 02");
  EXPECT_EQ(to_hex(encode_ok(suback, Version::v311)), to_hex(bytes));
  EXPECT_EQ(decode_as<Suback>(bytes, Version::v311), suback);
}

// Spec 3.1.1 3.9.3 [MQTT-3.9.3-2]: "SUBACK return codes other than 0x00, 0x01, 0x02 and 0x80 are
// reserved and MUST NOT be used."
TEST(CodecSuback, V311RejectsOtherReturnCodes) {
  for (const char* code : {"03", "04", "81", "87", "FF"}) {
    EXPECT_TRUE(DecodeFails(hex("90 03 00 0A") + hex(code), Version::v311, kProtocolError, kSuback))
        << code;
  }
}

// Spec 5.0 3.9: packet identifier, properties, one reason code per filter.
TEST(CodecSuback, V5MatchesSpecBytes) {
  Suback suback;
  suback.packet_id = 10;
  suback.reasons = {ReasonCode::Success, ReasonCode::GrantedQos2, ReasonCode::NotAuthorized,
                    ReasonCode::WildcardSubscriptionsNotSupported};
  const std::string bytes = hex("90 07 00 0A 00 00 02 87 A2");
  EXPECT_EQ(to_hex(encode_ok(suback, Version::v5)), to_hex(bytes));
  EXPECT_EQ(decode_as<Suback>(bytes, Version::v5), suback);

  suback.reasons = {ReasonCode::GrantedQos1};
  suback.properties.reason_string = "ok";
  const std::string with_reason = hex("90 09 00 0A 05 1F 00 02 'ok' 01");
  EXPECT_EQ(to_hex(encode_ok(suback, Version::v5)), to_hex(with_reason));
  EXPECT_EQ(decode_as<Suback>(with_reason, Version::v5), suback);
}

TEST(CodecSuback, Rejections) {
  EXPECT_TRUE(DecodeFails(hex("92 03 00 0A 00"), Version::v311, kMalformed, kSuback));
  EXPECT_TRUE(DecodeFails(hex("91 04 00 0A 00 00"), Version::v5, kMalformed, kSuback));
  EXPECT_TRUE(DecodeFails(hex("90 03 00 00 00"), Version::v311, kProtocolError, kSuback));
  EXPECT_TRUE(DecodeFails(hex("90 04 00 00 00 00"), Version::v5, kProtocolError, kSuback));
  EXPECT_TRUE(DecodeFails(hex("90 04 00 0A 00 05"), Version::v5, kProtocolError, kSuback));
  EXPECT_TRUE(DecodeFails(hex("90 07 00 0A 03 23 00 01 00"), Version::v5, kMalformed, kSuback));
  EXPECT_TRUE(
      test::EveryTruncationIsMalformed(hex("90 09 00 0A 05 1F 00 02 'ok' 01"), Version::v5, 8));
  EXPECT_TRUE(test::EveryTruncationIsMalformed(hex("90 03 00 0A 01"), Version::v311, 2));
}

// Spec 3.1.1 3.10.3: a list of topic filters.
TEST(CodecUnsubscribe, V311MatchesSpecBytes) {
  Unsubscribe unsubscribe;
  unsubscribe.packet_id = 11;
  unsubscribe.filters = {"a/b", "#"};
  const std::string bytes = hex("A2 0A 00 0B 00 03 'a/b' 00 01 '#'");
  EXPECT_EQ(to_hex(encode_ok(unsubscribe, Version::v311)), to_hex(bytes));
  EXPECT_EQ(decode_as<Unsubscribe>(bytes, Version::v311), unsubscribe);
}

TEST(CodecUnsubscribe, V5MatchesSpecBytes) {
  Unsubscribe unsubscribe;
  unsubscribe.packet_id = 11;
  unsubscribe.filters = {"a/b", "#"};
  const std::string bytes = hex("A2 0B 00 0B 00 00 03 'a/b' 00 01 '#'");
  EXPECT_EQ(to_hex(encode_ok(unsubscribe, Version::v5)), to_hex(bytes));
  EXPECT_EQ(decode_as<Unsubscribe>(bytes, Version::v5), unsubscribe);

  unsubscribe.filters = {"$share/g/a"};
  unsubscribe.properties.user_properties.push_back({"k", "v"});
  const std::string with_user = hex("A2 16 00 0B 07 26 00 01 'k' 00 01 'v' 00 0A '$share/g/a'");
  EXPECT_EQ(to_hex(encode_ok(unsubscribe, Version::v5)), to_hex(with_user));
  EXPECT_EQ(decode_as<Unsubscribe>(with_user, Version::v5), unsubscribe);
}

// Spec 5.0 3.10.1 [MQTT-3.10.1-1]: flags 0010. 2.2.1: non-zero packet identifier. 3.10.3
// [MQTT-3.10.3-2]: "An UNSUBSCRIBE packet with no Payload is a Protocol Error."
TEST(CodecUnsubscribe, Rejections) {
  EXPECT_TRUE(
      DecodeFails(packet(0xA0, hex("00 01") + str("a")), Version::v311, kMalformed, kUnsubscribe));
  EXPECT_TRUE(
      DecodeFails(packet(0xA3, hex("00 01 00") + str("a")), Version::v5, kMalformed, kUnsubscribe));
  EXPECT_TRUE(DecodeFails(packet(0xA2, hex("00 00") + str("a")), Version::v311, kProtocolError,
                          kUnsubscribe));
  EXPECT_TRUE(DecodeFails(packet(0xA2, hex("00 00 00") + str("a")), Version::v5, kProtocolError,
                          kUnsubscribe));
  EXPECT_TRUE(DecodeFails(hex("A2 02 00 01"), Version::v311, kProtocolError, kUnsubscribe));
  EXPECT_TRUE(DecodeFails(hex("A2 03 00 01 00"), Version::v5, kProtocolError, kUnsubscribe));
  for (const std::string_view filter : {"", "a/#/b", "a+", "$share/g"}) {
    EXPECT_TRUE(DecodeFails(packet(0xA2, hex("00 01") + str(filter)), Version::v311,
                            ReasonCode::TopicFilterInvalid, kUnsubscribe))
        << filter;
    EXPECT_TRUE(DecodeFails(packet(0xA2, hex("00 01 00") + str(filter)), Version::v5,
                            ReasonCode::TopicFilterInvalid, kUnsubscribe))
        << filter;
  }
  for (const std::string_view bad : test::kBadUtf8) {
    EXPECT_TRUE(DecodeFails(packet(0xA2, hex("00 01 00") + str(bad)), Version::v5, kMalformed,
                            kUnsubscribe))
        << to_hex(bad);
  }
  // Subscription Identifier belongs to SUBSCRIBE only.
  EXPECT_TRUE(DecodeFails(packet(0xA2, hex("00 01") + props(hex("0B 01")) + str("a")), Version::v5,
                          kMalformed, kUnsubscribe));
  // A filter cut short, and a single stray byte after the last filter.
  const std::string v311 = hex("A2 0A 00 0B 00 03 'a/b' 00 01 '#'");
  EXPECT_TRUE(test::EveryTruncationIsMalformed(v311, Version::v311, 2));
  for (const std::size_t length : {3u, 4u, 5u, 6u, 8u, 9u}) {
    EXPECT_TRUE(DecodeFails(packet(0xA2, std::string_view(v311).substr(2, length)), Version::v311,
                            kMalformed, kUnsubscribe))
        << length;
  }
}

// Spec 3.1.1 3.11: UNSUBACK is the packet identifier only.
TEST(CodecUnsuback, V311HasNoReasonCodes) {
  Unsuback unsuback;
  unsuback.packet_id = 11;
  unsuback.reasons = {ReasonCode::NoSubscriptionExisted};  // v5 only: ignored
  EXPECT_EQ(to_hex(encode_ok(unsuback, Version::v311)), to_hex(hex("B0 02 00 0B")));
  const auto decoded = decode_as<Unsuback>(hex("B0 02 00 0B"), Version::v311);
  EXPECT_EQ(decoded.packet_id, 11);
  EXPECT_TRUE(decoded.reasons.empty());
  EXPECT_TRUE(DecodeFails(hex("B0 03 00 0B 00"), Version::v311, kMalformed, kUnsuback));
  EXPECT_TRUE(DecodeFails(hex("B0 01 00"), Version::v311, kMalformed, kUnsuback));
}

// Spec 5.0 3.11: packet identifier, properties, one reason code per filter.
TEST(CodecUnsuback, V5MatchesSpecBytes) {
  Unsuback unsuback;
  unsuback.packet_id = 11;
  unsuback.reasons = {ReasonCode::Success, ReasonCode::NoSubscriptionExisted,
                      ReasonCode::TopicFilterInvalid};
  const std::string bytes = hex("B0 06 00 0B 00 00 11 8F");
  EXPECT_EQ(to_hex(encode_ok(unsuback, Version::v5)), to_hex(bytes));
  EXPECT_EQ(decode_as<Unsuback>(bytes, Version::v5), unsuback);
}

TEST(CodecUnsuback, V5Rejections) {
  EXPECT_TRUE(DecodeFails(hex("B1 04 00 0B 00 00"), Version::v5, kMalformed, kUnsuback));
  EXPECT_TRUE(DecodeFails(hex("B0 04 00 00 00 00"), Version::v5, kProtocolError, kUnsuback));
  EXPECT_TRUE(DecodeFails(hex("B0 04 00 0B 00 05"), Version::v5, kProtocolError, kUnsuback));
  EXPECT_TRUE(DecodeFails(hex("B0 07 00 0B 03 23 00 01 00"), Version::v5, kMalformed, kUnsuback));
  EXPECT_TRUE(test::EveryTruncationIsMalformed(hex("B0 04 00 0B 00 00"), Version::v5, 3));
}

}  // namespace
}  // namespace psos::mqtt
