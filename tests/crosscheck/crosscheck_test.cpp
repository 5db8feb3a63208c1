// Cross-check of the codec against MQTT.js's mqtt-packet, an independent implementation. Every
// vector made by tools/interop/mqtt_packet_vectors.js must decode (whole, and through
// StreamDecoder in 1-byte and random chunks) to the fields of its mqtt-packet object; the same
// packet encoded by us is written out for tools/interop/mqtt_packet_readback.js. Usage:
//   psos_crosscheck_tests --vectors VECTORS.json --out OURS.json [--gtest_...]
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <fstream>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "mqtt/codec.hpp"
#include "mqtt/packets.hpp"
#include "mqtt/stream_decoder.hpp"

namespace psos::mqtt {
namespace {

// ordered_json keeps the key order of user properties, which is their order on the wire.
using Json = nlohmann::ordered_json;

struct Vector {
  std::string name;
  Version version = Version::v5;
  Json packet;        // the mqtt-packet object, canonical form (see mqtt_packet_vectors.js)
  std::string bytes;  // what mqtt-packet's generate() made of it
};

struct Encoding {
  std::optional<std::string> bytes;  // our encoding, when encode() succeeded
  bool identical = false;            // byte for byte the same as mqtt-packet's
};

std::vector<Vector> g_vectors;
std::vector<Encoding> g_encodings;

// --- bytes and text ----------------------------------------------------------------------------

std::string from_hex(std::string_view text) {
  auto nibble = [&](char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    throw std::runtime_error("bad hex digit in \"" + std::string(text.substr(0, 40)) + "...\"");
  };
  if (text.size() % 2 != 0) throw std::runtime_error("odd number of hex digits");
  std::string out(text.size() / 2, '\0');
  for (std::size_t i = 0; i < out.size(); ++i) {
    out[i] = static_cast<char>(nibble(text[2 * i]) * 16 + nibble(text[2 * i + 1]));
  }
  return out;
}

std::string to_hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(bytes.size() * 2, '\0');
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    const auto byte = static_cast<unsigned char>(bytes[i]);
    out[2 * i] = kDigits[byte >> 4];
    out[2 * i + 1] = kDigits[byte & 0x0F];
  }
  return out;
}

// A value for a failure message: strings quoted with non-printable bytes escaped, long ones cut.
std::string show(std::string_view text) {
  static constexpr std::size_t kLimit = 80;
  std::string out = "\"";
  for (std::size_t i = 0; i < std::min(text.size(), kLimit); ++i) {
    const auto byte = static_cast<unsigned char>(text[i]);
    if (byte >= 0x20 && byte < 0x7F && byte != '"' && byte != '\\') {
      out.push_back(static_cast<char>(byte));
    } else {
      out += "\\x" + to_hex(text.substr(i, 1));
    }
  }
  out += "\"";
  if (text.size() > kLimit) out += "... (" + std::to_string(text.size()) + " bytes)";
  return out;
}
std::string show(bool value) {
  return value ? "true" : "false";
}
std::string show(std::uint8_t value) {
  return std::to_string(value);
}
std::string show(std::uint16_t value) {
  return std::to_string(value);
}
std::string show(std::uint32_t value) {
  return std::to_string(value);
}
std::string show(std::uint64_t value) {
  return std::to_string(value);
}
std::string show(Version value) {
  return std::to_string(static_cast<int>(value));
}
std::string show(QoS value) {
  return std::to_string(static_cast<int>(value));
}
std::string show(RetainHandling value) {
  return std::to_string(static_cast<int>(value));
}
std::string show(ReasonCode value) {
  return "0x" + to_hex(std::string(1, static_cast<char>(value))) + " " +
         std::string(reason_name(value));
}
std::string show(const UserProperty& value) {
  return show(value.name) + ": " + show(value.value);
}
template <class T>
std::string show(const std::optional<T>& value) {
  return value ? show(*value) : "absent";
}
template <class T>
std::string show(const std::vector<T>& values) {
  std::string out = "[";
  for (const T& value : values)
    out += (out.size() > 1 ? ", " : "") + show(value);
  return out + "]";
}

// --- the mqtt-packet object as one of our packets ----------------------------------------------
// Field by field, in mqtt-packet's names; a key this mapping does not know is an error, so that
// nothing in a vector goes unchecked.

