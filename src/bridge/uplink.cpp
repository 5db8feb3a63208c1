// The uplink (see uplink.hpp): a LocalClient session on the router subscribed to everything
// (No Local, so what the uplink itself publishes into the router does not come back to it), and
// a client::Client to the other broker; the Forwarder decides what crosses.
#include "bridge/uplink.hpp"

#include <spdlog/spdlog.h>

namespace psos::bridge {

Uplink::Uplink(router::Router& router, boost::asio::any_io_executor executor,
               client::ClientOptions options)
    : router_(router),
      executor_(executor),
      forwarder_(options.session.client_id, "", options.session.version == mqtt::Version::v5) {
  client_ = std::make_unique<client::Client>(executor, std::move(options));
  client_->on_message([this](const client::MessagePtr& m) { on_upstream_message(m); });
  local_ = std::make_unique<router::LocalClient>(
      router_, executor_, "$uplink",
      [this](const router::MessagePtr& m, const router::Delivery&) { on_local_message(m); });
  local_->subscribe("#", /*no_local=*/true);
  router_.observe_subscriptions([this](router::SessionId session, const std::string& filter,
                                       bool added) { on_subscription(session, filter, added); });
}

Uplink::~Uplink() {
  *alive_ = false;
  router_.observe_subscriptions(nullptr);
}

void Uplink::start() {
  client_->start();
}

boost::asio::awaitable<void> Uplink::stop() {
  co_await client_->stop();
}

bool Uplink::mirrored(const std::string& filter) const {
  const std::string& local = router_.options().local_prefix;
  if (!local.empty() && filter.starts_with(local)) return false;
  return !filter.starts_with("$") || filter.starts_with("$share/");
}

void Uplink::on_subscription(router::SessionId session, const std::string& filter, bool added) {
  if (session == local_->session() || !mirrored(filter)) return;
  if (!added) {
    if (!forwarder_.remove(filter)) return;
    client_->unsubscribe(filter, [filter](client::error_code ec) {
      if (ec && ec != client::make_error_code(client::Errc::Stopped))
        spdlog::debug("uplink: unsubscribing from {} upstream failed: {}", filter, ec.message());
    });
    return;
  }
  const bool first = forwarder_.counts().count(filter) == 0;
  const std::uint32_t identifier = forwarder_.add(filter);
  if (!first) return;
  client::SubscribeOptions o;
  o.qos = mqtt::QoS::ExactlyOnce;  // the broker sends each message at its published QoS
  o.no_local = true;
  o.retain_as_published = true;  // live retained messages update the local retained store
  if (identifier != 0) o.subscription_identifier = identifier;
  client_->subscribe(filter, o, [filter](client::error_code ec, client::Subscription s) {
    // Messages arrive through on_message(); the per-call stream is not needed.
    s.close();
    if (ec && ec != client::make_error_code(client::Errc::Stopped))
      spdlog::warn("uplink: subscribing to {} upstream failed: {}", filter, ec.message());
  });
}

void Uplink::on_local_message(const router::MessagePtr& message) {
  if (message->origin == local_->session()) return;
  std::optional<Message> up = forwarder_.outgoing(*message, std::nullopt, router::Clock::now());
  if (!up) return;
  client_->publish(std::move(*up), [this, alive = alive_](client::error_code ec) {
    if (!ec || !*alive || ec == client::make_error_code(client::Errc::Stopped)) return;
    if (forwarder_.refused(Clock::now()))
      spdlog::warn("uplink: {} message(s) could not be sent upstream so far: {}",
                   forwarder_.stats().refused, ec.message());
  });
}

void Uplink::on_upstream_message(const client::MessagePtr& message) {
  if (std::optional<Message> in = forwarder_.incoming(*message, router::Clock::now()))
    local_->publish(std::move(*in));
}

}  // namespace psos::bridge
