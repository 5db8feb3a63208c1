// CONNECT: authentication, client id rules, the takeover of a connected session, resume or clean
// start, keep alive, the CONNACK, and what a resumed session had waiting.
#include <cstdio>
#include <random>

#include "router/broker.hpp"
#include "router/security/password_file.hpp"

namespace psos::router {

using mqtt::ReasonCode;
using mqtt::Version;

namespace {

std::string random_client_id() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  char buf[32];
  std::snprintf(buf, sizeof buf, "psos-%016llx", static_cast<unsigned long long>(rng()));
  return buf;
}

const char* version_name(Version v) {
  return v == Version::v5 ? "MQTT 5" : "MQTT 3.1.1";
}

}  // namespace

mqtt::ReasonCode Broker::authenticate(const mqtt::Connect& c) const {
  if (!options_.passwords) return ReasonCode::Success;
  return check_login(options_.passwords.get(), options_.allow_anonymous, c.username, c.password);
}

ConnectResult Broker::connect(Link& link, const mqtt::Connect& c, const ConnectionInfo& info,
                              Actions& out) {
  const bool v5 = c.version == Version::v5;
  ++stats_.connections_total;
  if (connected_ >= options_.limits.max_connections)
    return refuse(link, c, info, ReasonCode::ServerBusy, "connection limit reached", out);
  // Enhanced authentication is not supported: a CONNECT that asks for it is refused (spec
  // 4.12: CONNACK 0x8C, then close), so no AUTH exchange can ever be under way.
  if (v5 && c.properties.authentication_method)
    return refuse(link, c, info, ReasonCode::BadAuthenticationMethod,
                  "enhanced authentication is not supported", out);
  if (const ReasonCode login = info.login ? *info.login : authenticate(c);
      login != ReasonCode::Success)
    return refuse(link, c, info, login,
                  c.username ? "wrong user name or password" : "anonymous not allowed", out);

  std::string client_id(c.client_id);
  const bool assigned = client_id.empty();
  if (assigned) {
    if (!v5 && !c.clean_start)
      return refuse(link, c, info, ReasonCode::ClientIdentifierNotValid,
                    "empty client id needs clean session in MQTT 3.1.1", out);
    client_id = random_client_id();
  }

  bool present = false;
  Session& s = take_over(c, info, client_id, present, out);
  s.version = c.version;
  s.username = c.username ? std::optional<std::string>(*c.username) : std::nullopt;
  s.expiry_interval =
      v5 ? c.properties.session_expiry_interval.value_or(0) : (c.clean_start ? 0 : kNeverExpires);
  s.link = &link;
  s.in_process = info.in_process;
  s.normal_disconnect = false;
  s.outbound.set_receive_maximum(std::min<std::uint16_t>(
      c.properties.receive_maximum.value_or(65535), options_.limits.max_inflight));
  s.inbound.set_receive_maximum(options_.limits.receive_maximum);
  if (!present) s.inbound.clear();
  if (durable_) store_connected_session(s, out);
  take_will(s, c, out);
  ++connected_;

  // A v5 client asking for more than the cap, or for none, is told the cap (Server Keep Alive)
  // and timed out by it. A v3.1.1 client cannot be told: it keeps its own, as Mosquitto's
  // max_keepalive does, so that one pinging at the interval it asked for is not cut off.
  // In-process sessions have no connection to time out.
  std::optional<std::uint16_t> server_keep_alive;
  const std::uint16_t max_keep_alive = options_.limits.max_keep_alive;
  if (v5 && !info.in_process && max_keep_alive != 0 &&
      (c.keep_alive == 0 || c.keep_alive > max_keep_alive))
    server_keep_alive = max_keep_alive;
  const std::uint16_t keep_alive =
      info.in_process ? std::uint16_t{0} : server_keep_alive.value_or(c.keep_alive);
  send_connack(s, c, present, assigned, server_keep_alive, out);
  // Spec 3.1.2.10: nothing from the client for 1.5 x keep alive means the connection is dead.
  s.keep_alive_limit = std::chrono::milliseconds(std::uint64_t{keep_alive} * 1500);
  if (keep_alive != 0) out.arm({TimerKind::KeepAlive, s.id}, s.keep_alive_limit);
  // In-process sessions (services) come and go with the node: not news at info level.
  out.log(info.in_process ? LogLevel::debug : LogLevel::info,
          "{} connected from {} ({}, keep alive {} s, {}{})", s.client_id, info.remote,
          version_name(c.version), keep_alive,
          present ? "session resumed" : (c.clean_start ? "clean start" : "new session"),
          s.username ? ", user " + *s.username : std::string());

  if (present) resume(s, out);
  return ConnectResult{s.id, keep_alive,
                       c.properties.maximum_packet_size.value_or(mqtt::kMaxRemainingLength + 5),
                       v5 ? c.properties.topic_alias_maximum.value_or(0) : std::uint16_t{0}};
}

