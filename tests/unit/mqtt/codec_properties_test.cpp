// MQTT v5 properties (spec 5.0 2.2.2): the table of identifiers, types and packets (table 2-4),
// checked for every identifier in every packet; repetition, value ranges, wire types and the
// property length.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "codec_test_util.hpp"
#include "mqtt/codec.hpp"
#include "mqtt/properties.hpp"

namespace psos::mqtt {
namespace {

using test::decode_as;
using test::decode_ok;
using test::DecodeFails;
using test::encode_ok;
using test::hex;
using test::packet;
using test::props;
using test::str;
using test::to_hex;

using Ctx = PropertyContext;
constexpr auto kMalformed = ReasonCode::MalformedPacket;
constexpr auto kProtocolError = ReasonCode::ProtocolError;

// One row of spec 5.0 table 2-4: identifier, type, where it may appear, a valid encoded value
// and the Properties that value decodes to.
struct Row {
  std::uint8_t id;
  PropertyType type;
  std::vector<Ctx> contexts;
  std::string value;  // the bytes after the identifier
  Properties decoded;
};

Properties with(void (*set)(Properties&)) {
  Properties p;
  set(p);
  return p;
}

const std::vector<Row>& table() {
  using T = PropertyType;
  static const std::vector<Row> rows = {
      {0x01, T::Byte, {Ctx::Publish, Ctx::Will}, hex("01"), with([](Properties& p) {
         p.payload_format_indicator = 1;
       })},
      {0x02, T::FourByte, {Ctx::Publish, Ctx::Will}, hex("00 00 01 2C"), with([](Properties& p) {
         p.message_expiry_interval = 300;
       })},
      {0x03, T::Utf8, {Ctx::Publish, Ctx::Will}, str("text/plain"), with([](Properties& p) {
         p.content_type = "text/plain";
       })},
      {0x08, T::Utf8, {Ctx::Publish, Ctx::Will}, str("re/ply"), with([](Properties& p) {
         p.response_topic = "re/ply";
       })},
      {0x09,
       T::Binary,
       {Ctx::Publish, Ctx::Will},
       str(std::string_view("\x00\xFF", 2)),
       with([](Properties& p) { p.correlation_data = std::string_view("\x00\xFF", 2); })},
      {0x0B, T::VarInt, {Ctx::Publish, Ctx::Subscribe}, hex("AC 02"), with([](Properties& p) {
         p.subscription_identifiers = {300};
       })},
      {0x11,
       T::FourByte,
       {Ctx::Connect, Ctx::Connack, Ctx::Disconnect},
       hex("FF FF FF FF"),
       with([](Properties& p) { p.session_expiry_interval = 0xFFFFFFFF; })},
      {0x12, T::Utf8, {Ctx::Connack}, str("id-1"), with([](Properties& p) {
         p.assigned_client_identifier = "id-1";
       })},
      {0x13, T::TwoByte, {Ctx::Connack}, hex("01 2C"), with([](Properties& p) {
         p.server_keep_alive = 300;
       })},
      {0x15,
       T::Utf8,
       {Ctx::Connect, Ctx::Connack, Ctx::Auth},
       str("SCRAM"),
       with([](Properties& p) { p.authentication_method = "SCRAM"; })},
      {0x16,
       T::Binary,
       {Ctx::Connect, Ctx::Connack, Ctx::Auth},
       str(std::string_view("\x00\x01", 2)),
       with([](Properties& p) { p.authentication_data = std::string_view("\x00\x01", 2); })},
      {0x17, T::Byte, {Ctx::Connect}, hex("00"), with([](Properties& p) {
         p.request_problem_information = 0;
       })},
      {0x18, T::FourByte, {Ctx::Will}, hex("00 00 00 0A"), with([](Properties& p) {
         p.will_delay_interval = 10;
       })},
      {0x19, T::Byte, {Ctx::Connect}, hex("01"), with([](Properties& p) {
         p.request_response_information = 1;
       })},
      {0x1A, T::Utf8, {Ctx::Connack}, str("resp"), with([](Properties& p) {
         p.response_information = "resp";
       })},
      {0x1C, T::Utf8, {Ctx::Connack, Ctx::Disconnect}, str("other:1883"), with([](Properties& p) {
         p.server_reference = "other:1883";
       })},
      {0x1F,
       T::Utf8,
       {Ctx::Connack, Ctx::Puback, Ctx::Pubrec, Ctx::Pubrel, Ctx::Pubcomp, Ctx::Suback,
        Ctx::Unsuback, Ctx::Disconnect, Ctx::Auth},
       str("why"),
       with([](Properties& p) { p.reason_string = "why"; })},
      {0x21, T::TwoByte, {Ctx::Connect, Ctx::Connack}, hex("00 14"), with([](Properties& p) {
         p.receive_maximum = 20;
       })},
      {0x22, T::TwoByte, {Ctx::Connect, Ctx::Connack}, hex("00 00"), with([](Properties& p) {
         p.topic_alias_maximum = 0;
       })},
      {0x23, T::TwoByte, {Ctx::Publish}, hex("FF FF"), with([](Properties& p) {
         p.topic_alias = 0xFFFF;
       })},
      {0x24, T::Byte, {Ctx::Connack}, hex("00"), with([](Properties& p) { p.maximum_qos = 0; })},
      {0x25, T::Byte, {Ctx::Connack}, hex("01"), with([](Properties& p) {
         p.retain_available = 1;
       })},
      {0x26,
       T::Utf8Pair,
       {Ctx::Connect, Ctx::Will, Ctx::Connack, Ctx::Publish, Ctx::Puback, Ctx::Pubrec, Ctx::Pubrel,
        Ctx::Pubcomp, Ctx::Subscribe, Ctx::Suback, Ctx::Unsubscribe, Ctx::Unsuback, Ctx::Disconnect,
        Ctx::Auth},
       str("k") + str("v"),
       with([](Properties& p) {
         p.user_properties = {{"k", "v"}};
       })},
      {0x27, T::FourByte, {Ctx::Connect, Ctx::Connack}, hex("00 10 00 00"), with([](Properties& p) {
         p.maximum_packet_size = 0x100000;
       })},
      {0x28, T::Byte, {Ctx::Connack}, hex("00"), with([](Properties& p) {
         p.wildcard_subscription_available = 0;
       })},
      {0x29, T::Byte, {Ctx::Connack}, hex("01"), with([](Properties& p) {
         p.subscription_identifier_available = 1;
       })},
      {0x2A, T::Byte, {Ctx::Connack}, hex("00"), with([](Properties& p) {
         p.shared_subscription_available = 0;
       })},
  };
  return rows;
}

constexpr Ctx kAllContexts[] = {Ctx::Connect,    Ctx::Will,   Ctx::Connack,     Ctx::Publish,
                                Ctx::Puback,     Ctx::Pubrec, Ctx::Pubrel,      Ctx::Pubcomp,
                                Ctx::Subscribe,  Ctx::Suback, Ctx::Unsubscribe, Ctx::Unsuback,
                                Ctx::Disconnect, Ctx::Auth};

PacketType packet_type(Ctx ctx) {
  switch (ctx) {
    case Ctx::Connect:
    case Ctx::Will:
      return PacketType::Connect;
    case Ctx::Connack:
      return PacketType::Connack;
    case Ctx::Publish:
      return PacketType::Publish;
    case Ctx::Puback:
      return PacketType::Puback;
    case Ctx::Pubrec:
      return PacketType::Pubrec;
    case Ctx::Pubrel:
      return PacketType::Pubrel;
    case Ctx::Pubcomp:
      return PacketType::Pubcomp;
    case Ctx::Subscribe:
      return PacketType::Subscribe;
    case Ctx::Suback:
      return PacketType::Suback;
    case Ctx::Unsubscribe:
      return PacketType::Unsubscribe;
    case Ctx::Unsuback:
      return PacketType::Unsuback;
    case Ctx::Disconnect:
      return PacketType::Disconnect;
    case Ctx::Auth:
      return PacketType::Auth;
  }
  return PacketType::Connect;
}

// A valid v5 packet of the context's type whose property list (the will properties for Will) is
// `properties`, given without its length.
std::string packet_with(Ctx ctx, std::string_view properties) {
  const std::string p = props(properties);
  switch (ctx) {
    case Ctx::Connect:
      return packet(0x10, str("MQTT") + hex("05 02 00 3C") + p + str("c"));
    case Ctx::Will:
      return packet(0x10, str("MQTT") + hex("05 06 00 3C 00") + str("c") + p + str("t") + str("m"));
    case Ctx::Connack:
      return packet(0x20, hex("00 00") + p);
    case Ctx::Publish:
      return packet(0x30, str("t") + p + "payload");
    case Ctx::Puback:
      return packet(0x40, hex("00 01 00") + p);
    case Ctx::Pubrec:
      return packet(0x50, hex("00 01 00") + p);
    case Ctx::Pubrel:
      return packet(0x62, hex("00 01 00") + p);
    case Ctx::Pubcomp:
      return packet(0x70, hex("00 01 00") + p);
    case Ctx::Subscribe:
      return packet(0x82, hex("00 01") + p + str("t") + hex("01"));
    case Ctx::Suback:
      return packet(0x90, hex("00 01") + p + hex("01"));
    case Ctx::Unsubscribe:
      return packet(0xA2, hex("00 01") + p + str("t"));
    case Ctx::Unsuback:
      return packet(0xB0, hex("00 01") + p + hex("00"));
    case Ctx::Disconnect:
      return packet(0xE0, hex("00") + p);
    case Ctx::Auth:
      return packet(0xF0, hex("18") + p);
  }
  return {};
}

// The property list a decoded packet of the context carries.
Properties properties_of(const Packet& decoded, Ctx ctx) {
  return std::visit(
      [ctx](const auto& p) -> Properties {
        using T = std::decay_t<decltype(p)>;
        if constexpr (std::is_same_v<T, Connect>) {
          if (ctx == Ctx::Will) return p.will ? p.will->properties : Properties{};
          return p.properties;
        } else if constexpr (std::is_same_v<T, Pingreq> || std::is_same_v<T, Pingresp>) {
          return Properties{};
        } else {
          return p.properties;
        }
      },
      decoded);
}

bool allowed_in(const Row& row, Ctx ctx) {
  return std::find(row.contexts.begin(), row.contexts.end(), ctx) != row.contexts.end();
}

// Authentication Data needs an Authentication Method (spec 5.0 3.1.2.11.10) and AUTH always
// carries one (3.15.2.2.2): the property list a row is tested in.
std::string property_list(const Row& row, Ctx ctx, int copies = 1) {
  std::string list;
  const bool method_allowed = ctx == Ctx::Connect || ctx == Ctx::Connack || ctx == Ctx::Auth;
  if (method_allowed && row.id != 0x15 && (row.id == 0x16 || ctx == Ctx::Auth)) {
    list += hex("15") + str("SCRAM");
  }
  for (int i = 0; i < copies; ++i)
    list += std::string(1, static_cast<char>(row.id)) + row.value;
  return list;
}

Properties expected_properties(const Row& row, Ctx ctx) {
  Properties expected = row.decoded;
  const bool method_allowed = ctx == Ctx::Connect || ctx == Ctx::Connack || ctx == Ctx::Auth;
  if (method_allowed && row.id != 0x15 && (row.id == 0x16 || ctx == Ctx::Auth)) {
    expected.authentication_method = "SCRAM";
  }
  return expected;
}

TEST(CodecProperties, InfoTableMatchesSpecTable) {
  std::size_t defined = 0;
  for (int id = 0; id < 256; ++id) {
    const PropertyInfo* info = property_info(static_cast<std::uint8_t>(id));
    const auto row =
        std::find_if(table().begin(), table().end(), [id](const Row& r) { return r.id == id; });
    if (row == table().end()) {
      EXPECT_EQ(info, nullptr) << "identifier " << id << " is not defined by the specification";
      continue;
    }
    ++defined;
    ASSERT_NE(info, nullptr) << id;
    EXPECT_EQ(static_cast<int>(info->id), id);
    EXPECT_EQ(info->type, row->type) << id;
    EXPECT_NE(std::string_view(info->name), "") << id;
    EXPECT_EQ(info->repeatable, id == 0x26 || id == 0x0B) << id;
    for (const Ctx ctx : kAllContexts) {
      EXPECT_EQ(property_allowed(info->id, ctx), allowed_in(*row, ctx))
          << "identifier " << id << " context " << static_cast<int>(ctx);
    }
  }
  EXPECT_EQ(defined, 27u);
  EXPECT_EQ(std::string_view(property_info(0x23)->name), "Topic Alias");
}

// Every property where table 2-4 allows it: decodes into its field, and the packet re-encodes to
// the same bytes.
TEST(CodecProperties, EveryPropertyDecodesWhereAllowed) {
  for (const Row& row : table()) {
    for (const Ctx ctx : row.contexts) {
      SCOPED_TRACE(::testing::Message() << "identifier " << static_cast<int>(row.id) << " context "
                                        << static_cast<int>(ctx));
      const std::string bytes = packet_with(ctx, property_list(row, ctx));
      Packet decoded;
      const Error error = decode(bytes, Version::v5, decoded);
      ASSERT_FALSE(error) << to_string(error) << " [" << to_hex(bytes) << "]";
      EXPECT_EQ(properties_of(decoded, ctx), expected_properties(row, ctx));
      // One property encodes to exactly these bytes; for two, the order is the encoder's choice.
      const std::string encoded = encode_ok(decoded, Version::v5);
      if (expected_properties(row, ctx) == row.decoded) {
        EXPECT_EQ(to_hex(encoded), to_hex(bytes));
      } else {
        EXPECT_EQ(encoded.size(), bytes.size());
        EXPECT_EQ(test::decode_ok(encoded, Version::v5), decoded);
      }
    }
  }
}

// Spec 5.0 2.2.2.2: "A Control Packet which contains an Identifier which is not valid for its
// packet type ... is a Malformed Packet."
TEST(CodecProperties, EveryPropertyIsMalformedWhereNotAllowed) {
  for (const Row& row : table()) {
    for (const Ctx ctx : kAllContexts) {
      if (allowed_in(row, ctx)) continue;
      SCOPED_TRACE(::testing::Message() << "identifier " << static_cast<int>(row.id) << " context "
                                        << static_cast<int>(ctx));
      const std::string bytes = packet_with(ctx, property_list(row, ctx));
      EXPECT_TRUE(DecodeFails(bytes, Version::v5, kMalformed, packet_type(ctx)));
      Packet out;
      EXPECT_EQ(decode(bytes, Version::v5, out).property_id, row.id);
    }
  }
}

// Spec 5.0 3.x: "It is a Protocol Error to include <property> more than once" for every property
// but User Property (any number, 3.1.2.11.8) and Subscription Identifier in PUBLISH (one per
// matching subscription, 3.3.2.3.8).
TEST(CodecProperties, RepeatingIsAProtocolErrorUnlessAllowed) {
  for (const Row& row : table()) {
    for (const Ctx ctx : row.contexts) {
      SCOPED_TRACE(::testing::Message() << "identifier " << static_cast<int>(row.id) << " context "
                                        << static_cast<int>(ctx));
      const std::string bytes = packet_with(ctx, property_list(row, ctx, 2));
      if (row.id == 0x26 || (row.id == 0x0B && ctx == Ctx::Publish)) {
        const Properties decoded = properties_of(decode_ok(bytes, Version::v5), ctx);
        EXPECT_EQ(decoded.user_properties.size() + decoded.subscription_identifiers.size(), 2u);
        continue;
      }
      EXPECT_TRUE(DecodeFails(bytes, Version::v5, kProtocolError, packet_type(ctx)));
      Packet out;
      EXPECT_EQ(decode(bytes, Version::v5, out).property_id, row.id);
    }
  }
}

// Identifiers table 2-4 does not define.
TEST(CodecProperties, UnknownIdentifierIsMalformed) {
  for (const int id :
       {0x00, 0x04, 0x05, 0x07, 0x0A, 0x0C, 0x10, 0x14, 0x1B, 0x1D, 0x1E, 0x20, 0x2B, 0x7F}) {
    const std::string bytes =
        packet_with(Ctx::Publish, std::string(1, static_cast<char>(id)) + hex("00"));
    EXPECT_TRUE(DecodeFails(bytes, Version::v5, kMalformed, PacketType::Publish)) << id;
  }
}

// Values the specification rules out, each "a Protocol Error": Payload Format Indicator other than
// 0/1 (3.3.2.3.2, 3.1.3.2.3), Request Problem / Response Information other than 0/1 (3.1.2.11.7,
// 3.1.2.11.6), Receive Maximum 0 (3.1.2.11.3, 3.2.2.3.3), Maximum Packet Size 0 (3.1.2.11.4,
// 3.2.2.3.6), Maximum QoS other than 0/1 (3.2.2.3.4), the CONNACK availability flags other than
// 0/1 (3.2.2.3.5, .11-.13) and Subscription Identifier 0 (3.3.2.3.8, 3.8.2.1.2). Topic Alias 0 is
// 0x94 Topic Alias invalid instead (CodecPublish.V5RejectsTopicAliasZero).
TEST(CodecProperties, ValuesOutOfRangeAreProtocolErrors) {
  const std::pair<Ctx, const char*> cases[] = {
      {Ctx::Publish, "01 02"},          {Ctx::Will, "01 02"},
      {Ctx::Connect, "17 02"},          {Ctx::Connect, "19 02"},
      {Ctx::Connect, "21 00 00"},       {Ctx::Connack, "21 00 00"},
      {Ctx::Connect, "27 00 00 00 00"}, {Ctx::Connack, "27 00 00 00 00"},
      {Ctx::Connack, "24 02"},          {Ctx::Connack, "25 02"},
      {Ctx::Connack, "28 02"},          {Ctx::Connack, "29 02"},
      {Ctx::Connack, "2A 02"},          {Ctx::Publish, "0B 00"},
      {Ctx::Subscribe, "0B 00"},
  };
  for (const auto& [ctx, property] : cases) {
    const std::string bytes = packet_with(ctx, hex(property));
    EXPECT_TRUE(DecodeFails(bytes, Version::v5, kProtocolError, packet_type(ctx)))
        << property << " in context " << static_cast<int>(ctx);
  }
}

TEST(CodecProperties, BoundaryValuesAreValid) {
  const std::pair<Ctx, const char*> cases[] = {
      {Ctx::Publish, "01 00"},          {Ctx::Connect, "17 01"},
      {Ctx::Connect, "19 00"},          {Ctx::Connect, "21 00 01"},
      {Ctx::Connect, "21 FF FF"},       {Ctx::Connect, "27 00 00 00 01"},
      {Ctx::Connect, "27 FF FF FF FF"}, {Ctx::Connack, "24 01"},
      {Ctx::Publish, "23 00 01"},       {Ctx::Publish, "0B 01"},
      {Ctx::Publish, "0B FF FF FF 7F"}, {Ctx::Subscribe, "0B 7F"},
      {Ctx::Subscribe, "0B 80 01"},     {Ctx::Subscribe, "0B FF 7F"},
  };
  for (const auto& [ctx, property] : cases) {
    const std::string bytes = packet_with(ctx, hex(property));
    Packet out;
    const Error error = decode(bytes, Version::v5, out);
    EXPECT_FALSE(error) << property << ": " << to_string(error);
    if (!error) {
      EXPECT_EQ(to_hex(encode_ok(out, Version::v5)), to_hex(bytes)) << property;
    }
  }
}

// Spec 5.0 2.2.2.1: the property length says where the properties end; nothing may cross it.
TEST(CodecProperties, PropertyLengthBoundsEveryProperty) {
  constexpr auto kPublish = PacketType::Publish;
  // Longer than the rest of the packet.
  EXPECT_TRUE(
      DecodeFails(packet(0x30, str("t") + hex("05 01 01")), Version::v5, kMalformed, kPublish));
  EXPECT_TRUE(DecodeFails(packet(0x40, hex("00 01 00 09 1F 00 01 'x'")), Version::v5, kMalformed,
                          PacketType::Puback));
  // A property whose value runs past the property length into the payload.
  EXPECT_TRUE(DecodeFails(packet(0x30, str("t") + hex("02 23 00 01 'payload'")), Version::v5,
                          kMalformed, kPublish));
  EXPECT_TRUE(DecodeFails(packet(0x30, str("t") + hex("04 03 00 05 'a' 'bcdefg'")), Version::v5,
                          kMalformed, kPublish));
  EXPECT_TRUE(DecodeFails(packet(0x30, str("t") + hex("03 26 00 01 'k' 00 01 'v'")), Version::v5,
                          kMalformed, kPublish));
  // A subscription identifier whose continuation runs past the property length.
  EXPECT_TRUE(
      DecodeFails(packet(0x30, str("t") + hex("02 0B 80 01")), Version::v5, kMalformed, kPublish));
  // A property length of more than four bytes.
  EXPECT_TRUE(DecodeFails(packet(0x30, str("t") + hex("80 80 80 80 00")), Version::v5, kMalformed,
                          kPublish));
  // A Variable Byte Integer property of more than four bytes.
  EXPECT_TRUE(DecodeFails(packet(0x30, str("t") + hex("06 0B 80 80 80 80 01")), Version::v5,
                          kMalformed, kPublish));
}

// Spec 1.5.4: UTF-8 Encoded String properties must be well-formed; Binary Data may be anything.
TEST(CodecProperties, Utf8PropertiesRejectInvalidUtf8) {
  for (const std::string_view bad : test::kBadUtf8) {
    SCOPED_TRACE(to_hex(bad));
    const std::pair<Ctx, std::string> cases[] = {
        {Ctx::Publish, hex("03") + str(bad)},
        {Ctx::Publish, hex("26") + str(bad) + str("v")},
        {Ctx::Publish, hex("26") + str("k") + str(bad)},
        {Ctx::Connack, hex("12") + str(bad)},
        {Ctx::Connack, hex("1A") + str(bad)},
        {Ctx::Disconnect, hex("1C") + str(bad)},
        {Ctx::Puback, hex("1F") + str(bad)},
        {Ctx::Connect, hex("15") + str(bad)},
    };
    for (const auto& [ctx, list] : cases) {
      EXPECT_TRUE(DecodeFails(packet_with(ctx, list), Version::v5, kMalformed, packet_type(ctx)));
    }
  }
  const std::string binary("\xED\xA0\x80\x00\xC0\x80", 6);
  const std::string publish_bytes = packet_with(Ctx::Publish, hex("09") + str(binary));
  const auto publish = decode_as<Publish>(publish_bytes, Version::v5);
  EXPECT_EQ(publish.properties.correlation_data, binary);
  const std::string connect_bytes =
      packet_with(Ctx::Connect, hex("15") + str("m") + hex("16") + str(binary));
  const auto connect = decode_as<Connect>(connect_bytes, Version::v5);
  EXPECT_EQ(connect.properties.authentication_data, binary);
}

// User properties keep their order and may repeat a name (spec 5.0 3.3.2.3.7).
TEST(CodecProperties, UserPropertiesKeepOrderAndDuplicates) {
  Publish publish;
  publish.topic = "t";
  publish.properties.user_properties = {{"k", "1"}, {"a", "2"}, {"k", "3"}, {"", ""}};
  const std::string bytes = encode_ok(publish, Version::v5);
  EXPECT_EQ(to_hex(bytes),
            to_hex(packet(0x30, str("t") + props(hex("26") + str("k") + str("1") + hex("26") +
                                                 str("a") + str("2") + hex("26") + str("k") +
                                                 str("3") + hex("26") + str("") + str("")))));
  EXPECT_EQ(decode_as<Publish>(bytes, Version::v5), publish);
}

// Properties may come in any order on the wire.
TEST(CodecProperties, DecodingDoesNotDependOnOrder) {
  const std::string forward_bytes =
      packet_with(Ctx::Publish, hex("01 01 02 00 00 00 0A 23 00 07 26 00 01 'k' 00 01 'v'"));
  const std::string backward_bytes =
      packet_with(Ctx::Publish, hex("26 00 01 'k' 00 01 'v' 23 00 07 02 00 00 00 0A 01 01"));
  const auto forward = decode_as<Publish>(forward_bytes, Version::v5);
  const auto backward = decode_as<Publish>(backward_bytes, Version::v5);
  EXPECT_EQ(forward, backward);
  EXPECT_EQ(forward.properties.topic_alias, 7);
  EXPECT_EQ(forward.properties.message_expiry_interval, 10u);
  EXPECT_EQ(forward.properties.payload_format_indicator, 1);
}

// Whole property sets round trip through every packet that carries them.
TEST(CodecProperties, FullSetsRoundTrip) {
  Publish publish;
  publish.topic = "t";
  publish.qos = QoS::AtLeastOnce;
  publish.packet_id = 9;
  auto& pp = publish.properties;
  pp.payload_format_indicator = 1;
  pp.message_expiry_interval = 3600;
  pp.content_type = "application/json";
  pp.response_topic = "reply/to";
  pp.correlation_data = std::string_view("\x00\x01\x02", 3);
  pp.subscription_identifiers = {1, 128, 16384, 268'435'455};
  pp.topic_alias = 3;
  pp.user_properties = {{"a", "b"}, {"c", "d"}};
  EXPECT_EQ(decode_as<Publish>(encode_ok(publish, Version::v5), Version::v5), publish);

  Connect connect;
  connect.client_id = "cid";
  connect.username = "user";
  connect.password = "pass";
  auto& cp = connect.properties;
  cp.session_expiry_interval = 1;
  cp.authentication_method = "SCRAM";
  cp.authentication_data = "data";
  cp.request_problem_information = 0;
  cp.request_response_information = 1;
  cp.receive_maximum = 100;
  cp.topic_alias_maximum = 10;
  cp.user_properties = {{"x", "y"}};
  cp.maximum_packet_size = 65536;
  Will will;
  will.topic = "will/t";
  will.payload = "gone";
  will.qos = QoS::ExactlyOnce;
  will.properties.will_delay_interval = 30;
  will.properties.payload_format_indicator = 1;
  will.properties.message_expiry_interval = 60;
  will.properties.content_type = "text/plain";
  will.properties.response_topic = "r";
  will.properties.correlation_data = "c";
  will.properties.user_properties = {{"w", "p"}};
  connect.will = will;
  EXPECT_EQ(decode_as<Connect>(encode_ok(connect, Version::v5), Version::v5), connect);

  Connack connack;
  auto& ap = connack.properties;
  ap.session_expiry_interval = 7;
  ap.assigned_client_identifier = "auto-1";
  ap.server_keep_alive = 30;
  ap.authentication_method = "SCRAM";
  ap.authentication_data = "d";
  ap.response_information = "info";
  ap.server_reference = "srv";
  ap.reason_string = "fine";
  ap.receive_maximum = 5;
  ap.topic_alias_maximum = 6;
  ap.maximum_qos = 1;
  ap.retain_available = 0;
  ap.user_properties = {{"u", "v"}};
  ap.maximum_packet_size = 1024;
  ap.wildcard_subscription_available = 0;
  ap.subscription_identifier_available = 1;
  ap.shared_subscription_available = 0;
  EXPECT_EQ(decode_as<Connack>(encode_ok(connack, Version::v5), Version::v5), connack);

  Disconnect disconnect;
  disconnect.reason = ReasonCode::UseAnotherServer;
  disconnect.properties.session_expiry_interval = 0;
  disconnect.properties.reason_string = "moved";
  disconnect.properties.server_reference = "other";
  disconnect.properties.user_properties = {{"k", "v"}};
  EXPECT_EQ(decode_as<Disconnect>(encode_ok(disconnect, Version::v5), Version::v5), disconnect);

  Auth auth;
  auth.reason = ReasonCode::ContinueAuthentication;
  auth.properties.authentication_method = "SCRAM";
  auth.properties.authentication_data = "challenge";
  auth.properties.reason_string = "r";
  auth.properties.user_properties = {{"k", "v"}};
  EXPECT_EQ(decode_as<Auth>(encode_ok(auth, Version::v5), Version::v5), auth);
}

TEST(CodecProperties, EmptyMeansNoPropertySet) {
  Properties p;
  EXPECT_TRUE(p.empty());
  p.user_properties.push_back({"k", "v"});
  EXPECT_FALSE(p.empty());
  p = Properties{};
  p.subscription_identifiers.push_back(1);
  EXPECT_FALSE(p.empty());
  p = Properties{};
  p.topic_alias_maximum = 0;
  EXPECT_FALSE(p.empty());
  p = Properties{};
  p.shared_subscription_available = 0;
  EXPECT_FALSE(p.empty());
}

}  // namespace
}  // namespace psos::mqtt
