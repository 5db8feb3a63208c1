// UNSUBSCRIBE and UNSUBACK (spec v5 3.10-3.11, v3.1.1 3.10-3.11).
#include "mqtt/packet_codec.hpp"
#include "mqtt/properties_codec.hpp"

namespace psos::mqtt::wire {
namespace {
constexpr std::uint8_t kUnsubackReasons[] = {0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91};
}  // namespace

bool read_body(Reader& r, std::uint8_t, Version version, Unsubscribe& out) {
  if (!r.u16(out.packet_id, "packet identifier")) return false;
  if (out.packet_id == 0)
    return r.fail_at(r.offset() - 2, ReasonCode::ProtocolError, "packet identifier is 0");
  if (version == Version::v5 && !read_properties(r, PropertyContext::Unsubscribe, out.properties))
    return false;
  if (r.at_end()) return r.fail(ReasonCode::ProtocolError, "UNSUBSCRIBE has no topic filter");
  while (!r.at_end()) {
    if (!read_filter(r, out.filters.emplace_back())) return false;
  }
  return true;
}

std::size_t body_size(const Unsubscribe& p, Version version, EncodeCheck& check) {
  if (p.packet_id == 0) check.fail(ReasonCode::ProtocolError, "packet identifier is 0");
  if (p.filters.empty()) check.fail(ReasonCode::ProtocolError, "UNSUBSCRIBE has no topic filter");
  std::size_t n = 2 + properties_size(p.properties, PropertyContext::Unsubscribe, version, check);
  for (std::string_view f : p.filters) {
    if (validate_topic_filter(f))
      check.fail(ReasonCode::TopicFilterInvalid, "invalid topic filter");
    n += string_size(f, check.ok);
  }
  return n;
}

void write_body(Writer& w, const Unsubscribe& p, Version version) {
  w.u16(p.packet_id);
  if (version == Version::v5) write_properties(w, p.properties);
  for (std::string_view f : p.filters)
    w.binary(f);
}

bool read_body(Reader& r, std::uint8_t, Version version, Unsuback& out) {
  if (!r.u16(out.packet_id, "packet identifier")) return false;
  if (out.packet_id == 0)
    return r.fail_at(r.offset() - 2, ReasonCode::ProtocolError, "packet identifier is 0");
  if (version != Version::v5) return true;
  if (!read_properties(r, PropertyContext::Unsuback, out.properties)) return false;
  if (r.at_end()) return r.fail(ReasonCode::ProtocolError, "UNSUBACK has no reason code");
  while (!r.at_end()) {
    if (!read_reason(r, out.reasons.emplace_back(), kUnsubackReasons)) return false;
  }
  return true;
}

std::size_t body_size(const Unsuback& p, Version version, EncodeCheck& check) {
  if (p.packet_id == 0) check.fail(ReasonCode::ProtocolError, "packet identifier is 0");
  if (version != Version::v5) return 2;
  if (p.reasons.empty()) check.fail(ReasonCode::ProtocolError, "UNSUBACK has no reason code");
  for (ReasonCode reason : p.reasons)
    if (!reason_in(reason, kUnsubackReasons))
      check.fail(ReasonCode::ProtocolError, "reason code not allowed in UNSUBACK");
  return 2 + properties_size(p.properties, PropertyContext::Unsuback, version, check) +
         p.reasons.size();
}

void write_body(Writer& w, const Unsuback& p, Version version) {
  w.u16(p.packet_id);
  if (version != Version::v5) return;
  write_properties(w, p.properties);
  for (ReasonCode reason : p.reasons)
    w.u8(static_cast<std::uint8_t>(reason));
}

}  // namespace psos::mqtt::wire
