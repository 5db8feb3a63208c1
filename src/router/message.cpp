// Making owned messages from decoded PUBLISH packets and PUBLISH packets from messages.
#include "router/message.hpp"

namespace psos::router {

std::size_t Message::footprint() const noexcept {
  std::size_t n = sizeof(Message) + topic.size() + payload.size();
  if (content_type) n += content_type->size();
  if (response_topic) n += response_topic->size();
  if (correlation_data) n += correlation_data->size();
  for (const auto& [name, value] : user_properties)
    n += name.size() + value.size() + 64;
  return n;
}

std::optional<std::uint32_t> Message::remaining_expiry(Clock::time_point now) const noexcept {
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

MessagePtr make_message(const mqtt::Publish& publish, std::string_view topic, SessionId origin,
                        Clock::time_point now) {
  auto m = std::make_shared<Message>();
  m->topic = topic;
  m->payload = publish.payload;
  m->qos = publish.qos;
  m->retain = publish.retain;
  const mqtt::Properties& p = publish.properties;
  m->payload_format_indicator = p.payload_format_indicator;
  m->message_expiry_interval = p.message_expiry_interval;
  m->content_type = own(p.content_type);
  m->response_topic = own(p.response_topic);
  m->correlation_data = own(p.correlation_data);
  m->user_properties.reserve(p.user_properties.size());
  for (const mqtt::UserProperty& up : p.user_properties)
    m->user_properties.emplace_back(std::string(up.name), std::string(up.value));
  m->received = now;
  m->origin = origin;
  return m;
}

void fill_publish(const Message& message, Clock::time_point now, mqtt::Publish& out) {
  out.topic = message.topic;
  out.payload = message.payload;
  mqtt::Properties& p = out.properties;
  p.payload_format_indicator = message.payload_format_indicator;
  p.message_expiry_interval = message.remaining_expiry(now);
  p.content_type = view(message.content_type);
  p.response_topic = view(message.response_topic);
  p.correlation_data = view(message.correlation_data);
  p.user_properties.clear();
  for (const auto& [name, value] : message.user_properties)
    p.user_properties.push_back({name, value});
}

}  // namespace psos::router