ConnectResult Broker::refuse(Link& link, const mqtt::Connect& c, const ConnectionInfo& info,
                             ReasonCode reason, std::string_view why, Actions& out) {
  out.log(LogLevel::info, "refused {} from {}: {} ({})",
          c.client_id.empty() ? std::string_view("<no client id>") : c.client_id, info.remote, why,
          mqtt::reason_name(reason));
  mqtt::Connack ack;
  ack.reason = reason;
  out.send(link, ack);
  out.close(link);
  ++stats_.connections_refused;
  return ConnectResult{};
}

Session& Broker::take_over(const mqtt::Connect& c, const ConnectionInfo& info,
                           const std::string& client_id, bool& present, Actions& out) {
  Session* session = nullptr;
  if (auto it = by_client_id_.find(client_id); it != by_client_id_.end()) {
    session = it->second;
    if (session->link != nullptr) {
      out.log(LogLevel::info, "{} connected again from {}: closing its previous connection",
              client_id, info.remote);
      Link& old = *session->link;
      if (session->version == Version::v5) {
        mqtt::Disconnect takeover;
        takeover.reason = ReasonCode::SessionTakenOver;
        // A reason string also makes the DISCONNECT longer than two bytes, which some clients
        // (paho-mqtt 1.6) need to read its reason code at all.
        takeover.properties.reason_string = "another connection took over the session";
        out.send(old, takeover);
      }
      out.close(old);
      lose_link(*session, out);  // abnormal for the old connection: its will applies
      // lose_link ended the session if it was not persistent.
      auto again = by_client_id_.find(client_id);
      session = again == by_client_id_.end() ? nullptr : again->second;
    }
    if (session != nullptr && c.clean_start) {
      end_session(*session, out);
      session = nullptr;
    }
  }
  present = session != nullptr;
  if (present) {
    // Reconnected within the will delay: no will; nor does the session expire.
    out.cancel({TimerKind::WillDelay, session->id});
    out.cancel({TimerKind::SessionExpiry, session->id});
    return *session;
  }
  auto owned = std::make_unique<Session>();
  owned->id = next_session_id_++;
  owned->client_id = client_id;
  session = owned.get();
  sessions_.emplace(owned->id, std::move(owned));
  by_client_id_.emplace(client_id, session);
  return *session;
}

void Broker::store_connected_session(Session& s, Actions& out) {
  if (s.expiry_interval > 0) {
    if (!s.stored) {
      // The session becomes persistent: what it holds so far is stored too (messages in
      // flight as queued ones: after a crash they are sent again as new).
      for (const auto& [filter, options] : s.subscriptions)
        out.store(store::PutSubscription{s.client_id, filter, options});
      s.outbound.for_each_message([&](const Delivery& d) {
        out.store(
            store::PutQueued{s.store_key(), d.seq, d.message, d.qos, d.retain, d.subscription_ids});
      });
    }
    s.stored = true;
    store_session(s, 0, out);
  } else if (s.stored) {
    out.store(store::EraseSession{s.client_id});  // continues, but ends with this connection
    s.outbound.for_each_message([&](const Delivery& d) { out.store(store::Release{d.message}); });
    s.stored = false;
  }
}

void Broker::send_connack(Session& s, const mqtt::Connect& c, bool present, bool assigned,
                          std::optional<std::uint16_t> server_keep_alive, Actions& out) {
  mqtt::Connack ack;
  ack.session_present = present;
  if (c.version == Version::v5) {
    mqtt::Properties& p = ack.properties;
    if (assigned) p.assigned_client_identifier = s.client_id;
    if (options_.limits.receive_maximum != 65535)
      p.receive_maximum = options_.limits.receive_maximum;
    p.maximum_packet_size = options_.limits.max_packet_size;
    if (options_.limits.topic_alias_maximum != 0)
      p.topic_alias_maximum = options_.limits.topic_alias_maximum;
    p.server_keep_alive = server_keep_alive;
  }
  out.send(*s.link, ack);
}

void Broker::resume(Session& s, Actions& out) {
  // Resend what the client had not acknowledged, then what queued while it was away.
  const auto now = Clock::now();
  s.outbound.for_each_resend([&](const mqtt::OutboundPacket<Delivery>& p) {
    if (p.type == mqtt::PacketType::Pubrel) {
      out.acknowledge(*s.link, mqtt::PacketType::Pubrel, p.packet_id);
    } else {
      out.publish(*s.link, p.message, p.packet_id, true);
    }
  });
  s.outbound.discard_pending_if([&](const Delivery& d) {
    const bool expired = d.message->expired(now);
    if (expired && s.stored) out.store(store::EraseQueued{s.store_key(), d.seq, d.message});
    return expired;
  });
  pump(s, out);
}

}  // namespace psos::router