class PacketFromJson {
 public:
  explicit PacketFromJson(Version version) : version_(version) {}

  Packet packet(Json object) {
    const std::string cmd = take(object, "cmd").get<std::string>();
    Packet out = build(cmd, object);
    done(object, cmd);
    return out;
  }

 private:
  bool v5() const { return version_ == Version::v5; }

  static Json take(Json& object, const char* key) {
    const auto it = object.find(key);
    if (it == object.end()) throw std::runtime_error(std::string("missing field ") + key);
    Json value = std::move(*it);
    object.erase(it);
    return value;
  }
  static std::optional<Json> take_optional(Json& object, const char* key) {
    if (!object.contains(key)) return std::nullopt;
    return take(object, key);
  }
  static void done(const Json& object, const std::string& where) {
    if (!object.empty()) {
      throw std::runtime_error(where + ": field " + object.begin().key() +
                               " is not mapped to psos (extend crosscheck_test.cpp)");
    }
  }

  template <class T>
  static T number(const Json& value, std::uint64_t max = UINT32_MAX) {
    if (!value.is_number_unsigned() || value.get<std::uint64_t>() > max) {
      throw std::runtime_error("not a number in range: " + value.dump());
    }
    return static_cast<T>(value.get<std::uint64_t>());
  }
  static std::uint8_t flag(const Json& value) {
    if (!value.is_boolean()) throw std::runtime_error("not a boolean: " + value.dump());
    return value.get<bool>() ? 1 : 0;
  }
  static QoS qos(const Json& value) { return static_cast<QoS>(number<std::uint8_t>(value, 2)); }
  static ReasonCode reason(const Json& value) {
    return static_cast<ReasonCode>(number<std::uint8_t>(value, 0xFF));
  }

  std::string_view text(const Json& value) {
    if (!value.is_string()) throw std::runtime_error("not a string: " + value.dump());
    return keep(value.get<std::string>());
  }
  // mqtt-packet Buffers, written as {type: "Buffer", hex}.
  std::string_view binary(Json value) {
    if (!value.is_object() || take(value, "type") != "Buffer") {
      throw std::runtime_error("not a Buffer: " + value.dump());
    }
    const std::string_view bytes = keep(from_hex(take(value, "hex").get<std::string>()));
    done(value, "Buffer");
    return bytes;
  }
  std::string_view keep(std::string text) { return storage_.emplace_back(std::move(text)); }

  Properties properties(std::optional<Json> object) {
    Properties p;
    if (!object) return p;
    for (auto& [name, value] : object->items()) {
      if (name == "payloadFormatIndicator") {
        p.payload_format_indicator = flag(value);
      } else if (name == "messageExpiryInterval") {
        p.message_expiry_interval = number<std::uint32_t>(value);
      } else if (name == "contentType") {
        p.content_type = text(value);
      } else if (name == "responseTopic") {
        p.response_topic = text(value);
      } else if (name == "correlationData") {
        p.correlation_data = binary(value);
      } else if (name == "subscriptionIdentifier") {  // a number, or an array when repeated
        for (const Json& id : value.is_array() ? value : Json::array({value})) {
          p.subscription_identifiers.push_back(number<std::uint32_t>(id, kMaxVarInt));
        }
      } else if (name == "sessionExpiryInterval") {
        p.session_expiry_interval = number<std::uint32_t>(value);
      } else if (name == "assignedClientIdentifier") {
        p.assigned_client_identifier = text(value);
      } else if (name == "serverKeepAlive") {
        p.server_keep_alive = number<std::uint16_t>(value, 0xFFFF);
      } else if (name == "authenticationMethod") {
        p.authentication_method = text(value);
      } else if (name == "authenticationData") {
        p.authentication_data = binary(value);
      } else if (name == "requestProblemInformation") {
        p.request_problem_information = flag(value);
      } else if (name == "willDelayInterval") {
        p.will_delay_interval = number<std::uint32_t>(value);
      } else if (name == "requestResponseInformation") {
        p.request_response_information = flag(value);
      } else if (name == "responseInformation") {
        p.response_information = text(value);
      } else if (name == "serverReference") {
        p.server_reference = text(value);
      } else if (name == "reasonString") {
        p.reason_string = text(value);
      } else if (name == "receiveMaximum") {
        p.receive_maximum = number<std::uint16_t>(value, 0xFFFF);
      } else if (name == "topicAliasMaximum") {
        p.topic_alias_maximum = number<std::uint16_t>(value, 0xFFFF);
      } else if (name == "topicAlias") {
        p.topic_alias = number<std::uint16_t>(value, 0xFFFF);
      } else if (name == "maximumQoS") {  // a number in mqtt-packet, unlike the other bytes
        p.maximum_qos = number<std::uint8_t>(value, 0xFF);
      } else if (name == "retainAvailable") {
        p.retain_available = flag(value);
      } else if (name == "userProperties") {
        // {name: value} or {name: [values]} for a repeated name; key order is wire order.
        for (auto& [key, values] : value.items()) {
          for (const Json& v : values.is_array() ? values : Json::array({values})) {
            p.user_properties.push_back({keep(key), text(v)});
          }
        }
      } else if (name == "maximumPacketSize") {
        p.maximum_packet_size = number<std::uint32_t>(value);
      } else if (name == "wildcardSubscriptionAvailable") {
        p.wildcard_subscription_available = flag(value);
      } else if (name == "subscriptionIdentifiersAvailable") {
        p.subscription_identifier_available = flag(value);
      } else if (name == "sharedSubscriptionAvailable") {
        p.shared_subscription_available = flag(value);
      } else {
        throw std::runtime_error("property " + name + " is not mapped to psos");
      }
    }
    return p;
  }

