// PUBACK, PUBREC, PUBREL and PUBCOMP: the QoS 1 and 2 flows of what the router sends (outbound)
// and receives (inbound QoS 2), and the flows that end otherwise (a PUBLISH the link could not
// send, a message that expired in the queue).
#include "router/broker.hpp"

namespace psos::router {

using mqtt::AckStatus;
using mqtt::PacketType;
using mqtt::ReasonCode;

void Broker::on_puback(Session& s, const mqtt::Puback& ack, Actions& out) {
  auto outcome = s.outbound.on_puback(ack.packet_id, ack.reason);
  if (outcome.status == AckStatus::WrongStage)
    return protocol_error(s, ReasonCode::ProtocolError, "PUBACK for a QoS 2 message", out);
  flow_ended(s, outcome.message, out);
  window_moved(s, out);
}

void Broker::on_pubrec(Session& s, const mqtt::Pubrec& rec, Actions& out) {
  auto outcome = s.outbound.on_pubrec(rec.packet_id, rec.reason);
  switch (outcome.status) {
    case AckStatus::SendPubrel:
      if (s.stored)
        out.store(
            store::UpdateStage{s.store_key(), rec.packet_id, mqtt::OutboundStage::AwaitingPubcomp});
      out.acknowledge(*s.link, PacketType::Pubrel, rec.packet_id);
      break;
    case AckStatus::Refused:
      flow_ended(s, outcome.message, out);
      break;
    case AckStatus::UnknownPacketId:
      out.acknowledge(*s.link, PacketType::Pubrel, rec.packet_id,
                      s.version == mqtt::Version::v5 ? ReasonCode::PacketIdentifierNotFound
                                                     : ReasonCode::Success);
      break;
    case AckStatus::WrongStage:
      return protocol_error(s, ReasonCode::ProtocolError, "PUBREC for a QoS 1 message", out);
    case AckStatus::Completed:
      break;
  }
  window_moved(s, out);
}

void Broker::on_pubcomp(Session& s, const mqtt::Pubcomp& comp, Actions& out) {
  auto outcome = s.outbound.on_pubcomp(comp.packet_id);
  if (outcome.status == AckStatus::WrongStage)
    return protocol_error(s, ReasonCode::ProtocolError, "PUBCOMP before PUBREC", out);
  flow_ended(s, outcome.message, out);
  window_moved(s, out);
}

void Broker::on_pubrel(Session& s, const mqtt::Pubrel& rel, Actions& out) {
  ReasonCode reason = ReasonCode::Success;
  if (!s.inbound.on_pubrel(rel.packet_id)) {
    if (s.version == mqtt::Version::v5) reason = ReasonCode::PacketIdentifierNotFound;
  } else if (s.stored) {
    out.store(store::EraseInbound{s.store_key(), rel.packet_id});
  }
  out.acknowledge(*s.link, PacketType::Pubcomp, rel.packet_id, reason);
}

void Broker::window_moved(Session& s, Actions& out) {
  pump(s, out);
  release_waiters(s, false, out);
}

void Broker::publish_discarded(SessionId id, Link& link, std::uint16_t packet_id, Actions& out) {
  Session* s = find(id, link);
  ++stats_.messages_dropped;
  if (s == nullptr) return;
  ++s->dropped;
  abandon_flow(*s, packet_id, out);
  pump(*s, out);
}

void Broker::abandon_flow(Session& s, std::uint16_t packet_id, Actions& out) {
  // A QoS 2 flow awaiting PUBREC ends on a refusal.
  auto outcome = s.outbound.on_puback(packet_id);
  if (outcome.status == AckStatus::WrongStage)
    outcome = s.outbound.on_pubrec(packet_id, ReasonCode::UnspecifiedError);
  flow_ended(s, outcome.message, out);
}

void Broker::flow_ended(Session& s, const std::optional<Delivery>& delivery, Actions& out) {
  if (!s.stored || !delivery) return;
  out.store(store::EraseQueued{s.store_key(), delivery->seq, delivery->message});
}

}  // namespace psos::router
