// PUBLISH (spec v5 3.3, v3.1.1 3.3): the hot path of every broker and client.
#include <cstring>

#include "mqtt/packet_codec.hpp"
#include "mqtt/properties_codec.hpp"

namespace psos::mqtt::wire {
namespace {
constexpr std::uint8_t kDup = 0x08;
constexpr std::uint8_t kRetain = 0x01;
}  // namespace

bool read_topic_name(Reader& r, std::string_view& out, bool allow_empty) {
  const std::uint32_t at = r.offset();
  if (!r.utf8(out, "topic name")) return false;
  if (out.empty()) {
    if (allow_empty) return true;
    return r.fail_at(at, ReasonCode::TopicNameInvalid, "topic name is empty");
  }
  if (std::memchr(out.data(), '+', out.size()) || std::memchr(out.data(), '#', out.size()))
    return r.fail_at(at, ReasonCode::TopicNameInvalid,
                     "topic name contains a wildcard ('+' or '#')");
  return true;
}

bool read_body(Reader& r, std::uint8_t flags, Version version, Publish& out) {
  const auto qos = static_cast<std::uint8_t>((flags >> 1) & 0x03);
  if (qos == 3) return r.fail_at(0, ReasonCode::MalformedPacket, "PUBLISH QoS is 3");
  out.qos = static_cast<QoS>(qos);
  out.dup = flags & kDup;
  out.retain = flags & kRetain;
  if (out.dup && qos == 0)
    return r.fail_at(0, ReasonCode::MalformedPacket, "DUP flag set on a QoS 0 PUBLISH");
  const bool v5 = version == Version::v5;
  const std::uint32_t topic_at = r.offset();
  if (!read_topic_name(r, out.topic, v5)) return false;
  if (qos > 0) {
    if (!r.u16(out.packet_id, "packet identifier")) return false;
    if (out.packet_id == 0)
      return r.fail_at(r.offset() - 2, ReasonCode::ProtocolError,
                       "packet identifier is 0 on a QoS 1 or 2 PUBLISH");
  }
  if (v5) {
    if (!read_properties(r, PropertyContext::Publish, out.properties)) return false;
    if (out.topic.empty() && !out.properties.topic_alias)
      return r.fail_at(topic_at, ReasonCode::ProtocolError,
                       "topic name is empty and there is no Topic Alias");
  }
  out.payload = r.rest();
  return true;
}

std::uint8_t header_flags(const Publish& p) noexcept {
  std::uint8_t flags = static_cast<std::uint8_t>(static_cast<unsigned>(p.qos) << 1);
  if (p.dup) flags |= kDup;
  if (p.retain) flags |= kRetain;
  return flags;
}

std::size_t body_size(const Publish& p, Version version, EncodeCheck& check) {
  if (p.qos > QoS::ExactlyOnce) check.fail(ReasonCode::MalformedPacket, "PUBLISH QoS is 3");
  if (p.qos != QoS::AtMostOnce && p.packet_id == 0)
    check.fail(ReasonCode::ProtocolError, "QoS 1 or 2 PUBLISH needs a non-zero packet identifier");
  if (p.dup && p.qos == QoS::AtMostOnce)
    check.fail(ReasonCode::MalformedPacket, "DUP flag set on a QoS 0 PUBLISH");
  if (p.topic.empty() && (version != Version::v5 || !p.properties.topic_alias))
    check.fail(ReasonCode::TopicNameInvalid, "topic name is empty and there is no Topic Alias");
  std::size_t n = string_size(p.topic, check.ok) + (p.qos != QoS::AtMostOnce ? 2 : 0);
  n += properties_size(p.properties, PropertyContext::Publish, version, check);
  return n + p.payload.size();
}

void write_body(Writer& w, const Publish& p, Version version) {
  w.binary(p.topic);
  if (p.qos != QoS::AtMostOnce) w.u16(p.packet_id);
  if (version == Version::v5) write_properties(w, p.properties);
  w.raw(p.payload);
}

}  // namespace psos::mqtt::wire