  // mqtt-packet's v3.1.1 CONNACK returnCode is the raw return code (spec 3.1.1, 3.2.2.3); ours
  // is the v5 reason code with the same meaning.
  static ReasonCode v3_connack(const Json& value) {
    switch (number<std::uint8_t>(value, 0xFF)) {
      case 0:
        return ReasonCode::Success;
      case 1:
        return ReasonCode::UnsupportedProtocolVersion;
      case 2:
        return ReasonCode::ClientIdentifierNotValid;
      case 3:
        return ReasonCode::ServerUnavailable;
      case 4:
        return ReasonCode::BadUserNameOrPassword;
      case 5:
        return ReasonCode::NotAuthorized;
      default:
        throw std::runtime_error("v3.1.1 CONNACK return code " + value.dump());
    }
  }

  template <class A>
  A ack(Json& o) {
    A a;
    a.packet_id = number<std::uint16_t>(take(o, "messageId"), 0xFFFF);
    if (v5()) a.reason = reason(take(o, "reasonCode"));
    a.properties = properties(take_optional(o, "properties"));
    return a;
  }

  Packet build(const std::string& cmd, Json& o) {
    if (cmd == "connect") {
      Connect c;
      if (take(o, "protocolId") != "MQTT") throw std::runtime_error("protocolId is not MQTT");
      c.version = static_cast<Version>(number<std::uint8_t>(take(o, "protocolVersion"), 5));
      if (c.version != version_) throw std::runtime_error("protocolVersion is not the vector's");
      c.clean_start = take(o, "clean").get<bool>();
      c.keep_alive = number<std::uint16_t>(take(o, "keepalive"), 0xFFFF);
      c.client_id = text(take(o, "clientId"));
      if (auto username = take_optional(o, "username")) c.username = text(*username);
      if (auto password = take_optional(o, "password")) c.password = binary(*password);
      if (auto will_json = take_optional(o, "will")) {
        Will will;
        will.topic = text(take(*will_json, "topic"));
        will.payload = binary(take(*will_json, "payload"));
        will.qos = qos(take(*will_json, "qos"));
        will.retain = take(*will_json, "retain").get<bool>();
        will.properties = properties(take_optional(*will_json, "properties"));
        done(*will_json, "will");
        c.will = will;
      }
      c.properties = properties(take_optional(o, "properties"));
      return c;
    }
    if (cmd == "connack") {
      Connack c;
      c.session_present = take(o, "sessionPresent").get<bool>();
      c.reason = v5() ? reason(take(o, "reasonCode")) : v3_connack(take(o, "returnCode"));
      c.properties = properties(take_optional(o, "properties"));
      return c;
    }
    if (cmd == "publish") {
      Publish p;
      p.topic = text(take(o, "topic"));
      p.qos = qos(take(o, "qos"));
      p.retain = take(o, "retain").get<bool>();
      p.dup = take(o, "dup").get<bool>();
      if (p.qos != QoS::AtMostOnce) {
        p.packet_id = number<std::uint16_t>(take(o, "messageId"), 0xFFFF);
      }
      p.payload = binary(take(o, "payload"));
      p.properties = properties(take_optional(o, "properties"));
      return p;
    }
    if (cmd == "puback") return ack<Puback>(o);
    if (cmd == "pubrec") return ack<Pubrec>(o);
    if (cmd == "pubrel") return ack<Pubrel>(o);
    if (cmd == "pubcomp") return ack<Pubcomp>(o);
    if (cmd == "subscribe") {
      Subscribe s;
      s.packet_id = number<std::uint16_t>(take(o, "messageId"), 0xFFFF);
      for (Json& sub : take(o, "subscriptions")) {
        SubscribeTopic t;
        t.filter = text(take(sub, "topic"));
        t.qos = qos(take(sub, "qos"));
        if (v5()) {
          t.no_local = take(sub, "nl").get<bool>();
          t.retain_as_published = take(sub, "rap").get<bool>();
          t.retain_handling = static_cast<RetainHandling>(number<std::uint8_t>(take(sub, "rh"), 2));
        }
        done(sub, "subscription");
        s.topics.push_back(t);
      }
      s.properties = properties(take_optional(o, "properties"));
      return s;
    }
    if (cmd == "suback") {
      Suback s;
      s.packet_id = number<std::uint16_t>(take(o, "messageId"), 0xFFFF);
      // v3.1.1 granted QoS 0-2 and failure 0x80 are the v5 codes of the same value.
      for (const Json& code : take(o, "granted"))
        s.reasons.push_back(reason(code));
      s.properties = properties(take_optional(o, "properties"));
      return s;
    }
    if (cmd == "unsubscribe") {
      Unsubscribe u;
      u.packet_id = number<std::uint16_t>(take(o, "messageId"), 0xFFFF);
      for (const Json& filter : take(o, "unsubscriptions"))
        u.filters.push_back(text(filter));
      u.properties = properties(take_optional(o, "properties"));
      return u;
    }
    if (cmd == "unsuback") {
      Unsuback u;
      u.packet_id = number<std::uint16_t>(take(o, "messageId"), 0xFFFF);
      if (v5()) {
        for (const Json& code : take(o, "granted"))
          u.reasons.push_back(reason(code));
      }
      u.properties = properties(take_optional(o, "properties"));
      return u;
    }
    if (cmd == "pingreq") return Pingreq{};
    if (cmd == "pingresp") return Pingresp{};
    if (cmd == "disconnect") {
      Disconnect d;
      if (v5()) d.reason = reason(take(o, "reasonCode"));
      d.properties = properties(take_optional(o, "properties"));
      return d;
    }
    if (cmd == "auth") {
      Auth a;
      a.reason = reason(take(o, "reasonCode"));
      a.properties = properties(take_optional(o, "properties"));
      return a;
    }
    throw std::runtime_error("unknown cmd " + cmd);
  }

