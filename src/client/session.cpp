// The client's protocol state machine: CONNECT/CONNACK, QoS flows in both directions, the offline
// queue and subscriptions kept across reconnects. No I/O: bytes in, bytes and events out.
#include "client/session.hpp"

#include <fmt/format.h>

#include <utility>

#include "mqtt/codec.hpp"
#include "mqtt/topic.hpp"

namespace psos::client {

using mqtt::ReasonCode;

namespace {

// A received PUBLISH as the message handed to the application.
MessagePtr received(const mqtt::Publish& publish) {
  auto m = std::make_shared<Message>();
  mqtt::fill_message(publish, publish.topic, *m);
  return m;
}

// What a refused CONNACK means for the person running the client.
std::string refusal_advice(ReasonCode reason, mqtt::Version version) {
  switch (reason) {
    case ReasonCode::BadUserNameOrPassword:
      return "check the user name and password (-u/-P, or user:password in the broker URL)";
    case ReasonCode::NotAuthorized:
      return "the broker does not let this user or client id connect: check its password file "
             "and ACL, or give credentials";
    case ReasonCode::UnsupportedProtocolVersion:
      return version == mqtt::Version::v5
                 ? "the broker does not speak MQTT v5: use protocol version 3.1.1 (-V mqttv311)"
                 : "the broker refused MQTT 3.1.1: try v5 (-V mqttv5)";
    case ReasonCode::ClientIdentifierNotValid:
      return "choose another client id (-i); a v3.1.1 broker needs a client id for a persistent "
             "session";
    case ReasonCode::ServerUnavailable:
    case ReasonCode::ServerBusy:
      return "the broker is unavailable; the client retries";
    case ReasonCode::Banned:
      return "the broker has banned this client";
    default:
      return "see the broker's log";
  }
}

}  // namespace

Session::Session(SessionOptions options, SessionEvents& events)
    : options_(std::move(options)),
      events_(events),
      decoder_(options_.version),
      client_id_(options_.client_id) {
  inbound_.set_receive_maximum(options_.receive_maximum);
  if (options_.max_packet_size != 0) decoder_.set_max_packet_size(options_.max_packet_size);
  // Until a CONNACK says otherwise, keep a v3.1.1-sized window so reconnect floods stay bounded.
  flows_.set_receive_maximum(1024);
}

void Session::connection_started() {
  transport_up_ = true;
  connected_ = false;
  out_.clear();
  decoder_ = mqtt::StreamDecoder(options_.version, options_.max_packet_size != 0
                                                       ? options_.max_packet_size
                                                       : mqtt::kMaxRemainingLength + 5);
  mqtt::Connect c;
  c.version = options_.version;
  c.client_id = client_id_;
  c.clean_start = options_.clean_start;
  c.keep_alive = options_.keep_alive;
  if (options_.username) c.username = *options_.username;
  if (options_.password) c.password = *options_.password;
  if (options_.will) {
    mqtt::Will w;
    mqtt::Publish p;
    mqtt::fill_publish(options_.will->message, p);
    w.topic = p.topic;
    w.payload = p.payload;
    w.qos = p.qos;
    w.retain = p.retain;
    if (options_.version == mqtt::Version::v5) {
      w.properties = std::move(p.properties);
      if (options_.will->delay_seconds != 0)
        w.properties.will_delay_interval = options_.will->delay_seconds;
    }
    c.will = std::move(w);
  }
  if (options_.version == mqtt::Version::v5) {
    if (options_.session_expiry_interval != 0)
      c.properties.session_expiry_interval = options_.session_expiry_interval;
    if (options_.receive_maximum != 65535) c.properties.receive_maximum = options_.receive_maximum;
    if (options_.max_packet_size != 0) c.properties.maximum_packet_size = options_.max_packet_size;
  }
  encode(c);
}

void Session::connection_lost() {
  transport_up_ = false;
  connected_ = false;
  out_.clear();
  for (Request& r : requests_) {
    if (r.packet_id != 0) flows_.release_id(r.packet_id);
    r.packet_id = 0;
  }
}

std::string Session::fail(std::string why) {
  connected_ = false;
  return why;
}

std::string Session::on_bytes(std::string_view chunk) {
  if (!transport_up_) return {};
  decoder_.feed(chunk);
  while (true) {
    switch (decoder_.next(packet_)) {
      case mqtt::StreamDecoder::Status::NeedMore:
        return {};
      case mqtt::StreamDecoder::Status::Failed: {
        const mqtt::Error& e = decoder_.error();
        // The decoder's code names the fault, but DISCONNECT allows only some codes (a CONNECT
        // with a bad version fails with 0x84, which encode() refuses: that threw from here).
        const ReasonCode reason =
            e.code == ReasonCode::ProtocolError || e.code == ReasonCode::PacketTooLarge
                ? e.code
                : ReasonCode::MalformedPacket;
        if (options_.version == mqtt::Version::v5 && connected_) disconnect(reason);
        return fail("the broker sent a malformed packet: " + mqtt::to_string(e));
      }
      case mqtt::StreamDecoder::Status::Ready:
        if (std::string error = handle(packet_); !error.empty()) return fail(std::move(error));
        break;
    }
  }
}

std::string Session::handle(const mqtt::Packet& packet) {
  if (!connected_ && !std::holds_alternative<mqtt::Connack>(packet)) {
    if (const auto* d = std::get_if<mqtt::Disconnect>(&packet)) {
      return fmt::format("the broker closed the connection before CONNACK: {}",
                         mqtt::reason_name(d->reason));
    }
    return fmt::format("protocol error: the broker sent {} before CONNACK",
                       mqtt::packet_name(mqtt::type_of(packet)));
  }
  const bool v5 = options_.version == mqtt::Version::v5;
  return std::visit(
      [&](const auto& p) -> std::string {
        using P = std::decay_t<decltype(p)>;
        if constexpr (std::is_same_v<P, mqtt::Connack>) {
          if (connected_) return "protocol error: a second CONNACK";
          return on_connack(p);
        } else if constexpr (std::is_same_v<P, mqtt::Publish>) {
          return on_publish(p);
        } else if constexpr (std::is_same_v<P, mqtt::Puback>) {
          const auto outcome = flows_.on_puback(p.packet_id, p.reason);
          if (outcome.status == mqtt::AckStatus::WrongStage) {
            if (v5) disconnect(ReasonCode::ProtocolError);
            return fmt::format("protocol error: PUBACK for packet {} which is a QoS 2 flow",
                               p.packet_id);
          }
          end_flow(outcome, p.reason);
          pump();
          return {};
        } else if constexpr (std::is_same_v<P, mqtt::Pubrec>) {
          const auto outcome = flows_.on_pubrec(p.packet_id, p.reason);
          switch (outcome.status) {
            case mqtt::AckStatus::SendPubrel: {
              if (observer_ != nullptr) {
                if (const Outgoing* o = flows_.find(p.packet_id)) observer_->on_released(o->token);
              }
              mqtt::Pubrel rel;
              rel.packet_id = p.packet_id;
              encode(rel);
              return {};
            }
            case mqtt::AckStatus::UnknownPacketId: {
              mqtt::Pubrel rel;
              rel.packet_id = p.packet_id;
              rel.reason = ReasonCode::PacketIdentifierNotFound;
              encode(rel);
              return {};
            }
            case mqtt::AckStatus::WrongStage:
              if (v5) disconnect(ReasonCode::ProtocolError);
              return fmt::format("protocol error: PUBREC for packet {} which is a QoS 1 flow",
                                 p.packet_id);
            default:
              end_flow(outcome, p.reason);
              pump();
              return {};
          }
        } else if constexpr (std::is_same_v<P, mqtt::Pubcomp>) {
          const auto outcome = flows_.on_pubcomp(p.packet_id);
          if (outcome.status == mqtt::AckStatus::WrongStage) {
            if (v5) disconnect(ReasonCode::ProtocolError);
            return fmt::format("protocol error: PUBCOMP for packet {} before its PUBREC",
                               p.packet_id);
          }
          end_flow(outcome, ReasonCode::Success);
          pump();
          return {};
        } else if constexpr (std::is_same_v<P, mqtt::Pubrel>) {
          mqtt::Pubcomp comp;
          comp.packet_id = p.packet_id;
          if (!inbound_.on_pubrel(p.packet_id) && v5)
            comp.reason = ReasonCode::PacketIdentifierNotFound;
          encode(comp);
          return {};
        } else if constexpr (std::is_same_v<P, mqtt::Suback> || std::is_same_v<P, mqtt::Unsuback>) {
          constexpr bool is_suback = std::is_same_v<P, mqtt::Suback>;
          auto it = requests_.begin();
          while (it != requests_.end() &&
                 !(it->packet_id == p.packet_id && it->subscribe == is_suback))
            ++it;
          if (it == requests_.end()) {
            if (v5) disconnect(ReasonCode::ProtocolError);
            return fmt::format("protocol error: {} for unknown packet {}",
                               is_suback ? "SUBACK" : "UNSUBACK", p.packet_id);
          }
          const Request request = std::move(*it);
          requests_.erase(it);
          flows_.release_id(p.packet_id);
          if constexpr (is_suback) {
            if (!p.reasons.empty() && mqtt::is_failure(p.reasons.front())) {
              const auto sub = subscriptions_.find(request.filter);
              if (sub != subscriptions_.end()) subscriptions_.erase(sub);
            }
            if (request.token != 0) events_.on_subscribe_done(request.token, p.reasons);
          } else {
            if (request.token != 0) events_.on_unsubscribe_done(request.token);
          }
          return {};
        } else if constexpr (std::is_same_v<P, mqtt::Pingresp>) {
          return {};
        } else if constexpr (std::is_same_v<P, mqtt::Disconnect>) {
          std::string why =
              fmt::format("the broker closed the connection: {} (0x{:02X})",
                          mqtt::reason_name(p.reason), static_cast<unsigned>(p.reason));
          if (p.properties.reason_string) why += fmt::format(": {}", *p.properties.reason_string);
          return why;
        } else {
          if (v5) disconnect(ReasonCode::ProtocolError);
          return fmt::format("protocol error: the broker sent {}",
                             mqtt::packet_name(mqtt::type_of(packet)));
        }
      },
      packet);
}

std::string Session::on_connack(const mqtt::Connack& c) {
  connack_ = ConnackInfo{};
  connack_.reason = c.reason;
  connack_.session_present = c.session_present;
  const mqtt::Properties& p = c.properties;
  if (p.reason_string) connack_.reason_string = *p.reason_string;
  if (mqtt::is_failure(c.reason)) {
    events_.on_connack(connack_);
    std::string why = fmt::format("the broker refused the connection: {} (0x{:02X})",
                                  mqtt::reason_name(c.reason), static_cast<unsigned>(c.reason));
    if (!connack_.reason_string.empty()) why += ": " + connack_.reason_string;
    return why + " — " + refusal_advice(c.reason, options_.version);
  }
  if (p.assigned_client_identifier) {
    connack_.assigned_client_id = *p.assigned_client_identifier;
    client_id_ = connack_.assigned_client_id;
  }
  connack_.server_keep_alive = p.server_keep_alive;
  if (p.receive_maximum) connack_.receive_maximum = *p.receive_maximum;
  if (p.maximum_packet_size) connack_.max_packet_size = *p.maximum_packet_size;
  if (p.maximum_qos) connack_.maximum_qos = *p.maximum_qos;
  if (p.retain_available) connack_.retain_available = *p.retain_available != 0;
  connected_ = true;

  flows_.set_receive_maximum(options_.version == mqtt::Version::v5 ? connack_.receive_maximum
                                                                   : std::uint16_t{1024});
  if (c.session_present) {
    // Collected first: a resend larger than this broker's Maximum Packet Size ends its flow in
    // encode_publish(), which must not happen while for_each_resend() walks the flows.
    struct Resend {
      bool pubrel;
      std::uint16_t packet_id;
      MessagePtr message;
    };
    std::vector<Resend> resends;
    flows_.for_each_resend([&](const mqtt::OutboundPacket<Outgoing>& o) {
      resends.push_back(Resend{o.type == mqtt::PacketType::Pubrel, o.packet_id, o.message.message});
    });
    for (const Resend& r : resends) {
      if (r.pubrel) {
        mqtt::Pubrel rel;
        rel.packet_id = r.packet_id;
        encode(rel);
      } else {
        encode_publish(*r.message, r.packet_id, true);
      }
    }
  } else {
    // The broker forgot everything: unacknowledged messages go again as new ones, messages it
    // had accepted (PUBREC) are done, and the subscriptions are made again.
    for (Outgoing& done : flows_.restart_clean())
      events_.on_publish_done(done.token, ReasonCode::Success);
    if (observer_ != nullptr) observer_->on_ids_reset();
    inbound_.clear();
    for (const auto& [filter, options] : subscriptions_) {
      bool requested = false;
      for (const Request& r : requests_)
        requested |= r.subscribe && r.filter == filter;
      if (!requested) requests_.push_back(Request{0, true, filter, options, 0});
    }
  }
  queued_bytes_ = 0;
  for (const Outgoing& q : qos0_)
    queued_bytes_ += q.message->footprint();
  for (Request& r : requests_)
    send_request(r);
  while (!qos0_.empty()) {
    queued_bytes_ -= qos0_.front().message->footprint();
    encode_publish(*qos0_.front().message, 0, false);
    qos0_.pop_front();
  }
  // Messages put back by restart_clean() count as queued again until sent.
  flows_.discard_pending_if([&](const Outgoing& o) {
    queued_bytes_ += o.message->footprint();
    return false;
  });
  events_.on_connack(connack_);
  pump();
  return {};
}

std::string Session::on_publish(const mqtt::Publish& publish) {
  const bool v5 = options_.version == mqtt::Version::v5;
  if (publish.properties.topic_alias) {
    // We announce no Topic Alias Maximum, so the broker may not use aliases (spec 3.3.2.3.4).
    if (v5) disconnect(ReasonCode::TopicAliasInvalid);
    return "protocol error: the broker used a Topic Alias although we allow none";
  }
  switch (publish.qos) {
    case mqtt::QoS::AtMostOnce:
      events_.on_message(received(publish));
      return {};
    case mqtt::QoS::AtLeastOnce: {
      events_.on_message(received(publish));
      mqtt::Puback ack;
      ack.packet_id = publish.packet_id;
      encode(ack);
      return {};
    }
    case mqtt::QoS::ExactlyOnce:
      switch (inbound_.on_publish(publish.packet_id)) {
        case mqtt::InboundPublish::Deliver:
          events_.on_message(received(publish));
          [[fallthrough]];
        case mqtt::InboundPublish::Duplicate: {
          mqtt::Pubrec rec;
          rec.packet_id = publish.packet_id;
          encode(rec);
          return {};
        }
        case mqtt::InboundPublish::ReceiveMaximumExceeded:
          if (v5) disconnect(ReasonCode::ReceiveMaximumExceeded);
          return "protocol error: the broker exceeded our Receive Maximum";
      }
  }
  return {};
}

void Session::encode(const mqtt::Packet& packet) {
  if (!transport_up_) return;
  // Our packets are built from validated input; a failure here is a bug worth seeing.
  if (const mqtt::Error e = mqtt::encode(packet, options_.version, out_)) {
    throw std::logic_error("client: cannot encode " +
                           std::string(mqtt::packet_name(mqtt::type_of(packet))) + ": " +
                           mqtt::to_string(e));
  }
}

void Session::encode_publish(const Message& message, std::uint16_t packet_id, bool dup) {
  if (!std::holds_alternative<mqtt::Publish>(outgoing_)) outgoing_ = mqtt::Publish{};
  auto& p = std::get<mqtt::Publish>(outgoing_);
  mqtt::fill_publish(message, p);
  p.packet_id = packet_id;
  p.dup = dup;
  if (options_.version != mqtt::Version::v5) p.properties = {};
  const std::size_t before = out_.size();
  encode(outgoing_);
  if (out_.size() - before <= connack_.max_packet_size) return;
  out_.resize(before);
  if (packet_id == 0) {
    ++dropped_;
    return;
  }
  // The broker would refuse it: the flow ends here as if the broker had said so.
  const auto outcome = message.qos == mqtt::QoS::AtLeastOnce
                           ? flows_.on_puback(packet_id, ReasonCode::PacketTooLarge)
                           : flows_.on_pubrec(packet_id, ReasonCode::PacketTooLarge);
  end_flow(outcome, ReasonCode::PacketTooLarge);
}

void Session::end_flow(const mqtt::AckOutcome<Outgoing>& outcome, ReasonCode reason) {
  if (!outcome.message) return;
  const bool refused = outcome.status == mqtt::AckStatus::Refused;
  events_.on_publish_done(outcome.message->token, refused ? reason : ReasonCode::Success);
}

void Session::pump() {
  while (connected_) {
    const auto next = flows_.next_publish();
    if (!next) return;
    const Outgoing& o = next->message;
    queued_bytes_ -= std::min(queued_bytes_, o.message->footprint());
    if (observer_ != nullptr) observer_->on_sent(o.token, next->packet_id);
    encode_publish(*o.message, next->packet_id, false);
  }
}

bool Session::make_room(std::size_t bytes) {
  while (queued() + 1 > options_.max_queued_messages ||
         queued_bytes_ + bytes > options_.max_queued_bytes) {
    if (qos0_.empty()) return false;
    queued_bytes_ -= std::min(queued_bytes_, qos0_.front().message->footprint());
    events_.on_dropped(qos0_.front().token);
    qos0_.pop_front();
    ++dropped_;
  }
  return true;
}

PublishStatus Session::publish(MessagePtr message, Token token) {
  if (mqtt::validate_topic_name(message->topic)) return PublishStatus::Invalid;
  if (connected_) {
    if (!std::holds_alternative<mqtt::Publish>(outgoing_)) outgoing_ = mqtt::Publish{};
    auto& p = std::get<mqtt::Publish>(outgoing_);
    mqtt::fill_publish(*message, p);
    p.packet_id = message->qos == mqtt::QoS::AtMostOnce ? 0 : 1;
    if (options_.version != mqtt::Version::v5) p.properties = {};
    if (mqtt::encoded_size(p, options_.version) > connack_.max_packet_size)
      return PublishStatus::TooLarge;
  }
  const std::size_t bytes = message->footprint();
  if (message->qos == mqtt::QoS::AtMostOnce) {
    if (connected_) {
      encode_publish(*message, 0, false);
      return PublishStatus::Queued;
    }
    if (!make_room(bytes)) return PublishStatus::QueueFull;
    queued_bytes_ += bytes;
    qos0_.push_back(Outgoing{std::move(message), token});
    return PublishStatus::Queued;
  }
  // QoS 1/2 beyond the window wait in the queue too, so they count against its bounds.
  const bool window_open =
      connected_ && flows_.pending() == 0 && flows_.in_flight() < flows_.receive_maximum();
  if (!window_open && !make_room(bytes)) return PublishStatus::QueueFull;
  const mqtt::QoS qos = message->qos;
  queued_bytes_ += bytes;
  (void)flows_.enqueue(qos, Outgoing{std::move(message), token});
  pump();
  return PublishStatus::Queued;
}

void Session::cancel_publish(Token token) {
  flows_.discard_pending_if([&](const Outgoing& o) {
    if (o.token != token) return false;
    queued_bytes_ -= std::min(queued_bytes_, o.message->footprint());
    return true;
  });
  for (auto it = qos0_.begin(); it != qos0_.end(); ++it) {
    if (it->token == token) {
      queued_bytes_ -= std::min(queued_bytes_, it->message->footprint());
      qos0_.erase(it);
      break;
    }
  }
}

bool Session::restore(MessagePtr message, Token token, std::uint16_t packet_id,
                      mqtt::OutboundStage stage) {
  const mqtt::QoS qos = message->qos;
  return flows_.restore_in_flight(packet_id, qos, stage, Outgoing{std::move(message), token});
}

void Session::send_request(Request& request) {
  if (!connected_ || request.packet_id != 0) return;
  request.packet_id = flows_.allocate_id();
  if (request.packet_id == 0) return;  // all ids in use: sent when one is free (next reconnect)
  if (request.subscribe) {
    mqtt::Subscribe s;
    s.packet_id = request.packet_id;
    mqtt::SubscribeTopic t;
    t.filter = request.filter;
    t.qos = request.options.qos;
    // No Local on a shared subscription is a Protocol Error (v5 3.8.3.1): the broker would
    // close the connection, and the client would make the same SUBSCRIBE again after every
    // reconnect. A shared subscription cannot have the option, so it is left out.
    t.no_local = request.options.no_local && !request.filter.starts_with("$share/");
    t.retain_as_published = request.options.retain_as_published;
    t.retain_handling = request.options.retain_handling;
    s.topics.push_back(t);
    if (request.options.subscription_identifier != 0 && options_.version == mqtt::Version::v5)
      s.properties.subscription_identifiers.push_back(request.options.subscription_identifier);
    encode(s);
  } else {
    mqtt::Unsubscribe u;
    u.packet_id = request.packet_id;
    u.filters.push_back(request.filter);
    encode(u);
  }
}

void Session::subscribe(const std::string& filter, const SubscribeOptions& options, Token token) {
  subscriptions_[filter] = options;
  requests_.push_back(Request{token, true, filter, options, 0});
  send_request(requests_.back());
}

void Session::unsubscribe(const std::string& filter, Token token) {
  subscriptions_.erase(filter);
  requests_.push_back(Request{token, false, filter, {}, 0});
  send_request(requests_.back());
}

void Session::ping() {
  if (connected_) encode(mqtt::Pingreq{});
}

void Session::disconnect(ReasonCode reason) {
  mqtt::Disconnect d;
  d.reason = reason;
  encode(d);
}

}  // namespace psos::client
