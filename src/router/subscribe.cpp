// SUBSCRIBE and UNSUBSCRIBE, and the retained messages a new subscription brings.
#include "mqtt/topic.hpp"
#include "router/broker.hpp"
#include "router/security/acl.hpp"

namespace psos::router {

using mqtt::ReasonCode;

void Broker::on_subscribe(Session& s, const mqtt::Subscribe& p, Actions& out) {
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
      out.log(LogLevel::debug, "{} may not subscribe to {}", s.client_id, t.filter);
      ack.reasons.push_back(ReasonCode::NotAuthorized);  // 0x80 for v3.1.1 at encoding
      continue;
    }
    const mqtt::SubscriptionOptions options{t.qos, t.no_local, t.retain_as_published,
                                            t.retain_handling, identifier};
    const bool is_new = trie_.add(t.filter, s.id, options);
    s.subscriptions.insert_or_assign(std::string(t.filter), options);
    if (is_new) out.subscription_changed(s.id, std::string(t.filter), true);
    if (s.stored) out.store(store::PutSubscription{s.client_id, std::string(t.filter), options});
    ack.reasons.push_back(static_cast<ReasonCode>(t.qos));
    const bool send =
        shared.group.empty() &&
        (t.retain_handling == mqtt::RetainHandling::SendOnSubscribe ||
         (t.retain_handling == mqtt::RetainHandling::SendIfNewSubscription && is_new));
    if (send) retained.push_back({t.filter, options});
  }
  out.send(*s.link, std::move(ack));
  for (const RetainedToSend& r : retained)
    send_retained(s, r.filter, r.options, out);
}

void Broker::on_unsubscribe(Session& s, const mqtt::Unsubscribe& p, Actions& out) {
  mqtt::Unsuback ack{.packet_id = p.packet_id};
  for (std::string_view filter : p.filters) {
    const bool existed = trie_.remove(filter, s.id);
    if (auto it = s.subscriptions.find(filter); it != s.subscriptions.end())
      s.subscriptions.erase(it);
    if (existed) out.subscription_changed(s.id, std::string(filter), false);
    if (s.stored) out.store(store::EraseSubscription{s.client_id, std::string(filter)});
    if (s.version == mqtt::Version::v5)
      ack.reasons.push_back(existed ? ReasonCode::Success : ReasonCode::NoSubscriptionExisted);
  }
  out.send(*s.link, std::move(ack));
}

void Broker::send_retained(Session& s, std::string_view filter,
                           const mqtt::SubscriptionOptions& options, Actions& out) {
  const auto now = Clock::now();
  const auto offer = [&](const MessagePtr& m) {
    if (m->expired(now) || (m->local && !s.in_process)) return;
    if (options_.acl && !options_.acl->can_receive(s.username, s.client_id, m->topic)) return;
    Delivery d;
    d.message = m;
    d.qos = std::min(m->qos, options.qos);
    d.retain = true;  // retained messages sent on subscribe keep the flag (spec 3.3.1.3)
    if (options.identifier != 0) d.subscription_ids.push_back(options.identifier);
    // The subscriber waits for no one: it drains by reading the very acknowledgements a pause
    // would leave unread.
    deliver(s, std::move(d), nullptr, out);
  };
  if (!mqtt::has_wildcards(filter)) {
    if (const MessagePtr* m = retained_.find(filter)) offer(*m);
    return;
  }
  retained_.match(filter, offer);
}

}  // namespace psos::router