  Version version_;
  std::deque<std::string> storage_;  // what the string_views of the packet point into
};

// --- comparing two of our packets, field by field -----------------------------------------------

class FieldDiff {
 public:
  template <class T>
  void field(const std::string& name, const T& got, const T& want) {
    if (!(got == want)) text_ += "  " + name + ": got " + show(got) + ", want " + show(want) + "\n";
  }
  const std::string& text() const { return text_; }

 private:
  std::string text_;
};

#define PSOS_FIELD(member) diff.field(where + #member, got.member, want.member)

void compare(FieldDiff& diff, const std::string& where, const Properties& got,
             const Properties& want) {
  PSOS_FIELD(payload_format_indicator);
  PSOS_FIELD(message_expiry_interval);
  PSOS_FIELD(content_type);
  PSOS_FIELD(response_topic);
  PSOS_FIELD(correlation_data);
  PSOS_FIELD(subscription_identifiers);
  PSOS_FIELD(session_expiry_interval);
  PSOS_FIELD(assigned_client_identifier);
  PSOS_FIELD(server_keep_alive);
  PSOS_FIELD(authentication_method);
  PSOS_FIELD(authentication_data);
  PSOS_FIELD(request_problem_information);
  PSOS_FIELD(will_delay_interval);
  PSOS_FIELD(request_response_information);
  PSOS_FIELD(response_information);
  PSOS_FIELD(server_reference);
  PSOS_FIELD(reason_string);
  PSOS_FIELD(receive_maximum);
  PSOS_FIELD(topic_alias_maximum);
  PSOS_FIELD(topic_alias);
  PSOS_FIELD(maximum_qos);
  PSOS_FIELD(retain_available);
  PSOS_FIELD(user_properties);
  PSOS_FIELD(maximum_packet_size);
  PSOS_FIELD(wildcard_subscription_available);
  PSOS_FIELD(subscription_identifier_available);
  PSOS_FIELD(shared_subscription_available);
}

