// What encode refuses (codec.hpp: a string longer than 65535 bytes, a v5-only packet for v3.1.1,
// a QoS > 0 PUBLISH with packet id 0, a value the wire cannot carry), that a refusal appends
// nothing, and that encoded_size predicts exactly what encode appends.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "codec_test_util.hpp"
#include "mqtt/codec.hpp"

namespace psos::mqtt {
namespace {

using test::hex;
using test::to_hex;

const std::string& long_string() {
  static const std::string text(65'536, 'x');
  return text;
}
const std::string& longest_string() {
  static const std::string text(65'535, 'x');
  return text;
}

// Encoding fails, appends nothing, names the packet, and encoded_size says 0.
::testing::AssertionResult EncodeFails(const Packet& input, Version version) {
  std::string out = "kept";
  const Error error = encode(input, version, out);
  if (!error) return ::testing::AssertionFailure() << "encode succeeded";
  if (out != "kept") return ::testing::AssertionFailure() << "encode appended bytes on failure";
  if (std::string_view(error.message).empty()) {
    return ::testing::AssertionFailure() << "empty message";
  }
  const std::string text = to_string(error);
  if (text.find(packet_name(type_of(input))) == std::string::npos) {
    return ::testing::AssertionFailure() << "to_string does not name the packet: " << text;
  }
  if (encoded_size(input, version) != 0) {
    return ::testing::AssertionFailure() << "encoded_size is not 0 for a failing packet";
  }
  return ::testing::AssertionSuccess() << text;
}

TEST(CodecEncode, RejectsStringsLongerThan65535Bytes) {
  const std::string_view big = long_string();
  for (const Version version : {Version::v311, Version::v5}) {
    SCOPED_TRACE(test::version_name(version));
    Publish publish;
    publish.topic = big;
    EXPECT_TRUE(EncodeFails(publish, version));

    Connect connect;
    connect.version = version;
    connect.client_id = big;
    EXPECT_TRUE(EncodeFails(connect, version));
    connect.client_id = "c";
    connect.username = big;
    EXPECT_TRUE(EncodeFails(connect, version));
    connect.username = "u";
    connect.password = big;  // Binary Data has a two-byte length too
    EXPECT_TRUE(EncodeFails(connect, version));
    connect.password.reset();
    connect.will = Will{"t", big, QoS::AtMostOnce, false, {}};
    EXPECT_TRUE(EncodeFails(connect, version));
    connect.will = Will{big, "m", QoS::AtMostOnce, false, {}};
    EXPECT_TRUE(EncodeFails(connect, version));

    Subscribe subscribe;
    subscribe.packet_id = 1;
    subscribe.topics = {{big, QoS::AtMostOnce}};
    EXPECT_TRUE(EncodeFails(subscribe, version));

    Unsubscribe unsubscribe;
    unsubscribe.packet_id = 1;
    unsubscribe.filters = {"a", big};
    EXPECT_TRUE(EncodeFails(unsubscribe, version));
  }

  Publish with_property;
  with_property.topic = "t";
  with_property.properties.user_properties = {{"k", big}};
  EXPECT_TRUE(EncodeFails(with_property, Version::v5));
  with_property.properties.user_properties.clear();
  with_property.properties.correlation_data = big;
  EXPECT_TRUE(EncodeFails(with_property, Version::v5));
  Puback puback;
  puback.packet_id = 1;
  puback.properties.reason_string = big;
  EXPECT_TRUE(EncodeFails(puback, Version::v5));
}

// 65535 bytes is the longest string, and a PUBLISH payload has no length prefix at all.
TEST(CodecEncode, AcceptsTheLongestString) {
  Publish publish;
  publish.topic = longest_string();
  publish.payload = long_string();
  std::string out;
  ASSERT_FALSE(encode(publish, Version::v5, out));
  EXPECT_EQ(out.size(), encoded_size(publish, Version::v5));
  EXPECT_EQ(test::decode_as<Publish>(out, Version::v5), publish);
}

// Spec 2.2.1 [MQTT-2.2.1-3]: a QoS > 0 PUBLISH needs a non-zero packet identifier.
TEST(CodecEncode, RejectsQosAbove0WithPacketIdZero) {
  for (const Version version : {Version::v311, Version::v5}) {
    for (const QoS qos : {QoS::AtLeastOnce, QoS::ExactlyOnce}) {
      Publish publish;
      publish.topic = "t";
      publish.qos = qos;
      EXPECT_TRUE(EncodeFails(publish, version));
    }
  }
}

TEST(CodecEncode, RejectsV5OnlyPacketsForV311) {
  Auth auth;
  auth.reason = ReasonCode::ContinueAuthentication;
  auth.properties.authentication_method = "m";
  EXPECT_TRUE(EncodeFails(auth, Version::v311));
  EXPECT_TRUE(EncodeFails(Auth{}, Version::v311));
}

// A Subscription Identifier above 268,435,455 cannot be written as a Variable Byte Integer.
TEST(CodecEncode, RejectsSubscriptionIdentifierAboveVarintRange) {
  Publish publish;
  publish.topic = "t";
  publish.properties.subscription_identifiers = {268'435'456};
  EXPECT_TRUE(EncodeFails(publish, Version::v5));
}

// encode appends to what `out` already holds.
TEST(CodecEncode, AppendsToOutput) {
  std::string out = "head";
  Publish publish;
  publish.topic = "a/b";
  publish.payload = "hello";
  ASSERT_FALSE(encode(publish, Version::v311, out));
  ASSERT_FALSE(encode(Pingreq{}, Version::v311, out));
  EXPECT_EQ(to_hex(out), to_hex("head" + hex("30 0A 00 03 'a/b' 'hello' C0 00")));
}

TEST(CodecEncode, EncodedSizeEqualsAppendedSize) {
  static const std::string medium(300, 'm');
  Connect connect;
  connect.client_id = "client";
  connect.username = "u";
  connect.password = "p";
  connect.properties.session_expiry_interval = 10;
  connect.will = Will{"w", medium, QoS::AtLeastOnce, true, {}};
  connect.will->properties.user_properties = {{"a", "b"}};
  Connack connack;
  connack.properties.assigned_client_identifier = "x";
  Publish publish;
  publish.topic = "topic";
  publish.payload = medium;
  publish.qos = QoS::ExactlyOnce;
  publish.packet_id = 77;
  publish.properties.subscription_identifiers = {5, 200000};
  Puback puback;
  puback.packet_id = 1;
  Pubrec pubrec;
  pubrec.packet_id = 2;
  pubrec.reason = ReasonCode::NoMatchingSubscribers;
  Pubrel pubrel;
  pubrel.packet_id = 3;
  pubrel.properties.reason_string = "r";
  Pubcomp pubcomp;
  pubcomp.packet_id = 4;
  Subscribe subscribe;
  subscribe.packet_id = 5;
  subscribe.topics = {{"a/+", QoS::AtLeastOnce}, {"b/#", QoS::ExactlyOnce, true}};
  Suback suback;
  suback.packet_id = 5;
  suback.reasons = {ReasonCode::GrantedQos1, ReasonCode::UnspecifiedError};
  Unsubscribe unsubscribe;
  unsubscribe.packet_id = 6;
  unsubscribe.filters = {"a/+"};
  Unsuback unsuback;
  unsuback.packet_id = 6;
  unsuback.reasons = {ReasonCode::Success};
  Disconnect disconnect;
  disconnect.reason = ReasonCode::ServerBusy;
  Auth auth;
  auth.reason = ReasonCode::ReAuthenticate;
  auth.properties.authentication_method = "m";

  const std::vector<Packet> packets = {connect,  connack,   publish,    puback,     pubrec,
                                       pubrel,   pubcomp,   subscribe,  suback,     unsubscribe,
                                       unsuback, Pingreq{}, Pingresp{}, disconnect, auth};
  for (const Version version : {Version::v311, Version::v5}) {
    for (const Packet& input : packets) {
      if (version == Version::v311 && type_of(input) == PacketType::Auth) continue;
      Packet versioned = input;
      if (auto* c = std::get_if<Connect>(&versioned)) c->version = version;
      SCOPED_TRACE(::testing::Message()
                   << test::version_name(version) << " " << packet_name(type_of(versioned)));
      std::string out = "xyz";
      ASSERT_FALSE(encode(versioned, version, out));
      EXPECT_EQ(encoded_size(versioned, version), out.size() - 3);
      FixedHeader header;
      Error error;
      ASSERT_EQ(parse_fixed_header(std::string_view(out).substr(3), header, error),
                HeaderStatus::Complete);
      EXPECT_EQ(header.total_size(), out.size() - 3);
      EXPECT_EQ(static_cast<PacketType>(header.first_byte >> 4), type_of(versioned));
      // And the bytes decode back. v3.1.1 drops v5-only fields, so compare v5 only.
      Packet decoded;
      const Error decode_error = decode(std::string_view(out).substr(3), version, decoded);
      EXPECT_FALSE(decode_error) << to_string(decode_error);
      if (version == Version::v5) {
        EXPECT_EQ(decoded, versioned);
      }
    }
  }
}

}  // namespace
}  // namespace psos::mqtt
