// Routing: CONNECT handling and session lifecycle, PUBLISH matching and delivery, QoS flows,
// retained messages, wills and $SYS. One file per concern would scatter the few invariants that
// tie these together (a session is connected iff it has a link; every queued message is counted),
// so the packet handlers live here and the data they share is in session.hpp.
#include "router/router.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <random>
#include <utility>

#include "mqtt/topic.hpp"
#include "router/persistence.hpp"
#include "router/security/acl.hpp"
#include "router/security/password_file.hpp"

namespace psos::router {

namespace asio = boost::asio;
using mqtt::QoS;
using mqtt::ReasonCode;
using mqtt::Version;

struct Router::Timers {
  explicit Timers(asio::any_io_executor ex)
      : sys(ex), durable(ex, asio::steady_timer::time_point::max()) {}
  std::unordered_map<SessionId, std::unique_ptr<asio::steady_timer>> will;
  std::unordered_map<SessionId, std::unique_ptr<asio::steady_timer>> expiry;
  asio::steady_timer sys;
  // Never expires: cancelled to wake every wait_durable() when a transaction completes.
  asio::steady_timer durable;
  std::optional<asio::executor_work_guard<asio::any_io_executor>> store_work;
  bool stopped = false;
};

namespace {

std::string random_client_id() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  char buf[32];
  std::snprintf(buf, sizeof buf, "psos-%016llx", static_cast<unsigned long long>(rng()));
  return buf;
}

void cancel_timer(std::unordered_map<SessionId, std::unique_ptr<asio::steady_timer>>& timers,
                  SessionId id) {
  if (auto it = timers.find(id); it != timers.end()) {
    it->second->cancel();
    timers.erase(it);
  }
}

const char* version_name(Version v) {
  return v == Version::v5 ? "MQTT 5" : "MQTT 3.1.1";
}

std::int64_t wall_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

mqtt::OutboundStage first_stage(QoS qos) {
  return qos == QoS::AtLeastOnce ? mqtt::OutboundStage::AwaitingPuback
                                 : mqtt::OutboundStage::AwaitingPubrec;
}

}  // namespace

Router::Router(asio::any_io_executor executor, RouterOptions options)
    : executor_(std::move(executor)),
      options_(std::move(options)),
      started_(Clock::now()),
      timers_(std::make_unique<Timers>(executor_)),
      persistence_(options_.persistence.get()) {
  if (persistence_ != nullptr) {
    load_persisted();
    persistence_->on_durable(
        [executor = executor_](std::function<void()> f) { asio::post(executor, std::move(f)); },
        [this](std::uint64_t) {
          // The executor may run out of other work while a transaction is written: keep it
          // until the store is idle.
          if (!persistence_->busy()) timers_->store_work.reset();
          timers_->durable.cancel();
        });
  }
  if (options_.sys_interval_seconds > 0) schedule_sys();
}

Router::~Router() {
  shutdown();
  // The store may outlive the router (RouterOptions holds it): its last sync must not call back.
  if (persistence_ != nullptr) persistence_->stop_notifying();
}

void Router::shutdown() {
  if (timers_->stopped) return;
  timers_->stopped = true;
  for (auto& [id, t] : timers_->will)
    t->cancel();
  for (auto& [id, t] : timers_->expiry)
    t->cancel();
  timers_->will.clear();
  timers_->expiry.clear();
  timers_->sys.cancel();
  if (persistence_ != nullptr) persistence_->sync();
  timers_->store_work.reset();
  timers_->durable.cancel();
}

// ---------------------------------------------------------------- persistence

std::uint64_t Router::commit() {
  if (persistence_ == nullptr) return 0;
  const std::uint64_t transaction = persistence_->commit();
  if (persistence_->busy() && !timers_->store_work) timers_->store_work.emplace(executor_);
  return transaction;
}

asio::awaitable<void> Router::wait_durable(std::uint64_t transaction) {
  while (persistence_ != nullptr && persistence_->durable() < transaction)
    co_await timers_->durable.async_wait(asio::as_tuple(asio::use_awaitable));
}

void Router::schedule_commit() {
  // Changes made while handling one batch of input are committed together (group commit); a
  // link about to write commits first anyway.
  if (persistence_ == nullptr || commit_posted_) return;
  commit_posted_ = true;
  asio::post(executor_, [this] {
    commit_posted_ = false;
    commit();
  });
}

void Router::persist_session(Session& s, std::int64_t disconnected_at) {
  persistence_->put_session(s.client_id, s.username, s.version, s.expiry_interval, disconnected_at);
  schedule_commit();
}

