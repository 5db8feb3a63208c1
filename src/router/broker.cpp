// The broker state's common part: the state restored at start, timer events, the dispatch of a
// connected session's packets to their handlers (one file per operation, see broker.hpp) and
// protocol errors.
#include "router/broker.hpp"

#include <algorithm>

namespace psos::router {

using mqtt::ReasonCode;

std::int64_t wall_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Broker::Broker(RouterOptions options)
    : options_(std::move(options)),
      durable_(options_.persistence != nullptr),
      started_(Clock::now()) {}

Broker::~Broker() = default;

void Broker::start(StoredState stored, Actions& out) {
  if (options_.sys_interval_seconds > 0)
    out.arm({TimerKind::Sys, 0}, std::chrono::seconds(options_.sys_interval_seconds));
  if (!durable_) return;
  for (MessagePtr& m : stored.retained)
    retained_.set(std::move(m));
  std::size_t queued = 0;
  std::size_t wills = 0;
  const std::int64_t now = wall_seconds();
  for (StoredSession& s : stored.sessions) {
    queued += s.queue.size();
    wills += s.will != nullptr;
    restore(s, now, out);
  }
  out.log(LogLevel::info,
          "restored {} retained messages and {} sessions with {} queued messages and {} pending "
          "wills",
          retained_.size(), stored.sessions.size(), queued, wills);
}

void Broker::restore(StoredSession& stored, std::int64_t now, Actions& out) {
  auto owned = std::make_unique<Session>();
  Session& s = *owned;
  s.id = next_session_id_++;
  s.client_id = stored.client_id;
  s.username = stored.username;
  s.version = stored.version;
  s.expiry_interval = stored.expiry_interval;
  s.stored = true;
  sessions_.emplace(s.id, std::move(owned));
  by_client_id_.emplace(s.client_id, &s);
  for (auto& [filter, options] : stored.subscriptions) {
    trie_.add(filter, s.id, options);
    out.subscription_changed(s.id, filter, true);
    s.subscriptions.insert_or_assign(filter, options);
  }
  s.outbound.set_receive_maximum(options_.limits.max_inflight);
  for (StoredDelivery& q : stored.queue) {
    Delivery d{std::move(q.message), q.qos, q.retain, std::move(q.subscription_ids), q.seq};
    s.next_seq = std::max(s.next_seq, q.seq + 1);
    if (q.packet_id != 0) {
      (void)s.outbound.restore_in_flight(q.packet_id, q.qos, q.stage, std::move(d));
    } else {
      (void)s.outbound.enqueue(q.qos, std::move(d));
    }
  }
  for (std::uint16_t id : stored.inbound_qos2)
    (void)s.inbound.on_publish(id);
  if (stored.will) {
    // Its connection was lost (when it was connected as the broker stopped: now).
    s.will = WillMessage{std::move(stored.will), stored.will_delay};
    const std::int64_t lost = stored.disconnected_at != 0 ? stored.disconnected_at : now;
    out.arm({TimerKind::WillDelay, s.id},
            std::chrono::seconds(std::max<std::int64_t>(lost + s.will->delay - now, 0)));
  }
  if (s.expiry_interval != kNeverExpires) {
    // 0: the session was connected when the broker stopped (a crash): its expiry interval
    // starts now, as if the connection had just been lost.
    const std::int64_t since = stored.disconnected_at != 0 ? stored.disconnected_at : now;
    const std::int64_t left = since + s.expiry_interval - now;
    out.arm({TimerKind::SessionExpiry, s.id},
            std::chrono::seconds(std::max<std::int64_t>(left, 0)));
  }
}

void Broker::timer_fired(const Timer& timer, Actions& out) {
  if (timer.kind == TimerKind::Sys) {
    publish_sys(out);
    out.arm({TimerKind::Sys, 0}, std::chrono::seconds(options_.sys_interval_seconds));
    return;
  }
  Session* s = find(timer.session);
  if (s == nullptr) return;
  switch (timer.kind) {
    case TimerKind::KeepAlive:
      keep_alive_due(*s, out);
      break;
    case TimerKind::WillDelay:
      if (!s->connected()) publish_will(*s, out);
      break;
    case TimerKind::SessionExpiry:
      if (!s->connected()) session_expired(*s, out);
      break;
    case TimerKind::Sys:
      break;
  }
}

Session* Broker::find(SessionId id) noexcept {
  const auto it = sessions_.find(id);
  return it == sessions_.end() ? nullptr : it->second.get();
}

Session* Broker::find(SessionId id, const Link& link) noexcept {
  Session* s = find(id);
  return s != nullptr && s->link == &link ? s : nullptr;
}

void Broker::handle(SessionId id, Link& link, const mqtt::Packet& packet, Actions& out) {
  if (Session* s = find(id, link)) dispatch(*s, packet, out);
}

void Broker::dispatch(Session& s, const mqtt::Packet& packet, Actions& out) {
  switch (mqtt::type_of(packet)) {
    case mqtt::PacketType::Publish:
      return on_publish(s, std::get<mqtt::Publish>(packet), out);
    case mqtt::PacketType::Puback:
      return on_puback(s, std::get<mqtt::Puback>(packet), out);
    case mqtt::PacketType::Pubrec:
      return on_pubrec(s, std::get<mqtt::Pubrec>(packet), out);
    case mqtt::PacketType::Pubrel:
      return on_pubrel(s, std::get<mqtt::Pubrel>(packet), out);
    case mqtt::PacketType::Pubcomp:
      return on_pubcomp(s, std::get<mqtt::Pubcomp>(packet), out);
    case mqtt::PacketType::Subscribe:
      return on_subscribe(s, std::get<mqtt::Subscribe>(packet), out);
    case mqtt::PacketType::Unsubscribe:
      return on_unsubscribe(s, std::get<mqtt::Unsubscribe>(packet), out);
    case mqtt::PacketType::Pingreq:
      return on_pingreq(s, out);
    case mqtt::PacketType::Disconnect:
      return on_disconnect(s, std::get<mqtt::Disconnect>(packet), out);
    case mqtt::PacketType::Connect:
      return protocol_error(s, ReasonCode::ProtocolError, "second CONNECT on one connection", out);
    case mqtt::PacketType::Auth:
      // The CONNECT had no Authentication Method (connect() refuses one), so an AUTH is a
      // Protocol Error (spec 4.12). 0x8C Bad authentication method is a CONNACK code only: a
      // DISCONNECT may not carry it.
      return protocol_error(s, ReasonCode::ProtocolError,
                            "AUTH without an Authentication Method in CONNECT", out);
    default:
      return protocol_error(s, ReasonCode::ProtocolError, "a packet only a server sends", out);
  }
}

void Broker::protocol_error(Session& s, ReasonCode reason, const char* why, Actions& out) {
  out.log(LogLevel::warn, "closing {}: {} ({})", s.client_id, why, mqtt::reason_name(reason));
  if (s.link == nullptr) return;
  if (s.version == mqtt::Version::v5) {
    mqtt::Disconnect d;
    d.reason = reason;
    d.properties.reason_string = why;
    out.send(*s.link, d);
  }
  out.close(*s.link);
}

std::size_t Broker::network_connected_count() const noexcept {
  return static_cast<std::size_t>(
      std::count_if(sessions_.begin(), sessions_.end(), [](const auto& entry) {
        return entry.second->link != nullptr && !entry.second->in_process;
      }));
}

void Broker::for_each_subscription(
    const std::function<void(SessionId, const std::string&)>& visit) const {
  for (const auto& [id, session] : sessions_)
    for (const auto& [filter, options] : session->subscriptions)
      visit(id, filter);
}

}  // namespace psos::router