void compare(FieldDiff& diff, const std::string& where, const Connect& got, const Connect& want) {
  PSOS_FIELD(version);
  PSOS_FIELD(client_id);
  PSOS_FIELD(clean_start);
  PSOS_FIELD(keep_alive);
  PSOS_FIELD(username);
  PSOS_FIELD(password);
  diff.field(where + "will", got.will.has_value(), want.will.has_value());
  if (got.will && want.will) {
    const std::string will = where + "will.";
    diff.field(will + "topic", got.will->topic, want.will->topic);
    diff.field(will + "payload", got.will->payload, want.will->payload);
    diff.field(will + "qos", got.will->qos, want.will->qos);
    diff.field(will + "retain", got.will->retain, want.will->retain);
    compare(diff, will + "properties.", got.will->properties, want.will->properties);
  }
  compare(diff, where + "properties.", got.properties, want.properties);
}

void compare(FieldDiff& diff, const std::string& where, const Connack& got, const Connack& want) {
  PSOS_FIELD(session_present);
  PSOS_FIELD(reason);
  compare(diff, where + "properties.", got.properties, want.properties);
}

void compare(FieldDiff& diff, const std::string& where, const Publish& got, const Publish& want) {
  PSOS_FIELD(topic);
  PSOS_FIELD(payload);
  PSOS_FIELD(qos);
  PSOS_FIELD(retain);
  PSOS_FIELD(dup);
  PSOS_FIELD(packet_id);
  compare(diff, where + "properties.", got.properties, want.properties);
}

template <PacketType Type>
void compare(FieldDiff& diff, const std::string& where, const Ack<Type>& got,
             const Ack<Type>& want) {
  PSOS_FIELD(packet_id);
  PSOS_FIELD(reason);
  compare(diff, where + "properties.", got.properties, want.properties);
}

void compare(FieldDiff& diff, const std::string& where, const Subscribe& got,
             const Subscribe& want) {
  PSOS_FIELD(packet_id);
  diff.field(where + "topics.size()", got.topics.size(), want.topics.size());
  for (std::size_t i = 0; i < std::min(got.topics.size(), want.topics.size()); ++i) {
    const std::string topic = where + "topics[" + std::to_string(i) + "].";
    diff.field(topic + "filter", got.topics[i].filter, want.topics[i].filter);
    diff.field(topic + "qos", got.topics[i].qos, want.topics[i].qos);
    diff.field(topic + "no_local", got.topics[i].no_local, want.topics[i].no_local);
    diff.field(topic + "retain_as_published", got.topics[i].retain_as_published,
               want.topics[i].retain_as_published);
    diff.field(topic + "retain_handling", got.topics[i].retain_handling,
               want.topics[i].retain_handling);
  }
  compare(diff, where + "properties.", got.properties, want.properties);
}

void compare(FieldDiff& diff, const std::string& where, const Suback& got, const Suback& want) {
  PSOS_FIELD(packet_id);
  PSOS_FIELD(reasons);
  compare(diff, where + "properties.", got.properties, want.properties);
}

void compare(FieldDiff& diff, const std::string& where, const Unsubscribe& got,
             const Unsubscribe& want) {
  PSOS_FIELD(packet_id);
  PSOS_FIELD(filters);
  compare(diff, where + "properties.", got.properties, want.properties);
}

void compare(FieldDiff& diff, const std::string& where, const Unsuback& got, const Unsuback& want) {
  PSOS_FIELD(packet_id);
  PSOS_FIELD(reasons);
  compare(diff, where + "properties.", got.properties, want.properties);
}

void compare(FieldDiff&, const std::string&, const Pingreq&, const Pingreq&) {}
void compare(FieldDiff&, const std::string&, const Pingresp&, const Pingresp&) {}

