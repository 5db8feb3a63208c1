// SUBSCRIBE and SUBACK (spec v5 3.8-3.9, v3.1.1 3.8-3.9).
#include "mqtt/packet_codec.hpp"
#include "mqtt/properties_codec.hpp"

namespace psos::mqtt::wire {
namespace {

constexpr std::uint8_t kSubackReasons[] = {0x00, 0x01, 0x02, 0x80, 0x83, 0x87,
                                           0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2};

constexpr std::uint8_t kV3SubackCodes[] = {0x00, 0x01, 0x02, 0x80};

bool read_packet_id(Reader& r, std::uint16_t& id) {
  if (!r.u16(id, "packet identifier")) return false;
  if (id == 0)
    return r.fail_at(r.offset() - 2, ReasonCode::ProtocolError, "packet identifier is 0");
  return true;
}

}  // namespace

bool read_filter(Reader& r, std::string_view& filter) {
  const std::uint32_t at = r.offset();
  if (!r.utf8(filter, "topic filter")) return false;
  const Error e = validate_topic_filter(filter);
  if (e) return r.fail_at(at + 2 + e.offset, e.code, e.message);
  return true;
}

bool read_body(Reader& r, std::uint8_t, Version version, Subscribe& out) {
  const bool v5 = version == Version::v5;
  if (!read_packet_id(r, out.packet_id)) return false;
  if (v5 && !read_properties(r, PropertyContext::Subscribe, out.properties)) return false;
  if (r.at_end()) return r.fail(ReasonCode::ProtocolError, "SUBSCRIBE has no topic filter");
  while (!r.at_end()) {
    SubscribeTopic& t = out.topics.emplace_back();
    if (!read_filter(r, t.filter)) return false;
    std::uint8_t options = 0;
    if (!r.u8(options, "subscription options")) return false;
    const std::uint32_t at = r.offset() - 1;
    if ((options & 0x03) == 3)
      return r.fail_at(at, v5 ? ReasonCode::ProtocolError : ReasonCode::MalformedPacket,
                       "subscription QoS is 3");
    t.qos = static_cast<QoS>(options & 0x03);
    if (!v5) {
      if (options & 0xFC)
        return r.fail_at(at, ReasonCode::MalformedPacket,
                         "reserved bits of the requested QoS byte are set");
      continue;
    }
    if (options & 0xC0)
      return r.fail_at(at, ReasonCode::MalformedPacket,
                       "reserved bits of the subscription options are set");
    t.no_local = options & 0x04;
    t.retain_as_published = options & 0x08;
    const auto handling = static_cast<std::uint8_t>((options >> 4) & 0x03);
    if (handling == 3) return r.fail_at(at, ReasonCode::ProtocolError, "Retain Handling is 3");
    t.retain_handling = static_cast<RetainHandling>(handling);
    if (t.no_local && t.filter.starts_with("$share/"))
      return r.fail_at(at, ReasonCode::ProtocolError, "No Local set on a shared subscription");
  }
  return true;
}

std::size_t body_size(const Subscribe& p, Version version, EncodeCheck& check) {
  if (p.packet_id == 0) check.fail(ReasonCode::ProtocolError, "packet identifier is 0");
  if (p.topics.empty()) check.fail(ReasonCode::ProtocolError, "SUBSCRIBE has no topic filter");
  std::size_t n = 2 + properties_size(p.properties, PropertyContext::Subscribe, version, check);
  for (const SubscribeTopic& t : p.topics) {
    if (validate_topic_filter(t.filter))
      check.fail(ReasonCode::TopicFilterInvalid, "invalid topic filter");
    if (t.qos > QoS::ExactlyOnce) check.fail(ReasonCode::MalformedPacket, "subscription QoS is 3");
    if (static_cast<unsigned>(t.retain_handling) > 2)
      check.fail(ReasonCode::ProtocolError, "Retain Handling is 3");
    n += string_size(t.filter, check.ok) + 1;
  }
  return n;
}

void write_body(Writer& w, const Subscribe& p, Version version) {
  w.u16(p.packet_id);
  const bool v5 = version == Version::v5;
  if (v5) write_properties(w, p.properties);
  for (const SubscribeTopic& t : p.topics) {
    w.binary(t.filter);
    auto options = static_cast<std::uint8_t>(t.qos);
    if (v5) {
      if (t.no_local) options |= 0x04;
      if (t.retain_as_published) options |= 0x08;
      options |= static_cast<std::uint8_t>(static_cast<unsigned>(t.retain_handling) << 4);
    }
    w.u8(options);
  }
}

bool read_body(Reader& r, std::uint8_t, Version version, Suback& out) {
  const bool v5 = version == Version::v5;
  if (!read_packet_id(r, out.packet_id)) return false;
  if (v5 && !read_properties(r, PropertyContext::Suback, out.properties)) return false;
  if (r.at_end()) return r.fail(ReasonCode::ProtocolError, "SUBACK has no reason code");
  while (!r.at_end()) {
    ReasonCode& reason = out.reasons.emplace_back();
    if (!read_reason(r, reason,
                     v5 ? std::span<const std::uint8_t>(kSubackReasons)
                        : std::span<const std::uint8_t>(kV3SubackCodes)))
      return false;
  }
  return true;
}

std::size_t body_size(const Suback& p, Version version, EncodeCheck& check) {
  if (p.packet_id == 0) check.fail(ReasonCode::ProtocolError, "packet identifier is 0");
  if (p.reasons.empty()) check.fail(ReasonCode::ProtocolError, "SUBACK has no reason code");
  for (ReasonCode reason : p.reasons)
    if (!reason_in(reason, kSubackReasons))
      check.fail(ReasonCode::ProtocolError, "reason code not allowed in SUBACK");
  return 2 + properties_size(p.properties, PropertyContext::Suback, version, check) +
         p.reasons.size();
}

void write_body(Writer& w, const Suback& p, Version version) {
  w.u16(p.packet_id);
  const bool v5 = version == Version::v5;
  if (v5) write_properties(w, p.properties);
  for (ReasonCode reason : p.reasons) {
    // MQTT 3.1.1 knows one failure code, 0x80.
    w.u8(v5 || !is_failure(reason) ? static_cast<std::uint8_t>(reason) : std::uint8_t{0x80});
  }
}

}  // namespace psos::mqtt::wire
