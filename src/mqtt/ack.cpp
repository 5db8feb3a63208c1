// PUBACK, PUBREC, PUBREL and PUBCOMP (spec v5 3.4-3.7, v3.1.1 3.4-3.7): a packet identifier,
// and in v5 a reason code and properties that may be left out when they are the defaults.
#include "mqtt/packet_codec.hpp"
#include "mqtt/properties_codec.hpp"

namespace psos::mqtt::wire {
namespace {

constexpr std::uint8_t kPubackReasons[] = {0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99};
constexpr std::uint8_t kPubrelReasons[] = {0x00, 0x92};

template <PacketType Type>
constexpr std::span<const std::uint8_t> allowed_reasons() {
  if constexpr (Type == PacketType::Puback || Type == PacketType::Pubrec)
    return kPubackReasons;
  else
    return kPubrelReasons;
}

template <PacketType Type>
constexpr PropertyContext context() {
  if constexpr (Type == PacketType::Puback) return PropertyContext::Puback;
  if constexpr (Type == PacketType::Pubrec) return PropertyContext::Pubrec;
  if constexpr (Type == PacketType::Pubrel) return PropertyContext::Pubrel;
  return PropertyContext::Pubcomp;
}

}  // namespace

template <PacketType Type>
bool read_body(Reader& r, std::uint8_t, Version version, Ack<Type>& out) {
  if (!r.u16(out.packet_id, "packet identifier")) return false;
  if (out.packet_id == 0)
    return r.fail_at(r.offset() - 2, ReasonCode::ProtocolError, "packet identifier is 0");
  if (version != Version::v5 || r.at_end()) return true;
  if (!read_reason(r, out.reason, allowed_reasons<Type>())) return false;
  if (r.at_end()) return true;
  return read_properties(r, context<Type>(), out.properties);
}

template <PacketType Type>
std::size_t body_size(const Ack<Type>& p, Version version, EncodeCheck& check) {
  if (p.packet_id == 0) check.fail(ReasonCode::ProtocolError, "packet identifier is 0");
  if (version != Version::v5) return 2;
  if (!reason_in(p.reason, allowed_reasons<Type>()))
    check.fail(ReasonCode::ProtocolError, "reason code not allowed in this packet");
  if (p.properties.empty()) return p.reason == ReasonCode::Success ? 2 : 3;
  return 3 + properties_size(p.properties, context<Type>(), version, check);
}

template <PacketType Type>
void write_body(Writer& w, const Ack<Type>& p, Version version) {
  w.u16(p.packet_id);
  if (version != Version::v5) return;
  if (p.properties.empty()) {
    if (p.reason != ReasonCode::Success) w.u8(static_cast<std::uint8_t>(p.reason));
    return;
  }
  w.u8(static_cast<std::uint8_t>(p.reason));
  write_properties(w, p.properties);
}

#define PSOS_INSTANTIATE_ACK(T)                                         \
  template bool read_body(Reader&, std::uint8_t, Version, Ack<T>&);     \
  template std::size_t body_size(const Ack<T>&, Version, EncodeCheck&); \
  template void write_body(Writer&, const Ack<T>&, Version);
PSOS_INSTANTIATE_ACK(PacketType::Puback)
PSOS_INSTANTIATE_ACK(PacketType::Pubrec)
PSOS_INSTANTIATE_ACK(PacketType::Pubrel)
PSOS_INSTANTIATE_ACK(PacketType::Pubcomp)
#undef PSOS_INSTANTIATE_ACK

}  // namespace psos::mqtt::wire
