// Owned messages from decoded PUBLISH packets and PUBLISH packets from owned messages.
#include "mqtt/message.hpp"

namespace psos::mqtt {

std::size_t Message::footprint() const noexcept {
  std::size_t n = sizeof(Message) + topic.size() + payload.size();
  for (const auto* s : {&content_type, &response_topic, &correlation_data})
    if (*s) n += (*s)->size();
  for (const auto& [name, value] : user_properties)
    n += sizeof(std::pair<std::string, std::string>) + name.size() + value.size();
  n += subscription_identifiers.size() * sizeof(std::uint32_t);
  return n;
}

std::optional<std::uint32_t> Message::remaining_expiry(
    std::chrono::steady_clock::time_point now) const noexcept {
  if (!message_expiry_interval) return std::nullopt;
  const auto age = std::chrono::duration_cast<std::chrono::seconds>(now - received).count();
  if (age >= static_cast<std::int64_t>(*message_expiry_interval)) return 0;
  return static_cast<std::uint32_t>(*message_expiry_interval - static_cast<std::uint32_t>(age));
}

namespace {
std::optional<std::string> own(const std::optional<std::string_view>& v) {
  if (!v) return std::nullopt;
  return std::string(*v);
}
std::optional<std::string_view> view(const std::optional<std::string>& v) {
  if (!v) return std::nullopt;
  return std::string_view(*v);
}
}  // namespace

void fill_message(const Publish& publish, std::string_view topic, Message& out) {
  out.topic = topic;
  out.payload = publish.payload;
  out.qos = publish.qos;
  out.retain = publish.retain;
  out.dup = publish.dup;
  const Properties& p = publish.properties;
  out.payload_format_indicator = p.payload_format_indicator;
  out.message_expiry_interval = p.message_expiry_interval;
  out.content_type = own(p.content_type);
  out.response_topic = own(p.response_topic);
  out.correlation_data = own(p.correlation_data);
  out.user_properties.clear();
  out.user_properties.reserve(p.user_properties.size());
  for (const UserProperty& up : p.user_properties)
    out.user_properties.emplace_back(std::string(up.name), std::string(up.value));
  out.subscription_identifiers = p.subscription_identifiers;
}

void fill_publish(const Message& message, Publish& out) {
  out.topic = message.topic;
  out.payload = message.payload;
  out.qos = message.qos;
  out.retain = message.retain;
  Properties& p = out.properties;
  p.payload_format_indicator = message.payload_format_indicator;
  p.message_expiry_interval = message.message_expiry_interval;
  p.content_type = view(message.content_type);
  p.response_topic = view(message.response_topic);
  p.correlation_data = view(message.correlation_data);
  p.topic_alias.reset();
  p.subscription_identifiers.clear();
  p.user_properties.clear();
  for (const auto& [name, value] : message.user_properties)
    p.user_properties.push_back({name, value});
}

}  // namespace psos::mqtt