void Router::load_persisted() {
  Persistence::Contents contents = persistence_->load();
  for (MessagePtr& m : contents.retained)
    retained_.set(std::move(m));
  std::size_t queued = 0;
  std::size_t wills = 0;
  const std::int64_t now = wall_seconds();
  for (Persistence::StoredSession& stored : contents.sessions) {
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
      subscription_changed(s.id, filter, true);
      s.subscriptions.insert_or_assign(filter, options);
    }
    s.outbound.set_receive_maximum(options_.limits.max_inflight);
    for (Persistence::QueuedMessage& q : stored.queue) {
      Delivery d{std::move(q.message), q.qos, q.retain, std::move(q.subscription_ids), q.seq};
      s.next_seq = std::max(s.next_seq, q.seq + 1);
      if (q.packet_id != 0) {
        (void)s.outbound.restore_in_flight(q.packet_id, q.qos, q.stage, std::move(d));
      } else {
        (void)s.outbound.enqueue(q.qos, std::move(d));
      }
      ++queued;
    }
    for (std::uint16_t id : stored.inbound_qos2)
      (void)s.inbound.on_publish(id);
    if (stored.will) {
      // Its connection was lost (when it was connected as the broker stopped: now).
      s.will = WillMessage{std::move(stored.will), stored.will_delay};
      const std::int64_t lost = stored.disconnected_at != 0 ? stored.disconnected_at : now;
      arm_will(s, std::chrono::seconds(std::max<std::int64_t>(lost + s.will->delay - now, 0)));
      ++wills;
    }
    if (s.expiry_interval != kNeverExpires) {
      // 0: the session was connected when the broker stopped (a crash): its expiry interval
      // starts now, as if the connection had just been lost.
      const std::int64_t since = stored.disconnected_at != 0 ? stored.disconnected_at : now;
      const std::int64_t left = since + s.expiry_interval - now;
      schedule_expiry(s, std::chrono::seconds(std::max<std::int64_t>(left, 0)));
    }
  }
  spdlog::info(
      "restored {} retained messages and {} sessions with {} queued messages and {} pending wills",
      retained_.size(), contents.sessions.size(), queued, wills);
}