void compare(FieldDiff& diff, const std::string& where, const Disconnect& got,
             const Disconnect& want) {
  PSOS_FIELD(reason);
  compare(diff, where + "properties.", got.properties, want.properties);
}

void compare(FieldDiff& diff, const std::string& where, const Auth& got, const Auth& want) {
  PSOS_FIELD(reason);
  compare(diff, where + "properties.", got.properties, want.properties);
}

#undef PSOS_FIELD

// Empty when `got` and `want` are the same packet, else one line per differing field.
std::string differences(const Packet& got, const Packet& want) {
  if (got.index() != want.index()) {
    return "  packet type: got " + std::string(packet_name(type_of(got))) + ", want " +
           std::string(packet_name(type_of(want))) + "\n";
  }
  FieldDiff diff;
  std::visit(
      [&](const auto& g) { compare(diff, "", g, std::get<std::decay_t<decltype(g)>>(want)); }, got);
  // The defaulted operator== sees every field: if it disagrees, compare() above misses one.
  if (diff.text().empty() && !(got == want)) return "  packets differ in a field compare() skips\n";
  return diff.text();
}

// True when `got` is `want`; otherwise a failure listing the fields that differ.
::testing::AssertionResult same_fields(const Packet& got, const Packet& want) {
  const std::string diff = differences(got, want);
  if (diff.empty()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "fields differ from the mqtt-packet object:\n" << diff;
}

// --- the tests ----------------------------------------------------------------------------------

// Feeds `stream` to a StreamDecoder in chunks of the sizes `next_size` returns and checks that it
// yields `count` packets, each equal to `want` with `raw()` equal to `bytes`.
template <class NextSize>
void check_stream(const Vector& vector, const Packet& want, const std::string& stream,
                  std::size_t count, NextSize next_size, const std::string& how) {
  SCOPED_TRACE("StreamDecoder, " + how);
  StreamDecoder decoder(vector.version);
  std::size_t packets = 0;
  std::size_t at = 0;
  while (at < stream.size()) {
    const std::size_t size = std::min(next_size(at), stream.size() - at);
    decoder.feed(std::string_view(stream).substr(at, size));
    at += size;
    Packet got;
    StreamDecoder::Status status;
    while ((status = decoder.next(got)) == StreamDecoder::Status::Ready) {
      ++packets;
      // The first wrong packet says it all; stop there.
      ASSERT_TRUE(same_fields(got, want)) << "packet " << packets << ", after byte " << at;
      ASSERT_TRUE(decoder.raw() == vector.bytes)
          << "raw() of packet " << packets << " is " << to_hex(decoder.raw()).substr(0, 400);
    }
    ASSERT_NE(status, StreamDecoder::Status::Failed)
        << to_string(decoder.error()) << " after byte " << at;
  }
  EXPECT_EQ(packets, count);
  EXPECT_EQ(decoder.buffered(), 0u);
}

// Chunk size at offset `at` of a stream of packets of `packet_size` bytes: `small` where fixed
// headers and fields are (the whole packet, or 4 KiB at either end of a large one) and 64 KiB
// through the middle of a large payload, which takes the same path at a fraction of the calls.
std::size_t small_near_fields(std::size_t at, std::size_t packet_size, std::size_t small) {
  static constexpr std::size_t kWindow = 4096;
  static constexpr std::size_t kLarge = 16 * kWindow;
  const std::size_t in_packet = at % packet_size;
  if (packet_size <= kLarge || in_packet < kWindow || packet_size - in_packet <= kWindow) {
    return small;
  }
  return std::min(packet_size - kWindow - in_packet, kLarge);
}

bool short_form_allowed(const Packet& packet) {
  // v5 acks, DISCONNECT and AUTH may leave out a Success reason code and an empty property
  // length (spec 3.4.2.1, 3.14.2.1, 3.15.2.1); mqtt-packet leaves them out less often than we may.
  switch (type_of(packet)) {
    case PacketType::Puback:
    case PacketType::Pubrec:
    case PacketType::Pubrel:
    case PacketType::Pubcomp:
    case PacketType::Disconnect:
    case PacketType::Auth:
      return true;
    default:
      return false;
  }
}

class VectorTest : public ::testing::Test {
 public:
  explicit VectorTest(std::size_t index) : index_(index) {}

  void TestBody() override {
    const Vector& vector = g_vectors[index_];
    SCOPED_TRACE(vector.name + ": " + to_hex(vector.bytes).substr(0, 120));
    Packet want;
    PacketFromJson mapping(vector.version);
    try {
      want = mapping.packet(vector.packet);
    } catch (const std::exception& e) {
      FAIL() << "the mqtt-packet object does not map to a psos packet: " << e.what();
    }

    // 1. Our decoder reads mqtt-packet's bytes as the fields of the mqtt-packet object.
    Packet got;
    const Error error = decode(vector.bytes, vector.version, got);
    EXPECT_FALSE(error) << "decode: " << to_string(error);
    if (!error) {
      EXPECT_TRUE(same_fields(got, want)) << "decode";
    }

    // 2. The same through StreamDecoder: 1-byte chunks; random chunks over three copies of the
    //    packet (so that packets also end and start inside one chunk).
    const std::size_t size = vector.bytes.size();
    check_stream(
        vector, want, vector.bytes, 1,
        [&](std::size_t at) { return small_near_fields(at, size, 1); }, "1-byte chunks");
    std::mt19937 rng(static_cast<std::mt19937::result_type>(index_ + 1));
    const std::string three = vector.bytes + vector.bytes + vector.bytes;
    std::uniform_int_distribution<std::size_t> small(1, 9);
    check_stream(
        vector, want, three, 3,
        [&](std::size_t at) { return small_near_fields(at, size, small(rng)); },
        "chunks of 1-9 bytes");
    std::uniform_int_distribution<std::size_t> large(1, three.size());
    check_stream(
        vector, want, three, 3, [&](std::size_t) { return large(rng); }, "random chunks");

    // 3. Our encoding of the same packet. Bytes may differ from mqtt-packet's only in property
    //    order and in short forms; mqtt_packet_readback.js checks that mqtt-packet reads it as
    //    the same fields.
    std::string ours;
    const Error encode_error = encode(want, vector.version, ours);
    ASSERT_FALSE(encode_error) << "encode: " << to_string(encode_error);
    EXPECT_EQ(encoded_size(want, vector.version), ours.size());
    g_encodings[index_] = {ours, ours == vector.bytes};
    if (ours == vector.bytes) return;

    const std::string context = "\n  psos:        " + to_hex(ours).substr(0, 400) +
                                "\n  mqtt-packet: " + to_hex(vector.bytes).substr(0, 400);
    ASSERT_FALSE(ours.empty());
    EXPECT_EQ(ours.front(), vector.bytes.front()) << "first byte (type and flags)" << context;
    if (ours.size() == vector.bytes.size()) {
      // Same length: only the order of properties may differ, so the same bytes in another order.
      std::string a = ours;
      std::string b = vector.bytes;
      std::sort(a.begin(), a.end());
      std::sort(b.begin(), b.end());
      EXPECT_TRUE(a == b) << "as long as mqtt-packet's encoding but not its bytes reordered"
                          << context;
    } else {
      EXPECT_TRUE(short_form_allowed(want) && vector.version == Version::v5 &&
                  ours.size() < vector.bytes.size() && vector.bytes.size() - ours.size() <= 2)
          << "length differs by more than a short form allows" << context;
    }
    Packet again;
    const Error again_error = decode(ours, vector.version, again);
    EXPECT_FALSE(again_error) << "decode of our encoding: " << to_string(again_error) << context;
    if (!again_error) {
      EXPECT_TRUE(same_fields(again, want)) << "decode of our encoding" << context;
    }
  }

 private:
  std::size_t index_;
};

// The set as a whole: enough distinct packets, every packet type in both versions.
TEST(Crosscheck, VectorsCoverEveryPacketTypeInBothVersions) {
  std::set<std::pair<Version, std::string>> distinct;
  std::set<std::pair<Version, std::uint8_t>> types;
  for (const Vector& vector : g_vectors) {
    distinct.emplace(vector.version, vector.bytes);
    if (!vector.bytes.empty()) {
      types.emplace(vector.version,
                    static_cast<std::uint8_t>(static_cast<unsigned char>(vector.bytes[0]) >> 4));
    }
  }
  EXPECT_GE(distinct.size(), 200u);
  for (std::uint8_t type = 1; type <= 15; ++type) {
    const std::string name(packet_name(static_cast<PacketType>(type)));
    EXPECT_TRUE(types.contains({Version::v5, type})) << "no v5 " << name;
    if (type != 15) {
      EXPECT_TRUE(types.contains({Version::v311, type})) << "no v3.1.1 " << name;
    }
  }
}

std::string test_name(std::string_view text) {
  std::string out;
  for (const char c : text) {
    const bool alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    out.push_back(alnum ? c : '_');
  }
  return out;
}

void load_vectors(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  if (!in) throw std::runtime_error("cannot read " + path);
  const Json document = Json::parse(text);  // from memory: much faster than from the stream
  for (const Json& entry : document.at("vectors")) {
    Vector vector;
    vector.name = entry.at("name").get<std::string>();
    const int version = entry.at("version").get<int>();
    if (version != 4 && version != 5) throw std::runtime_error(vector.name + ": bad version");
    vector.version = static_cast<Version>(version);
    vector.packet = entry.at("packet");
    vector.bytes = from_hex(entry.at("hex").get<std::string>());
    g_vectors.push_back(std::move(vector));
  }
  g_encodings.resize(g_vectors.size());
}

void register_tests() {
  std::set<std::string> used;
  for (std::size_t i = 0; i < g_vectors.size(); ++i) {
    // "v5/publish/qos=1,retain=0" -> suite "v5_publish", test "qos_1_retain_0".
    const std::string& name = g_vectors[i].name;
    const std::size_t slash = name.find('/', name.find('/') + 1);
    const std::string suite = "Crosscheck_" + test_name(name.substr(0, slash));
    std::string test = test_name(slash == std::string::npos ? name : name.substr(slash + 1));
    while (!used.insert(suite + "." + test).second)
      test += "_";
    ::testing::RegisterTest(suite.c_str(), test.c_str(), nullptr, nullptr, __FILE__, __LINE__,
                            [i]() -> VectorTest* { return new VectorTest(i); });
  }
}

void write_encodings(const std::string& path) {
  Json encodings = Json::array();
  std::size_t identical = 0;
  for (std::size_t i = 0; i < g_vectors.size(); ++i) {
    if (!g_encodings[i].bytes) continue;
    identical += g_encodings[i].identical ? 1 : 0;
    encodings.push_back({{"name", g_vectors[i].name},
                         {"version", static_cast<int>(g_vectors[i].version)},
                         {"hex", to_hex(*g_encodings[i].bytes)},
                         {"identical", g_encodings[i].identical}});
  }
  std::ofstream out(path);
  out << Json{{"encodings", encodings}}.dump(1) << "\n";
  if (!out) throw std::runtime_error("cannot write " + path);
  std::cout << "crosscheck: wrote " << encodings.size() << " psos encodings to " << path << "; "
            << identical << " of " << g_vectors.size()
            << " byte-identical to mqtt-packet's (the rest differ in property order or use a "
               "short form)\n";
}

}  // namespace
}  // namespace psos::mqtt

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  const char* env_vectors = std::getenv("PSOS_CROSSCHECK_VECTORS");
  const char* env_out = std::getenv("PSOS_CROSSCHECK_OUT");
  std::string vectors = env_vectors ? env_vectors : "";
  std::string out = env_out ? env_out : "";
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--vectors") {
      vectors = argv[i + 1];
    } else if (flag == "--out") {
      out = argv[i + 1];
    } else {
      std::cerr << "psos_crosscheck_tests: unknown argument " << flag << "\n";
      return 2;
    }
  }
  if (vectors.empty() || (argc % 2) == 0) {
    std::cerr << "usage: psos_crosscheck_tests --vectors VECTORS.json [--out OURS.json]\n"
                 "  VECTORS.json comes from node tools/interop/mqtt_packet_vectors.js\n";
    return 2;
  }
  try {
    psos::mqtt::load_vectors(vectors);
  } catch (const std::exception& e) {
    std::cerr << "psos_crosscheck_tests: " << vectors << ": " << e.what()
              << "\n  (generate it with node tools/interop/mqtt_packet_vectors.js)\n";
    return 2;
  }
  psos::mqtt::register_tests();
  const int result = RUN_ALL_TESTS();
  if (!out.empty()) {
    try {
      psos::mqtt::write_encodings(out);
    } catch (const std::exception& e) {
      std::cerr << "psos_crosscheck_tests: " << e.what() << "\n";
      return 1;
    }
  }
  return result;
}
