// CONNECT (spec v5 3.1, v3.1.1 3.1) and CONNACK (v5 3.2, v3.1.1 3.2).
#include "mqtt/packet_codec.hpp"
#include "mqtt/properties_codec.hpp"

namespace psos::mqtt::wire {
namespace {

constexpr std::uint8_t kUsername = 0x80;
constexpr std::uint8_t kPassword = 0x40;
constexpr std::uint8_t kWillRetain = 0x20;
constexpr std::uint8_t kWillQosShift = 3;
constexpr std::uint8_t kWillFlag = 0x04;
constexpr std::uint8_t kCleanStart = 0x02;
constexpr std::uint8_t kReserved = 0x01;

}  // namespace

bool read_body(Reader& r, std::uint8_t, Version, Connect& out) {
  std::string_view name;
  if (!r.utf8(name, "protocol name")) return false;
  if (name != "MQTT") {
    return r.fail_at(2, ReasonCode::UnsupportedProtocolVersion,
                     name == "MQIsdp" ? "MQTT 3.1 (protocol name MQIsdp) is not supported; use "
                                        "MQTT 3.1.1 or 5"
                                      : "protocol name is not \"MQTT\"");
  }
  std::uint8_t level = 0;
  if (!r.u8(level, "protocol level")) return false;
  if (level != 4 && level != 5)
    return r.fail_at(r.offset() - 1, ReasonCode::UnsupportedProtocolVersion,
                     "protocol level is neither 4 (MQTT 3.1.1) nor 5 (MQTT 5)");
  out.version = static_cast<Version>(level);
  const bool v5 = out.version == Version::v5;
  std::uint8_t flags = 0;
  if (!r.u8(flags, "connect flags")) return false;
  const std::uint32_t flags_at = r.offset() - 1;
  if (flags & kReserved)
    return r.fail_at(flags_at, ReasonCode::MalformedPacket, "reserved connect flag (bit 0) is set");
  const auto will_qos = static_cast<std::uint8_t>((flags >> kWillQosShift) & 0x03);
  const bool will = flags & kWillFlag;
  if (will_qos == 3) return r.fail_at(flags_at, ReasonCode::MalformedPacket, "will QoS is 3");
  if (!will && (will_qos != 0 || (flags & kWillRetain)))
    return r.fail_at(flags_at, ReasonCode::MalformedPacket,
                     "will QoS or will retain set without the will flag");
  if (!v5 && (flags & kPassword) && !(flags & kUsername))
    return r.fail_at(flags_at, ReasonCode::MalformedPacket,
                     "password flag set without the user name flag (not allowed in MQTT 3.1.1)");
  out.clean_start = flags & kCleanStart;
  if (!r.u16(out.keep_alive, "keep alive")) return false;
  if (v5 && !read_properties(r, PropertyContext::Connect, out.properties)) return false;
  if (out.properties.authentication_data && !out.properties.authentication_method)
    return r.fail(ReasonCode::ProtocolError, "Authentication Data without Authentication Method");
  if (!r.utf8(out.client_id, "client identifier")) return false;
  if (will) {
    Will& w = out.will.emplace();
    w.qos = static_cast<QoS>(will_qos);
    w.retain = flags & kWillRetain;
    if (v5 && !read_properties(r, PropertyContext::Will, w.properties)) return false;
    if (!read_topic_name(r, w.topic, false)) return false;
    if (!r.binary(w.payload, "will payload")) return false;
  }
  if (flags & kUsername) {
    if (!r.utf8(out.username.emplace(), "user name")) return false;
  }
  if (flags & kPassword) {
    if (!r.binary(out.password.emplace(), "password")) return false;
  }
  return true;
}

std::size_t body_size(const Connect& p, Version version, EncodeCheck& check) {
  const bool v5 = version == Version::v5;
  if (p.version != version)
    check.fail(ReasonCode::ProtocolError, "CONNECT version differs from the encoding version");
  std::size_t n = 6 + 1 + 1 + 2;  // "MQTT", level, flags, keep alive
  n += properties_size(p.properties, PropertyContext::Connect, version, check);
  n += string_size(p.client_id, check.ok);
  if (p.will) {
    if (p.will->qos > QoS::ExactlyOnce) check.fail(ReasonCode::MalformedPacket, "will QoS is 3");
    n += properties_size(p.will->properties, PropertyContext::Will, version, check);
    if (validate_topic_name(p.will->topic))
      check.fail(ReasonCode::TopicNameInvalid, "will topic is not a valid topic name");
    n += string_size(p.will->topic, check.ok) + string_size(p.will->payload, check.ok);
  }
  if (p.username) n += string_size(*p.username, check.ok);
  if (p.password) {
    if (!v5 && !p.username)
      check.fail(ReasonCode::ProtocolError,
                 "MQTT 3.1.1 cannot carry a password without a user name");
    n += string_size(*p.password, check.ok);
  }
  return n;
}

void write_body(Writer& w, const Connect& p, Version version) {
  w.binary("MQTT");
  w.u8(static_cast<std::uint8_t>(version));
  std::uint8_t flags = 0;
  if (p.username) flags |= kUsername;
  if (p.password) flags |= kPassword;
  if (p.will) {
    flags |= kWillFlag;
    flags |= static_cast<std::uint8_t>(static_cast<unsigned>(p.will->qos) << kWillQosShift);
    if (p.will->retain) flags |= kWillRetain;
  }
  if (p.clean_start) flags |= kCleanStart;
  w.u8(flags);
  w.u16(p.keep_alive);
  if (version == Version::v5) write_properties(w, p.properties);
  w.binary(p.client_id);
  if (p.will) {
    if (version == Version::v5) write_properties(w, p.will->properties);
    w.binary(p.will->topic);
    w.binary(p.will->payload);
  }
  if (p.username) w.binary(*p.username);
  if (p.password) w.binary(*p.password);
}

namespace {
constexpr std::uint8_t kConnackReasons[] = {0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86,
                                            0x87, 0x88, 0x89, 0x8A, 0x8C, 0x90, 0x95, 0x97,
                                            0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F};
}

bool read_body(Reader& r, std::uint8_t, Version version, Connack& out) {
  std::uint8_t ack_flags = 0;
  if (!r.u8(ack_flags, "connect acknowledge flags")) return false;
  if (ack_flags & 0xFE)
    return r.fail_at(r.offset() - 1, ReasonCode::MalformedPacket,
                     "reserved connect acknowledge flags are set");
  out.session_present = ack_flags & 0x01;
  if (version == Version::v5 && r.remaining() == 1) {
    // A 3.1.1-only server answers a v5 CONNECT with its own CONNACK (no properties): return
    // code 1 is "unacceptable protocol version", which a client needs to fall back to 3.1.1.
    std::uint8_t code = 0;
    r.u8(code, "return code");
    if (code != 0x01)
      return r.fail_at(r.offset() - 1, ReasonCode::MalformedPacket,
                       "CONNACK without properties (only a 3.1.1 version refusal may omit them)");
    out.reason = ReasonCode::UnsupportedProtocolVersion;
  } else if (version == Version::v5) {
    if (!read_reason(r, out.reason, kConnackReasons)) return false;
    if (!read_properties(r, PropertyContext::Connack, out.properties)) return false;
  } else {
    std::uint8_t code = 0;
    if (!r.u8(code, "return code")) return false;
    if (code > 5)
      return r.fail_at(r.offset() - 1, ReasonCode::ProtocolError,
                       "CONNACK return code above 5 is reserved in MQTT 3.1.1");
    out.reason = from_v3_connack(code);
  }
  if (out.session_present && out.reason != ReasonCode::Success)
    return r.fail_at(2, ReasonCode::ProtocolError, "session present set on a refused connection");
  return true;
}

std::size_t body_size(const Connack& p, Version version, EncodeCheck& check) {
  if (version == Version::v5 && !reason_in(p.reason, kConnackReasons))
    check.fail(ReasonCode::ProtocolError, "reason code not allowed in CONNACK");
  return 2 + properties_size(p.properties, PropertyContext::Connack, version, check);
}

void write_body(Writer& w, const Connack& p, Version version) {
  w.u8(p.session_present ? 1 : 0);
  if (version == Version::v5) {
    w.u8(static_cast<std::uint8_t>(p.reason));
    write_properties(w, p.properties);
  } else {
    w.u8(to_v3_connack(p.reason));
  }
}

}  // namespace psos::mqtt::wire