void Router::close_all(ReasonCode reason) {
  // The wills of the network connections first (MQTT 5 3.1.2.5: the server closes them
  // without a DISCONNECT from the client), while every connection is still open: connected
  // subscribers get them before their own DISCONNECT, offline persistent sessions have them
  // queued, and a retained will is retained, and with --data stored before the router stops.
  // In-process sessions (a node's services) end with the node, not with a lost connection.
  for (auto& [id, session] : sessions_) {
    Session& s = *session;
    if (s.link == nullptr || s.in_process || !s.will) continue;
    if (s.will->delay == 0 || s.expiry_interval == 0) {
      publish_will(s);
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
    if (s.version == Version::v5) {
      mqtt::Disconnect d;
      d.reason = reason;
      d.properties.reason_string = mqtt::reason_name(reason);
      s.link->send(d);
    }
    // Its will is dealt with above: the end of the connection is not abnormal any more.
    s.normal_disconnect = true;
    s.link->close();
  }
}

// ---------------------------------------------------------------- CONNECT

mqtt::ReasonCode Router::authenticate(const mqtt::Connect& c) const {
  if (!options_.passwords) return ReasonCode::Success;
  return check_login(options_.passwords.get(), options_.allow_anonymous, c.username, c.password);
}

ConnectResult Router::connect(Link& link, const mqtt::Connect& c, std::string_view remote,
                              std::optional<ReasonCode> login) {
  const bool v5 = c.version == Version::v5;
  ++stats_.connections_total;
  congested_.clear();  // a CONNECT makes no one wait (a will it ends up publishing included)
  const auto refuse = [&](ReasonCode reason, std::string_view why) {
    spdlog::info("refused {} from {}: {} ({})",
                 c.client_id.empty() ? "<no client id>" : std::string(c.client_id), remote, why,
                 mqtt::reason_name(reason));
    mqtt::Connack ack;
    ack.reason = reason;
    link.send(ack);
    link.close();
    ++stats_.connections_refused;
    return ConnectResult{};
  };

  if (connected_ >= options_.limits.max_connections)
    return refuse(ReasonCode::ServerBusy, "connection limit reached");
  // Enhanced authentication is not supported: a CONNECT that asks for it is refused (spec
  // 4.12: CONNACK 0x8C, then close), so no AUTH exchange can ever be under way.
  if (v5 && c.properties.authentication_method)
    return refuse(ReasonCode::BadAuthenticationMethod, "enhanced authentication is not supported");
  if (const ReasonCode result = login ? *login : authenticate(c); result != ReasonCode::Success)
    return refuse(result, c.username ? "wrong user name or password" : "anonymous not allowed");

  std::string client_id(c.client_id);
  bool assigned = false;
  if (client_id.empty()) {
    if (!v5 && !c.clean_start)
      return refuse(ReasonCode::ClientIdentifierNotValid,
                    "empty client id needs clean session in MQTT 3.1.1");
    client_id = random_client_id();
    assigned = true;
  }

  Session* session = nullptr;
  bool present = false;
  if (auto it = by_client_id_.find(client_id); it != by_client_id_.end()) {
    session = it->second;
    if (session->link != nullptr) {
      spdlog::info("{} connected again from {}: closing its previous connection", client_id,
                   remote);
      Link* old = session->link;
      if (session->version == Version::v5) {
        mqtt::Disconnect takeover;
        takeover.reason = ReasonCode::SessionTakenOver;
        // A reason string also makes the DISCONNECT longer than two bytes, which some clients
        // (paho-mqtt 1.6) need to read its reason code at all.
        takeover.properties.reason_string = "another connection took over the session";
        old->send(takeover);
      }
      old->close();
      lose_link(*session);  // abnormal for the old connection: its will applies
      // lose_link ended the session if it was not persistent.
      auto again = by_client_id_.find(client_id);
      session = again == by_client_id_.end() ? nullptr : again->second;
    }
    if (session != nullptr && c.clean_start) {
      end_session(*session);
      session = nullptr;
    }
    present = session != nullptr;
  }
  if (session == nullptr) {
    auto owned = std::make_unique<Session>();
    owned->id = next_session_id_++;
    owned->client_id = client_id;
    session = owned.get();
    sessions_.emplace(owned->id, std::move(owned));
    by_client_id_.emplace(client_id, session);
  }
  cancel_timer(timers_->will, session->id);  // reconnected within the will delay: no will
  cancel_timer(timers_->expiry, session->id);

  Session& s = *session;
  s.version = c.version;
  s.username = c.username ? std::optional<std::string>(*c.username) : std::nullopt;
  s.expiry_interval =
      v5 ? c.properties.session_expiry_interval.value_or(0) : (c.clean_start ? 0 : kNeverExpires);
  s.link = &link;
  s.in_process = remote == "in-process";
  s.normal_disconnect = false;
  s.outbound.set_receive_maximum(std::min<std::uint16_t>(
      c.properties.receive_maximum.value_or(65535), options_.limits.max_inflight));
  s.inbound.set_receive_maximum(options_.limits.receive_maximum);
  if (!present) s.inbound.clear();
  if (persistence_ != nullptr) {
    if (s.expiry_interval > 0) {
      if (!s.stored) {
        // The session becomes persistent: what it holds so far is stored too (messages in
        // flight as queued ones: after a crash they are sent again as new).
        for (const auto& [filter, options] : s.subscriptions)
          persistence_->put_subscription(s.client_id, filter, options);
        s.outbound.for_each_message([&](const Delivery& d) {
          persistence_->put_queued(s.client_id, d.seq, d.message, d.qos, d.retain,
                                   d.subscription_ids);
        });
      }
      s.stored = true;
      persist_session(s, 0);
    } else if (s.stored) {
      persistence_->erase_session(s.client_id);  // continues, but ends with this connection
      s.outbound.for_each_message([&](const Delivery& d) { persistence_->release(d.message); });
      s.stored = false;
      schedule_commit();
    }
  }
  s.will.reset();
  if (c.will) {
    mqtt::Publish will_publish;
    will_publish.topic = c.will->topic;
    will_publish.payload = c.will->payload;
    will_publish.qos = c.will->qos;
    will_publish.retain = c.will->retain;
    will_publish.properties = c.will->properties;
    s.will = WillMessage{make_message(will_publish, c.will->topic, s.id, Clock::now()),
                         c.will->properties.will_delay_interval.value_or(0)};
  }
  if (s.stored) {
    // A broker that crashes loses every connection: the will is stored so that it is
    // published after the restart, as for any other lost connection.
    if (s.will) {
      persistence_->put_will(s.client_id, s.will->message, s.will->delay);
    } else {
      persistence_->erase_will(s.client_id);
    }
    schedule_commit();
  }
  ++connected_;

  // A v5 client asking for more than the cap, or for none, is told the cap (Server Keep Alive)
  // and timed out by it. A v3.1.1 client cannot be told: it keeps its own, as Mosquitto's
  // max_keepalive does, so that one pinging at the interval it asked for is not cut off.
  std::uint16_t keep_alive = c.keep_alive;
  const std::uint16_t max_keep_alive = options_.limits.max_keep_alive;
  const bool override_keep_alive =
      v5 && max_keep_alive != 0 && (keep_alive == 0 || keep_alive > max_keep_alive);
  if (override_keep_alive) keep_alive = max_keep_alive;

  mqtt::Connack ack;
  ack.session_present = present;
  if (v5) {
    mqtt::Properties& p = ack.properties;
    if (assigned) p.assigned_client_identifier = s.client_id;
    if (options_.limits.receive_maximum != 65535)
      p.receive_maximum = options_.limits.receive_maximum;
    p.maximum_packet_size = options_.limits.max_packet_size;
    if (options_.limits.topic_alias_maximum != 0)
      p.topic_alias_maximum = options_.limits.topic_alias_maximum;
    if (override_keep_alive) p.server_keep_alive = keep_alive;
  }
  link.send(ack);
  // In-process sessions (services) come and go with the node: not news at info level.
  spdlog::log(remote == "in-process" ? spdlog::level::debug : spdlog::level::info,
              "{} connected from {} ({}, keep alive {} s, {}{})", s.client_id, remote,
              version_name(c.version), keep_alive,
              present ? "session resumed" : (c.clean_start ? "clean start" : "new session"),
              s.username ? ", user " + *s.username : std::string());

  if (present) {
    // Resend what the client had not acknowledged, then what queued while it was away.
    const auto now = Clock::now();
    s.outbound.for_each_resend([&](const mqtt::OutboundPacket<Delivery>& p) {
      if (p.type == mqtt::PacketType::Pubrel) {
        link.send(mqtt::Pubrel{.packet_id = p.packet_id});
      } else {
        link.send_publish(p.message, p.packet_id, true);
      }
    });
    s.outbound.discard_pending_if([&](const Delivery& d) {
      const bool expired = d.message->expired(now);
      if (expired && s.stored) persistence_->erase_queued(s.client_id, d.seq, d.message);
      return expired;
    });
    pump(s);
  }
  return ConnectResult{s.id, keep_alive,
                       c.properties.maximum_packet_size.value_or(mqtt::kMaxRemainingLength + 5),
                       v5 ? c.properties.topic_alias_maximum.value_or(0) : std::uint16_t{0}};
}

// ---------------------------------------------------------------- packets after CONNECT

Session* Router::find(SessionId id, const Link& link) noexcept {
  const auto it = sessions_.find(id);
  if (it == sessions_.end() || it->second->link != &link) return nullptr;
  return it->second.get();
}

void Router::handle(SessionId id, Link& link, const mqtt::Packet& packet) {
  congested_.clear();  // publisher_should_wait() is about this packet alone
  Session* session = find(id, link);
  if (session == nullptr) return;
  handling_ = id;
  dispatch(*session, packet);
  handling_ = 0;
}

void Router::dispatch(Session& s, const mqtt::Packet& packet) {
  switch (mqtt::type_of(packet)) {
    case mqtt::PacketType::Publish:
      on_publish(s, std::get<mqtt::Publish>(packet));
      return;
    case mqtt::PacketType::Puback: {
      const auto& ack = std::get<mqtt::Puback>(packet);
      auto outcome = s.outbound.on_puback(ack.packet_id, ack.reason);
      if (outcome.status == mqtt::AckStatus::WrongStage)
        return protocol_error(s, ReasonCode::ProtocolError, "PUBACK for a QoS 2 message");
      flow_ended(s, outcome.message);
      break;
    }
    case mqtt::PacketType::Pubrec: {
      const auto& rec = std::get<mqtt::Pubrec>(packet);
      auto outcome = s.outbound.on_pubrec(rec.packet_id, rec.reason);
      switch (outcome.status) {
        case mqtt::AckStatus::SendPubrel:
          if (s.stored) {
            persistence_->update_stage(s.client_id, rec.packet_id,
                                       mqtt::OutboundStage::AwaitingPubcomp);
            schedule_commit();
          }
          s.link->send(mqtt::Pubrel{.packet_id = rec.packet_id});
          break;
        case mqtt::AckStatus::Refused:
          flow_ended(s, outcome.message);
          break;
        case mqtt::AckStatus::UnknownPacketId: {
          mqtt::Pubrel rel{.packet_id = rec.packet_id};
          if (s.version == Version::v5) rel.reason = ReasonCode::PacketIdentifierNotFound;
          s.link->send(rel);
          break;
        }
        case mqtt::AckStatus::WrongStage:
          return protocol_error(s, ReasonCode::ProtocolError, "PUBREC for a QoS 1 message");
        default:
          break;
      }
      break;
    }
    case mqtt::PacketType::Pubrel:
      on_pubrel(s, std::get<mqtt::Pubrel>(packet));
      return;
    case mqtt::PacketType::Pubcomp: {
      auto outcome = s.outbound.on_pubcomp(std::get<mqtt::Pubcomp>(packet).packet_id);
      if (outcome.status == mqtt::AckStatus::WrongStage)
        return protocol_error(s, ReasonCode::ProtocolError, "PUBCOMP before PUBREC");
      flow_ended(s, outcome.message);
      break;
    }
    case mqtt::PacketType::Subscribe:
      on_subscribe(s, std::get<mqtt::Subscribe>(packet));
      return;
    case mqtt::PacketType::Unsubscribe:
      on_unsubscribe(s, std::get<mqtt::Unsubscribe>(packet));
      return;
    case mqtt::PacketType::Pingreq:
      s.link->send(mqtt::Pingresp{});
      return;
    case mqtt::PacketType::Disconnect: {
      const auto& d = std::get<mqtt::Disconnect>(packet);
      if (d.properties.session_expiry_interval) {
        // Spec 3.14.2.2.2: a session that was to end with the connection cannot be extended.
        if (s.expiry_interval == 0 && *d.properties.session_expiry_interval != 0)
          return protocol_error(s, ReasonCode::ProtocolError,
                                "DISCONNECT sets a Session Expiry Interval after CONNECT had 0");
        s.expiry_interval = *d.properties.session_expiry_interval;
      }
      s.normal_disconnect = d.reason != ReasonCode::DisconnectWithWill;
      if (s.stored && s.expiry_interval > 0) persist_session(s, 0);
      s.link->close();
      return;
    }
    case mqtt::PacketType::Connect:
      return protocol_error(s, ReasonCode::ProtocolError, "second CONNECT on one connection");
    case mqtt::PacketType::Auth:
      // The CONNECT had no Authentication Method (connect() refuses one), so an AUTH is a
      // Protocol Error (spec 4.12). 0x8C Bad authentication method is a CONNACK code only: a
      // DISCONNECT may not carry it.
      return protocol_error(s, ReasonCode::ProtocolError,
                            "AUTH without an Authentication Method in CONNECT");
    default:
      return protocol_error(s, ReasonCode::ProtocolError, "a packet only a server sends");
  }
  // An acknowledgement freed a window slot.
  pump(s);
  notify_drained(s, false);
}

void Router::publish_discarded(SessionId id, Link& link, std::uint16_t packet_id) {
  Session* s = find(id, link);
  ++stats_.messages_dropped;
  if (s == nullptr) return;
  ++s->dropped;
  abandon_flow(*s, packet_id);
  pump(*s);
}

void Router::abandon_flow(Session& s, std::uint16_t packet_id) {
  // A QoS 2 flow awaiting PUBREC ends on a refusal.
  auto outcome = s.outbound.on_puback(packet_id);
  if (outcome.status == mqtt::AckStatus::WrongStage)
    outcome = s.outbound.on_pubrec(packet_id, ReasonCode::UnspecifiedError);
  flow_ended(s, outcome.message);
}

void Router::flow_ended(Session& s, const std::optional<Delivery>& delivery) {
  if (!s.stored || !delivery) return;
  persistence_->erase_queued(s.client_id, delivery->seq, delivery->message);
  schedule_commit();
}

void Router::protocol_error(Session& s, ReasonCode reason, const char* why) {
  spdlog::warn("closing {}: {} ({})", s.client_id, why, mqtt::reason_name(reason));
  if (s.link == nullptr) return;
  if (s.version == Version::v5) {
    mqtt::Disconnect d;
    d.reason = reason;
    d.properties.reason_string = why;
    s.link->send(d);
  }
  s.link->close();
}

void Router::on_publish(Session& s, const mqtt::Publish& p) {
  const bool v5 = s.version == Version::v5;
  if (!p.properties.subscription_identifiers.empty())
    return protocol_error(s, ReasonCode::ProtocolError,
                          "a client's PUBLISH carries a Subscription Identifier");
  const std::string_view topic = p.topic;  // the link resolved any Topic Alias

  const auto acknowledge = [&](ReasonCode reason) {
    if (p.qos == QoS::AtLeastOnce) {
      mqtt::Puback ack{.packet_id = p.packet_id};
      if (v5) ack.reason = reason;
      s.link->send(ack);
    } else if (p.qos == QoS::ExactlyOnce) {
      mqtt::Pubrec rec{.packet_id = p.packet_id};
      if (v5) rec.reason = reason;
      // A refused QoS 2 message ends its flow here: no PUBREL follows (spec 4.3.3), so the
      // packet id is free for the client's next message.
      if (mqtt::is_failure(rec.reason) && s.inbound.on_pubrel(p.packet_id) && s.stored) {
        persistence_->erase_inbound(s.client_id, p.packet_id);
        schedule_commit();
      }
      s.link->send(rec);
    }
  };

  if (p.qos == QoS::ExactlyOnce) {
    switch (s.inbound.on_publish(p.packet_id)) {
      case mqtt::InboundPublish::Duplicate:
        return acknowledge(ReasonCode::Success);
      case mqtt::InboundPublish::ReceiveMaximumExceeded:
        return protocol_error(s, ReasonCode::ReceiveMaximumExceeded,
                              "more unacknowledged QoS 2 messages than Receive Maximum");
      case mqtt::InboundPublish::Deliver:
        if (s.stored) persistence_->put_inbound(s.client_id, p.packet_id);
        break;
    }
  }

  const bool denied = topic.starts_with("$SYS") ||
                      (options_.acl && !options_.acl->can_publish(s.username, s.client_id, topic));
  if (denied) {
    spdlog::debug("{} may not publish to {}", s.client_id, topic);
    // v3.1.1 has no way to say no: the message is acknowledged and dropped.
    return acknowledge(v5 ? ReasonCode::NotAuthorized : ReasonCode::Success);
  }

  ++stats_.messages_received;
  MessagePtr message = localize(make_message(p, topic, s.id, Clock::now()));
  if (message->retain) store_retained(message);
  route(message);
  acknowledge(queue_full_        ? ReasonCode::QuotaExceeded
              : matches_.empty() ? ReasonCode::NoMatchingSubscribers
                                 : ReasonCode::Success);
}

void Router::on_pubrel(Session& s, const mqtt::Pubrel& rel) {
  mqtt::Pubcomp comp{.packet_id = rel.packet_id};
  if (!s.inbound.on_pubrel(rel.packet_id)) {
    if (s.version == Version::v5) comp.reason = ReasonCode::PacketIdentifierNotFound;
  } else if (s.stored) {
    persistence_->erase_inbound(s.client_id, rel.packet_id);
    schedule_commit();
  }
  s.link->send(comp);
}

void Router::on_subscribe(Session& s, const mqtt::Subscribe& p) {
  mqtt::Suback ack{.packet_id = p.packet_id};
  const std::uint32_t identifier =
      p.properties.subscription_identifiers.empty() ? 0 : p.properties.subscription_identifiers[0];
  struct RetainedToSend {
    std::string_view filter;
    mqtt::SubscriptionOptions options;
  };
  std::vector<RetainedToSend> retained;
  for (const mqtt::SubscribeTopic& t : p.topics) {
    const mqtt::SharedFilter shared = mqtt::split_shared(t.filter);
    if (options_.acl && !options_.acl->can_subscribe(s.username, s.client_id, t.filter)) {
      spdlog::debug("{} may not subscribe to {}", s.client_id, t.filter);
      ack.reasons.push_back(ReasonCode::NotAuthorized);  // 0x80 for v3.1.1 at encoding
      continue;
    }
    const mqtt::SubscriptionOptions options{t.qos, t.no_local, t.retain_as_published,
                                            t.retain_handling, identifier};
    const bool is_new = trie_.add(t.filter, s.id, options);
    s.subscriptions.insert_or_assign(std::string(t.filter), options);
    if (is_new) subscription_changed(s.id, std::string(t.filter), true);
    if (s.stored) {
      persistence_->put_subscription(s.client_id, t.filter, options);
      schedule_commit();
    }
    ack.reasons.push_back(static_cast<ReasonCode>(t.qos));
    const bool send =
        shared.group.empty() &&
        (t.retain_handling == mqtt::RetainHandling::SendOnSubscribe ||
         (t.retain_handling == mqtt::RetainHandling::SendIfNewSubscription && is_new));
    if (send) retained.push_back({t.filter, options});
  }
  s.link->send(ack);
  for (const RetainedToSend& r : retained)
    send_retained(s, r.filter, r.options);
}

void Router::on_unsubscribe(Session& s, const mqtt::Unsubscribe& p) {
  mqtt::Unsuback ack{.packet_id = p.packet_id};
  for (std::string_view filter : p.filters) {
    const bool existed = trie_.remove(filter, s.id);
    if (auto it = s.subscriptions.find(filter); it != s.subscriptions.end())
      s.subscriptions.erase(it);
    if (existed) subscription_changed(s.id, std::string(filter), false);
    if (s.stored) {
      persistence_->erase_subscription(s.client_id, filter);
      schedule_commit();
    }
    if (s.version == Version::v5)
      ack.reasons.push_back(existed ? ReasonCode::Success : ReasonCode::NoSubscriptionExisted);
  }
  s.link->send(ack);
}

// ---------------------------------------------------------------- routing

MessagePtr Router::localize(MessagePtr message) const {
  const std::string& prefix = options_.local_prefix;
  if (prefix.empty() || message->topic.size() <= prefix.size() ||
      message->topic.compare(0, prefix.size(), prefix) != 0)
    return message;
  auto local = std::make_shared<Message>(*message);
  local->topic.erase(0, prefix.size());
  local->local = true;
  return local;
}

void Router::observe_subscriptions(SubscriptionObserver observer) {
  subscription_observer_ = std::move(observer);
  if (!subscription_observer_) return;
  for (const auto& [id, session] : sessions_)
    for (const auto& [filter, options] : session->subscriptions)
      subscription_observer_(id, filter, true);
}

void Router::subscription_changed(SessionId session, const std::string& filter, bool added) {
  if (subscription_observer_) subscription_observer_(session, filter, added);
}

void Router::publish(MessagePtr message) {
  message = localize(std::move(message));
  // The router's own messages (wills, $SYS, in-process sessions) pause no one, and leave what
  // publisher_should_wait() says about the packet being handled as it was.
  auto congested = std::exchange(congested_, {});
  const SessionId handling = std::exchange(handling_, 0);
  if (message->retain) store_retained(message);
  route(message);
  congested_ = std::move(congested);
  handling_ = handling;
}

void Router::route(const MessagePtr& message) {
  matches_.clear();
  queue_full_ = false;
  trie_.match(
      message->topic,
      [&](const mqtt::Subscription& sub) {
        if (sub.options.no_local && sub.subscriber == message->origin) return;
        matches_.push_back({sub.subscriber, sub.options});
      },
      [&](mqtt::SharedGroup& group) {
        // One member per message: the next connected one that has room, else the next in turn
        // (it queues the message if it is persistent).
        const mqtt::Subscription* chosen = group.pick([&](const mqtt::Subscription& m) {
          const auto it = sessions_.find(m.subscriber);
          return it != sessions_.end() && it->second->connected() && !congested(*it->second);
        });
        if (chosen == nullptr) chosen = group.pick([](const mqtt::Subscription&) { return true; });
        if (chosen != nullptr) matches_.push_back({chosen->subscriber, chosen->options});
      });
  // The clock is read only for a message that can expire.
  if (matches_.empty() || (message->message_expiry_interval && message->expired(Clock::now())))
    return;
  if (matches_.size() > 1) {
    std::sort(matches_.begin(), matches_.end(),
              [](const Match& a, const Match& b) { return a.session < b.session; });
  }
  for (std::size_t i = 0; i < matches_.size();) {
    // Overlapping subscriptions of one session: one delivery at the highest QoS, carrying every
    // matching subscription identifier.
    std::size_t j = i;
    Delivery d;
    QoS granted = QoS::AtMostOnce;
    bool retain_as_published = false;
    for (; j < matches_.size() && matches_[j].session == matches_[i].session; ++j) {
      const mqtt::SubscriptionOptions& o = matches_[j].options;
      granted = std::max(granted, o.qos);
      retain_as_published = retain_as_published || o.retain_as_published;
      if (o.identifier != 0) d.subscription_ids.push_back(o.identifier);
    }
    const SessionId id = matches_[i].session;
    i = j;
    const auto it = sessions_.find(id);
    if (it == sessions_.end()) continue;
    Session& target = *it->second;
    if (message->local && !target.in_process) continue;  // it never leaves the node
    if (options_.acl &&
        !options_.acl->can_receive(target.username, target.client_id, message->topic))
      continue;
    d.message = message;
    d.qos = std::min(message->qos, granted);
    d.retain = retain_as_published && message->retain;
    deliver(target, std::move(d));
  }
}

void Router::deliver(Session& s, Delivery d) {
  if (d.qos == QoS::AtMostOnce) {
    if (s.link == nullptr) return;  // QoS 0 is not queued for offline sessions
    if (s.link->backlog() > options_.limits.max_backlog_bytes) {
      ++s.dropped;
      ++stats_.messages_dropped;
      return;
    }
    s.link->send_publish(d, 0, false);
    ++stats_.messages_sent;
  } else {
    if (s.outbound.pending() >= options_.limits.max_queued_messages) {
      // The newest message is refused, not an older one dropped (docs/router.md).
      ++s.dropped;
      ++stats_.messages_dropped;
      queue_full_ = true;
      return;
    }
    d.seq = s.next_seq++;
    if (s.stored) {
      persistence_->put_queued(s.client_id, d.seq, d.message, d.qos, d.retain, d.subscription_ids);
      schedule_commit();
    }
    (void)s.outbound.enqueue(d.qos, std::move(d));
    pump(s);
  }
  // A publisher never waits for itself, nor for a session that waits in turn (no cycles).
  if (s.id != handling_ && !s.paused && congested(s)) congested_.push_back(s.id);
}

void Router::pump(Session& s) {
  if (s.link == nullptr) return;
  const auto now = Clock::now();
  while (auto p = s.outbound.next_publish()) {
    if (p->message.message->expired(now)) {
      // It expired while queued: it is not sent (spec 3.3.2.3.3).
      abandon_flow(s, p->packet_id);
      continue;
    }
    if (s.stored) {
      persistence_->update_queued(s.client_id, p->message.seq, p->packet_id, first_stage(p->qos));
      schedule_commit();
    }
    s.link->send_publish(p->message, p->packet_id, false);
    ++stats_.messages_sent;
  }
}

bool Router::congested(const Session& s) const noexcept {
  return s.link != nullptr && (s.link->backlog() > options_.limits.congestion_bytes ||
                               s.outbound.pending() > options_.limits.max_queued_messages / 2);
}

void Router::when_uncongested(SessionId publisher, std::function<void()> resume) {
  std::sort(congested_.begin(), congested_.end());
  congested_.erase(std::unique(congested_.begin(), congested_.end()), congested_.end());
  const auto it = sessions_.find(publisher);
  if (congested_.empty() || it == sessions_.end()) {
    congested_.clear();
    resume();
    return;
  }
  Session& s = *it->second;
  s.paused = true;
  struct Countdown {
    std::size_t left;
    SessionId publisher;
    std::uint64_t pause;
    std::function<void()> resume;
  };
  auto countdown = std::make_shared<Countdown>();
  countdown->left = congested_.size();
  countdown->publisher = publisher;
  countdown->pause = ++s.pauses;
  countdown->resume = std::move(resume);
  for (SessionId id : congested_) {
    waiting_on_[id].push_back([this, countdown] {
      if (--countdown->left != 0) return;
      const auto found = sessions_.find(countdown->publisher);
      if (found != sessions_.end() && found->second->pauses == countdown->pause)
        found->second->paused = false;
      countdown->resume();
    });
  }
  congested_.clear();
}

void Router::link_drained(SessionId id) {
  if (const auto it = sessions_.find(id); it != sessions_.end()) notify_drained(*it->second, false);
}

void Router::notify_drained(Session& s, bool force) {
  const auto it = waiting_on_.find(s.id);
  if (it == waiting_on_.end()) return;
  if (!force && congested(s)) return;
  auto waiters = std::move(it->second);
  waiting_on_.erase(it);
  for (auto& w : waiters)
    w();
}

// ---------------------------------------------------------------- retained messages

void Router::store_retained(const MessagePtr& message) {
  if (message->payload.empty()) {
    if (retained_.erase(message->topic) != 0 && persistence_ != nullptr)
      persistence_->erase_retained(message->topic);
  } else {
    retained_.set(message);
    if (persistence_ != nullptr) persistence_->put_retained(message);
  }
  schedule_commit();
}

void Router::send_retained(Session& s, std::string_view filter,
                           const mqtt::SubscriptionOptions& options) {
  const auto now = Clock::now();
  const bool wildcard = mqtt::has_wildcards(filter);
  const auto offer = [&](const MessagePtr& m) {
    if (m->expired(now) || (m->local && !s.in_process)) return;
    if (options_.acl && !options_.acl->can_receive(s.username, s.client_id, m->topic)) return;
    Delivery d;
    d.message = m;
    d.qos = std::min(m->qos, options.qos);
    d.retain = true;  // retained messages sent on subscribe keep the flag (spec 3.3.1.3)
    if (options.identifier != 0) d.subscription_ids.push_back(options.identifier);
    deliver(s, std::move(d));
  };
  if (!wildcard) {
    if (const MessagePtr* m = retained_.find(filter)) offer(*m);
    return;
  }
  retained_.match(filter, offer);
}

// ---------------------------------------------------------------- session end, wills

void Router::connection_lost(SessionId id, Link& link) {
  if (Session* s = find(id, link)) lose_link(*s);
}

void Router::lose_link(Session& s) {
  s.link = nullptr;
  --connected_;
  s.paused = false;  // its reader is gone; a pause still counting down is not its next one
  ++s.pauses;
  const bool normal = s.normal_disconnect;
  s.normal_disconnect = false;
  // In-process sessions (services) end with the node or a restart: not news at info level.
  spdlog::log(s.in_process ? spdlog::level::debug : spdlog::level::info, "{} disconnected{}",
              s.client_id, normal ? "" : " unexpectedly");
  // Publishers waiting for this session's backlog to drain need not wait for it any more.
  notify_drained(s, true);
  if (normal && s.will) {
    s.will.reset();
    if (s.stored) persistence_->erase_will(s.client_id);
  }
  if (s.will) {
    if (s.will->delay == 0 || s.expiry_interval == 0) {
      publish_will(s);
    } else {
      arm_will(s, std::chrono::seconds(s.will->delay));
    }
  }
  if (s.expiry_interval == 0) {
    end_session(s);
    return;
  }
  if (s.stored) persist_session(s, wall_seconds());
  if (s.expiry_interval != kNeverExpires)
    schedule_expiry(s, std::chrono::seconds(s.expiry_interval));
}

namespace {

using SessionTimers = std::unordered_map<SessionId, std::unique_ptr<asio::steady_timer>>;

// Calls `fire` after `after` unless the session's timer in `timers` is cancelled first.
void arm(asio::any_io_executor executor, SessionTimers& timers, SessionId id,
         std::chrono::seconds after, std::function<void()> fire) {
  auto timer = std::make_unique<asio::steady_timer>(executor);
  timer->expires_after(after);
  timer->async_wait([&timers, id, fire = std::move(fire)](const boost::system::error_code& ec) {
    if (ec) return;
    timers.erase(id);
    fire();
  });
  timers[id] = std::move(timer);
}

}  // namespace

void Router::schedule_expiry(Session& s, std::chrono::seconds after) {
  if (timers_->stopped) return;
  arm(executor_, timers_->expiry, s.id, after, [this, id = s.id] {
    const auto it = sessions_.find(id);
    if (it == sessions_.end() || it->second->connected()) return;
    Session& expired = *it->second;
    if (expired.will) publish_will(expired);  // a session that ends sends its pending will
    spdlog::info("session of {} expired", expired.client_id);
    end_session(expired);
  });
}

void Router::arm_will(Session& s, std::chrono::seconds after) {
  if (timers_->stopped) return;
  arm(executor_, timers_->will, s.id, after, [this, id = s.id] {
    const auto it = sessions_.find(id);
    if (it != sessions_.end() && !it->second->connected()) publish_will(*it->second);
  });
}

void Router::publish_will(Session& s) {
  if (!s.will) return;
  MessagePtr will = std::move(s.will->message);
  s.will.reset();
  if (s.stored) {
    persistence_->erase_will(s.client_id);
    schedule_commit();
  }
  spdlog::info("publishing the will of {} to {}", s.client_id, will->topic);
  ++stats_.messages_received;
  publish(std::move(will));
}

void Router::end_session(Session& s) {
  const SessionId id = s.id;
  cancel_timer(timers_->will, id);
  cancel_timer(timers_->expiry, id);
  trie_.remove_all(id);
  for (const auto& [filter, options] : s.subscriptions)
    subscription_changed(id, filter, false);
  if (s.link != nullptr) --connected_;
  if (s.stored) {
    persistence_->erase_session(s.client_id);
    s.outbound.for_each_message([&](const Delivery& d) { persistence_->release(d.message); });
    schedule_commit();
  }
  by_client_id_.erase(s.client_id);
  notify_drained(s, true);
  sessions_.erase(id);
}

// ---------------------------------------------------------------- $SYS

void Router::schedule_sys() {
  timers_->sys.expires_after(std::chrono::seconds(options_.sys_interval_seconds));
  timers_->sys.async_wait([this](const boost::system::error_code& ec) {
    if (ec || timers_->stopped) return;
    publish_sys();
    schedule_sys();
  });
}

void Router::publish_sys() {
  const auto now = Clock::now();
  const auto put = [&](std::string_view name, std::string value) {
    auto m = std::make_shared<Message>();
    m->topic = options_.sys_prefix;
    m->topic += '/';
    m->topic += name;
    m->payload = std::move(value);
    m->retain = true;
    m->received = now;
    publish(std::move(m));
  };
  const auto uptime = std::chrono::duration_cast<std::chrono::seconds>(now - started_).count();
  put("version", "psos " PSOS_VERSION);
  put("uptime", std::to_string(uptime) + " seconds");
  put("clients/connected", std::to_string(connected_));
  put("clients/total", std::to_string(sessions_.size()));
  put("messages/received", std::to_string(stats_.messages_received));
  put("messages/sent", std::to_string(stats_.messages_sent));
  put("messages/dropped", std::to_string(stats_.messages_dropped));
  put("bytes/received", std::to_string(stats_.bytes_received));
  put("bytes/sent", std::to_string(stats_.bytes_sent));
  put("subscriptions/count", std::to_string(trie_.size()));
  put("retained messages/count", std::to_string(retained_.size()));
}

std::size_t Router::network_connected_count() const noexcept {
  return static_cast<std::size_t>(
      std::count_if(sessions_.begin(), sessions_.end(), [](const auto& entry) {
        return entry.second->link != nullptr && !entry.second->in_process;
      }));
}

}  // namespace psos::router
