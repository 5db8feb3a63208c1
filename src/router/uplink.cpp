// The uplink (see uplink.hpp): a LocalClient session on the router subscribed to everything
// (No Local, so what the uplink itself publishes into the router does not come back to it), and
// a client::Client to the other broker.
#include "router/uplink.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <functional>

#include "mqtt/topic.hpp"

namespace psos::router {

namespace {

constexpr auto kEchoWindow = std::chrono::seconds(60);

std::size_t content_hash(std::string_view topic, std::string_view payload) {
  const std::size_t h = std::hash<std::string_view>{}(topic);
  return h ^ (std::hash<std::string_view>{}(payload) + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2));
}

std::string_view match_filter(const std::string& filter) {
  const mqtt::SharedFilter shared = mqtt::split_shared(filter);
  return shared.group.empty() ? std::string_view(filter) : shared.filter;
}

}  // namespace

Uplink::Uplink(Router& router, boost::asio::any_io_executor executor, client::ClientOptions options)
    : router_(router), executor_(executor), v5_(options.session.version == mqtt::Version::v5) {
  client_ = std::make_unique<client::Client>(executor, std::move(options));
  client_->on_message([this](const client::MessagePtr& m) { on_upstream_message(m); });
  local_ = std::make_unique<LocalClient>(
      router_, executor_, "$uplink",
      [this](const MessagePtr& m, const Delivery&) { on_local_message(m); });
  local_->subscribe("#", /*no_local=*/true);
  router_.observe_subscriptions([this](SessionId session, const std::string& filter, bool added) {
    on_subscription(session, filter, added);
  });
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

std::map<std::string, std::size_t> Uplink::upstream_filters() const {
  std::map<std::string, std::size_t> out;
  for (const auto& [filter, u] : filters_)
    out.emplace(filter, u.local_subscribers);
  return out;
}

bool Uplink::mirrored(const std::string& filter) const {
  const std::string& local = router_.options().local_prefix;
  if (!local.empty() && filter.starts_with(local)) return false;
  return !filter.starts_with("$") || filter.starts_with("$share/");
}

void Uplink::on_subscription(SessionId session, const std::string& filter, bool added) {
  if (session == local_->session() || !mirrored(filter)) return;
  auto alive = alive_;
  if (added) {
    Upstream& u = filters_[filter];
    if (u.local_subscribers++ > 0) return;
    client::SubscribeOptions o;
    o.qos = mqtt::QoS::ExactlyOnce;  // the broker sends each message at its published QoS
    o.no_local = true;
    o.retain_as_published = true;  // live retained messages update the local retained store
    if (v5_) o.subscription_identifier = u.identifier = next_identifier_++;
    client_->subscribe(filter, o, [filter](client::error_code ec, client::Subscription s) {
      // Messages arrive through on_message(); the per-call stream is not needed.
      s.close();
      if (ec && ec != client::make_error_code(client::Errc::Stopped))
        spdlog::warn("uplink: subscribing to {} upstream failed: {}", filter, ec.message());
    });
    return;
  }
  const auto it = filters_.find(filter);
  if (it == filters_.end() || --it->second.local_subscribers > 0) return;
  filters_.erase(it);
  client_->unsubscribe(filter, [filter](client::error_code ec) {
    if (ec && ec != client::make_error_code(client::Errc::Stopped))
      spdlog::debug("uplink: unsubscribing from {} upstream failed: {}", filter, ec.message());
  });
}

void Uplink::on_local_message(const MessagePtr& message) {
  if (message->local || message->origin == local_->session()) return;
  // Sent with what is left of its expiry interval (spec 3.3.2.3.3).
  client::Message up = *message;
  up.message_expiry_interval = message->remaining_expiry(Clock::now());
  if (!v5_) {
    // Only what one of our upstream subscriptions will bring back can come back.
    const bool returns = std::any_of(filters_.begin(), filters_.end(), [&](const auto& f) {
      return mqtt::topic_matches(match_filter(f.first), up.topic);
    });
    if (returns)
      sent_.push_back({content_hash(up.topic, up.payload), std::chrono::steady_clock::now()});
  }
  ++stats_.sent_up;
  client_->publish(std::move(up), [this, alive = alive_](client::error_code ec) {
    if (!ec || !*alive || ec == client::make_error_code(client::Errc::Stopped)) return;
    ++stats_.refused;
    // At most one line per interval: a log that goes upstream itself ($log) must not feed on
    // its own refusals.
    const auto now = std::chrono::steady_clock::now();
    if (now - last_refusal_report_ < kRefusalReportInterval) return;
    spdlog::warn("uplink: {} message(s) could not be sent upstream so far: {}", stats_.refused,
                 ec.message());
    last_refusal_report_ = now;
  });
}

bool Uplink::is_echo(const client::Message& message) {
  const auto now = std::chrono::steady_clock::now();
  while (!sent_.empty() && now - sent_.front().at > kEchoWindow)
    sent_.pop_front();
  const std::size_t h = content_hash(message.topic, message.payload);
  const auto it =
      std::find_if(sent_.begin(), sent_.end(), [h](const Sent& s) { return s.hash == h; });
  if (it == sent_.end()) return false;
  sent_.erase(it);
  return true;
}

void Uplink::on_upstream_message(const client::MessagePtr& message) {
  if (!v5_ && is_echo(*message)) {
    ++stats_.echoes;
    return;
  }
  if (v5_ && !message->subscription_identifiers.empty()) {
    // A broker may send one copy per matching subscription (Mosquitto does) or one copy with
    // every identifier: deliver the copy that carries the lowest identifier that matches.
    std::uint32_t lowest = 0;
    for (const auto& [filter, u] : filters_) {
      if (u.identifier != 0 && mqtt::topic_matches(match_filter(filter), message->topic) &&
          (lowest == 0 || u.identifier < lowest))
        lowest = u.identifier;
    }
    const auto& ids = message->subscription_identifiers;
    if (lowest != 0 && std::find(ids.begin(), ids.end(), lowest) == ids.end()) {
      ++stats_.duplicates;
      return;
    }
  }
  ++stats_.received;
  local_->publish(*message);
}

}  // namespace psos::router
