// PUBLISH: a client's message received and acknowledged, the router's and the node's own
// messages; routing (route: match the subscriptions once), delivery to one session (deliver) and
// the session's window of messages in flight (pump); retained messages set and cleared.
#include <algorithm>

#include "mqtt/topic.hpp"
#include "router/broker.hpp"
#include "router/security/acl.hpp"

namespace psos::router {

using mqtt::QoS;
using mqtt::ReasonCode;

namespace {

mqtt::OutboundStage first_stage(QoS qos) {
  return qos == QoS::AtLeastOnce ? mqtt::OutboundStage::AwaitingPuback
                                 : mqtt::OutboundStage::AwaitingPubrec;
}

}  // namespace

void Broker::on_publish(Session& s, const mqtt::Publish& p, Actions& out) {
  const bool v5 = s.version == mqtt::Version::v5;
  if (!p.properties.subscription_identifiers.empty())
    return protocol_error(s, ReasonCode::ProtocolError,
                          "a client's PUBLISH carries a Subscription Identifier", out);
  const std::string_view topic = p.topic;  // the link resolved any Topic Alias

  const auto acknowledge = [&](ReasonCode reason) {
    if (!v5) reason = ReasonCode::Success;  // v3.1.1 has no way to say no
    if (p.qos == QoS::AtLeastOnce) {
      out.acknowledge(*s.link, mqtt::PacketType::Puback, p.packet_id, reason);
    } else if (p.qos == QoS::ExactlyOnce) {
      // A refused QoS 2 message ends its flow here: no PUBREL follows (spec 4.3.3), so the
      // packet id is free for the client's next message.
      if (mqtt::is_failure(reason) && s.inbound.on_pubrel(p.packet_id) && s.stored)
        out.store(store::EraseInbound{s.store_key(), p.packet_id});
      out.acknowledge(*s.link, mqtt::PacketType::Pubrec, p.packet_id, reason);
    }
  };

  if (p.qos == QoS::ExactlyOnce) {
    switch (s.inbound.on_publish(p.packet_id)) {
      case mqtt::InboundPublish::Duplicate:
        return acknowledge(ReasonCode::Success);
      case mqtt::InboundPublish::ReceiveMaximumExceeded:
        return protocol_error(s, ReasonCode::ReceiveMaximumExceeded,
                              "more unacknowledged QoS 2 messages than Receive Maximum", out);
      case mqtt::InboundPublish::Deliver:
        if (s.stored) out.store(store::PutInbound{s.store_key(), p.packet_id});
        break;
    }
  }

  const bool denied = topic.starts_with("$SYS") ||
                      (options_.acl && !options_.acl->can_publish(s.username, s.client_id, topic));
  if (denied) {
    out.log(LogLevel::debug, "{} may not publish to {}", s.client_id, topic);
    // v3.1.1 has no way to say no: the message is acknowledged and dropped.
    return acknowledge(ReasonCode::NotAuthorized);
  }

  ++stats_.messages_received;
  MessagePtr message = localize(make_message(p, topic, s.id, Clock::now()));
  if (message->retain) store_retained(message, out);
  Waits waits{s.id, {}};
  const RouteOutcome routed = route(message, &waits, out);
  acknowledge(routed.refused    ? ReasonCode::QuotaExceeded
              : !routed.matched ? ReasonCode::NoMatchingSubscribers
                                : ReasonCode::Success);
  if (!waits.congested.empty()) pause(s, waits, out);
}

void Broker::publish(MessagePtr message, Actions& out) {
  message = localize(std::move(message));
  if (message->retain) store_retained(message, out);
  route(message, nullptr, out);
}

MessagePtr Broker::localize(MessagePtr message) const {
  const std::string& prefix = options_.local_prefix;
  if (prefix.empty() || message->topic.size() <= prefix.size() ||
      message->topic.compare(0, prefix.size(), prefix) != 0)
    return message;
  auto local = std::make_shared<Message>(*message);
  local->topic.erase(0, prefix.size());
  local->local = true;
  return local;
}

Broker::RouteOutcome Broker::route(const MessagePtr& message, Waits* waits, Actions& out) {
  matches_.clear();
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
          const Session* member = find(m.subscriber);
          return member != nullptr && member->connected() && !congested(*member);
        });
        if (chosen == nullptr) chosen = group.pick([](const mqtt::Subscription&) { return true; });
        if (chosen != nullptr) matches_.push_back({chosen->subscriber, chosen->options});
      });
  RouteOutcome outcome;
  outcome.matched = !matches_.empty();
  // The clock is read only for a message that can expire.
  if (matches_.empty() || (message->message_expiry_interval && message->expired(Clock::now())))
    return outcome;
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
    Session* target = find(matches_[i].session);
    i = j;
    if (target == nullptr) continue;
    if (message->local && !target->in_process) continue;  // it never leaves the node
    if (options_.acl &&
        !options_.acl->can_receive(target->username, target->client_id, message->topic))
      continue;
    d.message = message;
    d.qos = std::min(message->qos, granted);
    d.retain = retain_as_published && message->retain;
    if (!deliver(*target, std::move(d), waits, out)) outcome.refused = true;
  }
  return outcome;
}

bool Broker::deliver(Session& s, Delivery d, Waits* waits, Actions& out) {
  if (d.qos == QoS::AtMostOnce) {
    if (s.link == nullptr) return true;  // QoS 0 is not queued for offline sessions
    if (s.link->backlog() > options_.limits.max_backlog_bytes) {
      ++s.dropped;
      ++stats_.messages_dropped;
      return true;
    }
    out.publish(*s.link, std::move(d), 0, false);
    ++stats_.messages_sent;
  } else {
    if (s.outbound.pending() >= options_.limits.max_queued_messages) {
      // The newest message is refused, not an older one dropped (docs/router.md).
      ++s.dropped;
      ++stats_.messages_dropped;
      return false;
    }
    d.seq = s.next_seq++;
    if (s.stored)
      out.store(
          store::PutQueued{s.store_key(), d.seq, d.message, d.qos, d.retain, d.subscription_ids});
    (void)s.outbound.enqueue(d.qos, std::move(d));
    pump(s, out);
  }
  // A publisher never waits for itself, nor for a session that waits in turn (no cycles).
  if (waits != nullptr && s.id != waits->publisher && !s.paused && congested(s))
    waits->congested.push_back(s.id);
  return true;
}

void Broker::pump(Session& s, Actions& out) {
  if (s.link == nullptr) return;
  const auto now = Clock::now();
  while (auto p = s.outbound.next_publish()) {
    if (p->message.message->expired(now)) {
      // It expired while queued: it is not sent (spec 3.3.2.3.3).
      abandon_flow(s, p->packet_id, out);
      continue;
    }
    if (s.stored)
      out.store(
          store::UpdateQueued{s.store_key(), p->message.seq, p->packet_id, first_stage(p->qos)});
    out.publish(*s.link, p->message, p->packet_id, false);
    ++stats_.messages_sent;
  }
}

void Broker::store_retained(const MessagePtr& message, Actions& out) {
  if (message->payload.empty()) {
    if (retained_.erase(message->topic) != 0 && durable_)
      out.store(store::EraseRetained{message->topic});
  } else {
    retained_.set(message);
    if (durable_) out.store(store::PutRetained{message});
  }
}

}  // namespace psos::router
