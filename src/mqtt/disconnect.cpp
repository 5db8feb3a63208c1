// DISCONNECT and AUTH (spec v5 3.14-3.15, v3.1.1 3.14), and the empty PINGREQ/PINGRESP.
#include "mqtt/packet_codec.hpp"
#include "mqtt/properties_codec.hpp"

namespace psos::mqtt::wire {
namespace {

constexpr std::uint8_t kDisconnectReasons[] = {
    0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D, 0x8E, 0x8F, 0x90, 0x93, 0x94,
    0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1, 0xA2};
constexpr std::uint8_t kAuthReasons[] = {0x00, 0x18, 0x19};

// v5 DISCONNECT and AUTH: reason and properties may be omitted (remaining length 0 = Success).
template <class P>
bool read_reason_and_properties(Reader& r, P& out, std::span<const std::uint8_t> allowed,
                                PropertyContext context) {
  if (r.at_end()) return true;
  if (!read_reason(r, out.reason, allowed)) return false;
  if (r.at_end()) return true;
  return read_properties(r, context, out.properties);
}

template <class P>
std::size_t reason_and_properties_size(const P& p, std::span<const std::uint8_t> allowed,
                                       PropertyContext context, EncodeCheck& check) {
  if (!reason_in(p.reason, allowed))
    check.fail(ReasonCode::ProtocolError, "reason code not allowed in this packet");
  if (p.properties.empty()) return p.reason == ReasonCode::Success ? 0 : 1;
  return 1 + properties_size(p.properties, context, Version::v5, check);
}

template <class P>
void write_reason_and_properties(Writer& w, const P& p) {
  if (p.properties.empty()) {
    if (p.reason != ReasonCode::Success) w.u8(static_cast<std::uint8_t>(p.reason));
    return;
  }
  w.u8(static_cast<std::uint8_t>(p.reason));
  write_properties(w, p.properties);
}

}  // namespace

bool read_body(Reader&, std::uint8_t, Version, Pingreq&) {
  return true;
}
bool read_body(Reader&, std::uint8_t, Version, Pingresp&) {
  return true;
}

bool read_body(Reader& r, std::uint8_t, Version version, Disconnect& out) {
  if (version != Version::v5) return true;
  return read_reason_and_properties(r, out, kDisconnectReasons, PropertyContext::Disconnect);
}

std::size_t body_size(const Disconnect& p, Version version, EncodeCheck& check) {
  if (version != Version::v5) return 0;
  return reason_and_properties_size(p, kDisconnectReasons, PropertyContext::Disconnect, check);
}

void write_body(Writer& w, const Disconnect& p, Version version) {
  if (version == Version::v5) write_reason_and_properties(w, p);
}

bool read_body(Reader& r, std::uint8_t, Version, Auth& out) {
  // Only the short form (remaining length 0, spec 3.15.2.1) may leave out the Authentication
  // Method; otherwise omitting it is a Protocol Error (3.15.2.2.2).
  const bool short_form = r.at_end();
  if (!read_reason_and_properties(r, out, kAuthReasons, PropertyContext::Auth)) return false;
  if (!short_form && !out.properties.authentication_method)
    return r.fail(ReasonCode::ProtocolError, "AUTH has no Authentication Method");
  return true;
}

std::size_t body_size(const Auth& p, Version version, EncodeCheck& check) {
  if (version != Version::v5) {
    check.fail(ReasonCode::ProtocolError, "AUTH does not exist in MQTT 3.1.1");
    return 0;
  }
  return reason_and_properties_size(p, kAuthReasons, PropertyContext::Auth, check);
}

void write_body(Writer& w, const Auth& p, Version) {
  write_reason_and_properties(w, p);
}

}  // namespace psos::mqtt::wire
