// How connections and sessions end: DISCONNECT, a lost connection (its will, its session kept or
// ended), session expiry, and the clean stop that closes every connection.
#include "router/broker.hpp"

namespace psos::router {

using mqtt::ReasonCode;

void Broker::on_disconnect(Session& s, const mqtt::Disconnect& d, Actions& out) {
  if (d.properties.session_expiry_interval) {
    // Spec 3.14.2.2.2: a session that was to end with the connection cannot be extended.
    if (s.expiry_interval == 0 && *d.properties.session_expiry_interval != 0)
      return protocol_error(s, ReasonCode::ProtocolError,
                            "DISCONNECT sets a Session Expiry Interval after CONNECT had 0", out);
    s.expiry_interval = *d.properties.session_expiry_interval;
  }
  s.normal_disconnect = d.reason != ReasonCode::DisconnectWithWill;
  if (s.stored && s.expiry_interval > 0) store_session(s, 0, out);
  out.close(*s.link);
}

void Broker::connection_lost(SessionId id, Link& link, Actions& out) {
  if (Session* s = find(id, link)) lose_link(*s, out);
}

void Broker::lose_link(Session& s, Actions& out) {
  s.link = nullptr;
  --connected_;
  if (s.keep_alive_limit.count() != 0) out.cancel({TimerKind::KeepAlive, s.id});
  s.paused = false;  // its reader is gone; a pause still counting down is not its next one
  ++s.pauses;
  const bool normal = s.normal_disconnect;
  s.normal_disconnect = false;
  // In-process sessions (services) end with the node or a restart: not news at info level.
  out.log(s.in_process ? LogLevel::debug : LogLevel::info, "{} disconnected{}", s.client_id,
          normal ? "" : " unexpectedly");
  // Publishers waiting for this session's backlog to drain need not wait for it any more.
  release_waiters(s, true, out);
  if (normal && s.will) {
    s.will.reset();
    if (s.stored) out.store(store::EraseWill{s.client_id});
  }
  will_on_lost_connection(s, out);
  if (s.expiry_interval == 0) return end_session(s, out);
  if (s.stored) store_session(s, wall_seconds(), out);
  if (s.expiry_interval != kNeverExpires)
    out.arm({TimerKind::SessionExpiry, s.id}, std::chrono::seconds(s.expiry_interval));
}

void Broker::session_expired(Session& s, Actions& out) {
  if (s.will) publish_will(s, out);  // a session that ends sends its pending will
  out.log(LogLevel::info, "session of {} expired", s.client_id);
  end_session(s, out);
}

void Broker::end_session(Session& s, Actions& out) {
  const SessionId id = s.id;
  if (!s.connected() && s.expiry_interval != 0) {
    out.cancel({TimerKind::WillDelay, id});
    out.cancel({TimerKind::SessionExpiry, id});
  }
  trie_.remove_all(id);
  for (const auto& [filter, options] : s.subscriptions)
    out.subscription_changed(id, filter, false);
  if (s.link != nullptr) --connected_;
  if (s.stored) {
    out.store(store::EraseSession{s.client_id});
    s.outbound.for_each_message([&](const Delivery& d) { out.store(store::Release{d.message}); });
  }
  by_client_id_.erase(s.client_id);
  release_waiters(s, true, out);
  sessions_.erase(id);
}

void Broker::store_session(Session& s, std::int64_t disconnected_at, Actions& out) {
  out.store(
      store::PutSession{s.client_id, s.username, s.version, s.expiry_interval, disconnected_at});
}

void Broker::close_all(ReasonCode reason, Actions& out) {
  // The wills of the network connections first (MQTT 5 3.1.2.5: the server closes them
  // without a DISCONNECT from the client), while every connection is still open: connected
  // subscribers get them before their own DISCONNECT, offline persistent sessions have them
  // queued, and a retained will is retained, and with --data stored before the router stops.
  // In-process sessions (a node's services) end with the node, not with a lost connection.
  for (auto& [id, session] : sessions_) {
    Session& s = *session;
    if (s.link == nullptr || s.in_process || !s.will) continue;
    if (s.will->delay == 0 || s.expiry_interval == 0) {
      publish_will(s, out);
    } else {
      // A delayed will of a session that outlives its connection stays stored (with --data),
      // as after a crash: the restarted router publishes it once its delay, counted from now
      // (the session's disconnection time), is over.
      s.will.reset();
    }
  }
  for (auto& [id, session] : sessions_) {
    Session& s = *session;
    if (s.link == nullptr) continue;
    if (s.version == mqtt::Version::v5) {
      mqtt::Disconnect d;
      d.reason = reason;
      d.properties.reason_string = mqtt::reason_name(reason);
      out.send(*s.link, d);
    }
    // Its will is dealt with above: the end of the connection is not abnormal any more.
    s.normal_disconnect = true;
    out.close(*s.link);
  }
}

}  // namespace psos::router
