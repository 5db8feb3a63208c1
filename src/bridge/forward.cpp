// The forwarding core (see forward.hpp for the loop-prevention scheme).
#include "bridge/forward.hpp"

#include <algorithm>
#include <functional>
#include <utility>

#include "mqtt/topic.hpp"

namespace psos::bridge {

namespace {

constexpr auto kEchoWindow = std::chrono::seconds(60);
constexpr auto kRefusalReportInterval = std::chrono::seconds(10);

std::size_t content_hash(std::string_view topic, std::string_view payload) {
  const std::size_t h = std::hash<std::string_view>{}(topic);
  return h ^ (std::hash<std::string_view>{}(payload) + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2));
}

// The part of a filter that topics are matched against (a shared subscription's filter).
std::string_view match_filter(std::string_view filter) {
  const mqtt::SharedFilter shared = mqtt::split_shared(filter);
  return shared.group.empty() ? filter : shared.filter;
}

}  // namespace

Forwarder::Forwarder(std::string id, std::string prefix, bool v5)
    : id_(std::move(id)), prefix_(std::move(prefix)), v5_(v5) {}

std::string Forwarder::remote_filter(std::string_view filter) const {
  const mqtt::SharedFilter shared = mqtt::split_shared(filter);
  if (shared.group.empty()) return prefix_ + std::string(filter);
  return "$share/" + std::string(shared.group) + "/" + prefix_ + std::string(shared.filter);
}

std::uint32_t Forwarder::add(const std::string& remote) {
  if (counts_[remote]++ == 0 && v5_) identifiers_[remote] = next_identifier_++;
  const auto it = identifiers_.find(remote);
  return it == identifiers_.end() ? 0 : it->second;
}

bool Forwarder::remove(const std::string& remote) {
  const auto it = counts_.find(remote);
  if (it == counts_.end() || --it->second > 0) return false;
  counts_.erase(it);
  identifiers_.erase(remote);
  return true;
}

bool Forwarder::carries_via(const Message& m) const {
  return std::any_of(m.user_properties.begin(), m.user_properties.end(),
                     [&](const auto& p) { return p.first == kVia && p.second == id_; });
}

std::uint32_t Forwarder::lowest_match(std::string_view topic) const {
  std::uint32_t lowest = 0;
  for (const auto& [filter, identifier] : identifiers_)
    if (mqtt::topic_matches(match_filter(filter), topic) && (lowest == 0 || identifier < lowest))
      lowest = identifier;
  return lowest;
}

std::optional<Message> Forwarder::outgoing(const Message& m, std::optional<mqtt::QoS> qos,
                                           Clock::time_point now) {
  if (m.local) return std::nullopt;
  if (carries_via(m)) {
    ++stats_.loops;
    return std::nullopt;
  }
  Message out = m;
  out.topic.insert(0, prefix_);
  if (qos) out.qos = *qos;
  // Sent with what is left of its expiry interval (spec 3.3.2.3.3).
  out.message_expiry_interval = m.remaining_expiry(now);
  out.subscription_identifiers.clear();
  if (v5_) {
    out.user_properties.emplace_back(kVia, id_);
  } else {
    // Only what one of our remote subscriptions will bring back can come back.
    const bool returns = std::any_of(counts_.begin(), counts_.end(), [&](const auto& f) {
      return mqtt::topic_matches(match_filter(f.first), out.topic);
    });
    if (returns) sent_.push_back({content_hash(out.topic, out.payload), now});
  }
  ++stats_.sent;
  return out;
}

bool Forwarder::is_echo(const Message& m, Clock::time_point now) {
  while (!sent_.empty() && now - sent_.front().at > kEchoWindow)
    sent_.pop_front();
  const std::size_t h = content_hash(m.topic, m.payload);
  const auto it =
      std::find_if(sent_.begin(), sent_.end(), [h](const Sent& s) { return s.hash == h; });
  if (it == sent_.end()) return false;
  sent_.erase(it);
  return true;
}

std::optional<Message> Forwarder::incoming(const Message& m, Clock::time_point now) {
  if (!m.topic.starts_with(prefix_) || m.topic.size() == prefix_.size()) return std::nullopt;
  if (!v5_) {
    if (is_echo(m, now)) {
      ++stats_.echoes;
      return std::nullopt;
    }
  } else {
    if (carries_via(m)) {
      ++stats_.loops;
      return std::nullopt;
    }
    // The copy of the lowest matching identifier; none matching: a subscription left in the
    // broker's session by an earlier configuration, or undone while the message travelled.
    const std::uint32_t lowest = lowest_match(m.topic);
    const auto& ids = m.subscription_identifiers;
    if (lowest == 0 || (!ids.empty() && std::find(ids.begin(), ids.end(), lowest) == ids.end())) {
      ++stats_.duplicates;
      return std::nullopt;
    }
  }
  Message in = m;
  in.topic.erase(0, prefix_.size());
  in.subscription_identifiers.clear();
  if (v5_) in.user_properties.emplace_back(kVia, id_);
  ++stats_.received;
  return in;
}

bool Forwarder::refused(Clock::time_point now) {
  ++stats_.refused;
  if (last_refusal_report_ && now - *last_refusal_report_ < kRefusalReportInterval) return false;
  last_refusal_report_ = now;
  return true;
}

}  // namespace psos::bridge
