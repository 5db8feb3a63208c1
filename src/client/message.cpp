// Converting between the client's owned messages and PUBLISH packets.
#include "client/message.hpp"

namespace psos::client {

std::size_t Message::footprint() const noexcept {
  std::size_t n = sizeof(Message) + topic.size() + payload.size();
  for (const auto* s : {&content_type, &response_topic, &correlation_data})
    if (*s) n += (*s)->size();
  for (const auto& [name, value] : user_properties)
    n += name.size() + value.size() + sizeof(std::pair<std::string, std::string>);
  return n;
}

void fill_publish(const Message& message, mqtt::Publish& out) {
  out.topic = message.topic;
  out.payload = message.payload;
  out.qos = message.qos;
  out.retain = message.retain;
  mqtt::Properties& p = out.properties;
  p = {};
  p.payload_format_indicator = message.payload_format_indicator;
  p.message_expiry_interval = message.message_expiry_interval;
  if (message.content_type) p.content_type = *message.content_type;
  if (message.response_topic) p.response_topic = *message.response_topic;
  if (message.correlation_data) p.correlation_data = *message.correlation_data;
  for (const auto& [name, value] : message.user_properties)
    p.user_properties.push_back({name, value});
}

Message to_message(const mqtt::Publish& publish) {
  Message m;
  m.topic = publish.topic;
  m.payload = publish.payload;
  m.qos = publish.qos;
  m.retain = publish.retain;
  m.dup = publish.dup;
  const mqtt::Properties& p = publish.properties;
  m.payload_format_indicator = p.payload_format_indicator;
  m.message_expiry_interval = p.message_expiry_interval;
  if (p.content_type) m.content_type.emplace(*p.content_type);
  if (p.response_topic) m.response_topic.emplace(*p.response_topic);
  if (p.correlation_data) m.correlation_data.emplace(*p.correlation_data);
  m.user_properties.reserve(p.user_properties.size());
  for (const mqtt::UserProperty& up : p.user_properties)
    m.user_properties.emplace_back(std::string(up.name), std::string(up.value));
  m.subscription_identifiers = p.subscription_identifiers;
  return m;
}

}  // namespace psos::client
