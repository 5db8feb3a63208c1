// The v5 property table (spec 2.2.2.2) and the reading and writing of property blocks.
#include <array>
#include <type_traits>

#include "mqtt/codec.hpp"
#include "mqtt/properties_codec.hpp"

namespace psos::mqtt {
namespace {

constexpr std::uint16_t bit(PropertyContext c) {
  return std::uint16_t(1u << unsigned(c));
}

using C = PropertyContext;
using T = PropertyType;
using I = PropertyId;

constexpr std::uint16_t kMessage = bit(C::Publish) | bit(C::Will);
constexpr std::uint16_t kAcks = bit(C::Puback) | bit(C::Pubrec) | bit(C::Pubrel) | bit(C::Pubcomp);
constexpr std::uint16_t kAll = 0x3FFF;

constexpr std::array<PropertyInfo, 27> kProperties{{
    {I::PayloadFormatIndicator, T::Byte, "Payload Format Indicator", kMessage, false},
    {I::MessageExpiryInterval, T::FourByte, "Message Expiry Interval", kMessage, false},
    {I::ContentType, T::Utf8, "Content Type", kMessage, false},
    {I::ResponseTopic, T::Utf8, "Response Topic", kMessage, false},
    {I::CorrelationData, T::Binary, "Correlation Data", kMessage, false},
    {I::SubscriptionIdentifier, T::VarInt, "Subscription Identifier",
     bit(C::Publish) | bit(C::Subscribe), true},
    {I::SessionExpiryInterval, T::FourByte, "Session Expiry Interval",
     bit(C::Connect) | bit(C::Connack) | bit(C::Disconnect), false},
    {I::AssignedClientIdentifier, T::Utf8, "Assigned Client Identifier", bit(C::Connack), false},
    {I::ServerKeepAlive, T::TwoByte, "Server Keep Alive", bit(C::Connack), false},
    {I::AuthenticationMethod, T::Utf8, "Authentication Method",
     bit(C::Connect) | bit(C::Connack) | bit(C::Auth), false},
    {I::AuthenticationData, T::Binary, "Authentication Data",
     bit(C::Connect) | bit(C::Connack) | bit(C::Auth), false},
    {I::RequestProblemInformation, T::Byte, "Request Problem Information", bit(C::Connect), false},
    {I::WillDelayInterval, T::FourByte, "Will Delay Interval", bit(C::Will), false},
    {I::RequestResponseInformation, T::Byte, "Request Response Information", bit(C::Connect),
     false},
    {I::ResponseInformation, T::Utf8, "Response Information", bit(C::Connack), false},
    {I::ServerReference, T::Utf8, "Server Reference", bit(C::Connack) | bit(C::Disconnect), false},
    {I::ReasonString, T::Utf8, "Reason String",
     bit(C::Connack) | kAcks | bit(C::Suback) | bit(C::Unsuback) | bit(C::Disconnect) |
         bit(C::Auth),
     false},
    {I::ReceiveMaximum, T::TwoByte, "Receive Maximum", bit(C::Connect) | bit(C::Connack), false},
    {I::TopicAliasMaximum, T::TwoByte, "Topic Alias Maximum", bit(C::Connect) | bit(C::Connack),
     false},
    {I::TopicAlias, T::TwoByte, "Topic Alias", bit(C::Publish), false},
    {I::MaximumQos, T::Byte, "Maximum QoS", bit(C::Connack), false},
    {I::RetainAvailable, T::Byte, "Retain Available", bit(C::Connack), false},
    {I::UserProperty, T::Utf8Pair, "User Property", kAll, true},
    {I::MaximumPacketSize, T::FourByte, "Maximum Packet Size", bit(C::Connect) | bit(C::Connack),
     false},
    {I::WildcardSubscriptionAvailable, T::Byte, "Wildcard Subscription Available", bit(C::Connack),
     false},
    {I::SubscriptionIdentifierAvailable, T::Byte, "Subscription Identifier Available",
     bit(C::Connack), false},
    {I::SharedSubscriptionAvailable, T::Byte, "Shared Subscription Available", bit(C::Connack),
     false},
}};

// Identifier -> index into kProperties, -1 when undefined.
constexpr std::array<std::int8_t, 0x2B> make_index() {
  std::array<std::int8_t, 0x2B> index{};
  for (auto& i : index)
    i = -1;
  for (std::size_t i = 0; i < kProperties.size(); ++i)
    index[static_cast<std::size_t>(kProperties[i].id)] = static_cast<std::int8_t>(i);
  return index;
}
constexpr auto kIndex = make_index();

}  // namespace

const PropertyInfo* property_info(std::uint8_t id) noexcept {
  if (id >= kIndex.size() || kIndex[id] < 0) return nullptr;
  return &kProperties[static_cast<std::size_t>(kIndex[id])];
}

bool property_allowed(PropertyId id, PropertyContext context) noexcept {
  const PropertyInfo* info = property_info(static_cast<std::uint8_t>(id));
  return info != nullptr && (info->allowed & bit(context)) != 0;
}

bool Properties::empty() const noexcept {
  return *this == Properties{};
}

namespace wire {
namespace {

bool read_bool_byte(Reader& r, std::optional<std::uint8_t>& field, std::uint8_t id,
                    const char* name) {
  std::uint8_t v = 0;
  if (!r.u8(v, name)) return false;
  if (v > 1)
    return r.fail_at(r.offset() - 1, ReasonCode::ProtocolError, "property value must be 0 or 1",
                     id);
  field = v;
  return true;
}

template <class V>
bool set_once(Reader& r, std::optional<V>& field, V value, std::uint32_t at, std::uint8_t id) {
  if (field) return r.fail_at(at, ReasonCode::ProtocolError, "property appears more than once", id);
  field = value;
  return true;
}

}  // namespace

bool read_properties(Reader& r, PropertyContext context, Properties& out) {
  std::uint32_t length = 0;
  if (!r.varint(length, "property length")) return false;
  if (length > r.remaining())
    return r.fail(ReasonCode::MalformedPacket, "property length runs past the end of the packet");
  const char* const block_end = r.position() + length;
  while (r.position() < block_end) {
    const std::uint32_t at = r.offset();
    std::uint32_t raw_id = 0;
    if (!r.varint(raw_id, "property identifier")) return false;
    const PropertyInfo* info =
        raw_id < 0x80 ? property_info(static_cast<std::uint8_t>(raw_id)) : nullptr;
    const auto id = static_cast<std::uint8_t>(raw_id);
    if (info == nullptr)
      return r.fail_at(at, ReasonCode::MalformedPacket, "unknown property identifier", id);
    if ((info->allowed & bit(context)) == 0)
      return r.fail_at(at, ReasonCode::MalformedPacket, "property not allowed in this packet", id);
    bool ok = true;
    switch (info->id) {
      case I::PayloadFormatIndicator:
        if (out.payload_format_indicator)
          return r.fail_at(at, ReasonCode::ProtocolError, "property appears more than once", id);
        ok = read_bool_byte(r, out.payload_format_indicator, id, info->name);
        break;
      case I::RequestProblemInformation:
        if (out.request_problem_information)
          return r.fail_at(at, ReasonCode::ProtocolError, "property appears more than once", id);
        ok = read_bool_byte(r, out.request_problem_information, id, info->name);
        break;
      case I::RequestResponseInformation:
        if (out.request_response_information)
          return r.fail_at(at, ReasonCode::ProtocolError, "property appears more than once", id);
        ok = read_bool_byte(r, out.request_response_information, id, info->name);
        break;
      case I::MaximumQos:
        if (out.maximum_qos)
          return r.fail_at(at, ReasonCode::ProtocolError, "property appears more than once", id);
        ok = read_bool_byte(r, out.maximum_qos, id, info->name);
        break;
      case I::RetainAvailable:
        if (out.retain_available)
          return r.fail_at(at, ReasonCode::ProtocolError, "property appears more than once", id);
        ok = read_bool_byte(r, out.retain_available, id, info->name);
        break;
      case I::WildcardSubscriptionAvailable:
        if (out.wildcard_subscription_available)
          return r.fail_at(at, ReasonCode::ProtocolError, "property appears more than once", id);
        ok = read_bool_byte(r, out.wildcard_subscription_available, id, info->name);
        break;
      case I::SubscriptionIdentifierAvailable:
        if (out.subscription_identifier_available)
          return r.fail_at(at, ReasonCode::ProtocolError, "property appears more than once", id);
        ok = read_bool_byte(r, out.subscription_identifier_available, id, info->name);
        break;
      case I::SharedSubscriptionAvailable:
        if (out.shared_subscription_available)
          return r.fail_at(at, ReasonCode::ProtocolError, "property appears more than once", id);
        ok = read_bool_byte(r, out.shared_subscription_available, id, info->name);
        break;
      case I::MessageExpiryInterval:
      case I::SessionExpiryInterval:
      case I::WillDelayInterval:
      case I::MaximumPacketSize: {
        std::uint32_t v = 0;
        ok = r.u32(v, info->name);
        if (!ok) break;
        if (info->id == I::MaximumPacketSize && v == 0)
          return r.fail_at(at, ReasonCode::ProtocolError, "Maximum Packet Size must not be 0", id);
        auto& field = info->id == I::MessageExpiryInterval   ? out.message_expiry_interval
                      : info->id == I::SessionExpiryInterval ? out.session_expiry_interval
                      : info->id == I::WillDelayInterval     ? out.will_delay_interval
                                                             : out.maximum_packet_size;
        ok = set_once(r, field, v, at, id);
        break;
      }
      case I::ServerKeepAlive:
      case I::ReceiveMaximum:
      case I::TopicAliasMaximum:
      case I::TopicAlias: {
        std::uint16_t v = 0;
        ok = r.u16(v, info->name);
        if (!ok) break;
        if (v == 0 && info->id == I::ReceiveMaximum)
          return r.fail_at(at, ReasonCode::ProtocolError, "Receive Maximum must not be 0", id);
        if (v == 0 && info->id == I::TopicAlias)
          return r.fail_at(at, ReasonCode::TopicAliasInvalid, "Topic Alias must not be 0", id);
        auto& field = info->id == I::ServerKeepAlive     ? out.server_keep_alive
                      : info->id == I::ReceiveMaximum    ? out.receive_maximum
                      : info->id == I::TopicAliasMaximum ? out.topic_alias_maximum
                                                         : out.topic_alias;
        ok = set_once(r, field, v, at, id);
        break;
      }
      case I::ContentType:
      case I::ResponseTopic:
      case I::AssignedClientIdentifier:
      case I::AuthenticationMethod:
      case I::ResponseInformation:
      case I::ServerReference:
      case I::ReasonString: {
        std::string_view v;
        ok = r.utf8(v, info->name);
        if (!ok) break;
        if (info->id == I::ResponseTopic) {
          const Error e = validate_topic_name(v);
          if (e)
            return r.fail_at(at, ReasonCode::ProtocolError,
                             "Response Topic is not a valid topic name", id);
        }
        auto& field = info->id == I::ContentType                ? out.content_type
                      : info->id == I::ResponseTopic            ? out.response_topic
                      : info->id == I::AssignedClientIdentifier ? out.assigned_client_identifier
                      : info->id == I::AuthenticationMethod     ? out.authentication_method
                      : info->id == I::ResponseInformation      ? out.response_information
                      : info->id == I::ServerReference          ? out.server_reference
                                                                : out.reason_string;
        ok = set_once(r, field, v, at, id);
        break;
      }
      case I::CorrelationData:
      case I::AuthenticationData: {
        std::string_view v;
        ok = r.binary(v, info->name);
        if (!ok) break;
        auto& field =
            info->id == I::CorrelationData ? out.correlation_data : out.authentication_data;
        ok = set_once(r, field, v, at, id);
        break;
      }
      case I::SubscriptionIdentifier: {
        std::uint32_t v = 0;
        ok = r.varint(v, info->name);
        if (!ok) break;
        if (v == 0)
          return r.fail_at(at, ReasonCode::ProtocolError, "Subscription Identifier must not be 0",
                           id);
        if (context == PropertyContext::Subscribe && !out.subscription_identifiers.empty())
          return r.fail_at(at, ReasonCode::ProtocolError,
                           "SUBSCRIBE carries more than one Subscription Identifier", id);
        out.subscription_identifiers.push_back(v);
        break;
      }
      case I::UserProperty: {
        UserProperty up;
        ok = r.utf8(up.name, "User Property name") && r.utf8(up.value, "User Property value");
        if (ok) out.user_properties.push_back(up);
        break;
      }
    }
    if (!ok) return false;
    // A property's value must end inside the block, not just inside the packet.
    if (r.position() > block_end)
      return r.fail_at(at, ReasonCode::MalformedPacket,
                       "property value runs past the end of the property block", id);
  }
  return true;
}

namespace {

// Calls f(id, kind-specific value) for every property that is set, in identifier order.
template <class F>
void for_each_set(const Properties& p, F&& f) {
  if (p.payload_format_indicator) f(I::PayloadFormatIndicator, *p.payload_format_indicator);
  if (p.message_expiry_interval) f(I::MessageExpiryInterval, *p.message_expiry_interval);
  if (p.content_type) f(I::ContentType, *p.content_type);
  if (p.response_topic) f(I::ResponseTopic, *p.response_topic);
  if (p.correlation_data) f(I::CorrelationData, *p.correlation_data);
  for (std::uint32_t id : p.subscription_identifiers)
    f(I::SubscriptionIdentifier, id);
  if (p.session_expiry_interval) f(I::SessionExpiryInterval, *p.session_expiry_interval);
  if (p.assigned_client_identifier) f(I::AssignedClientIdentifier, *p.assigned_client_identifier);
  if (p.server_keep_alive) f(I::ServerKeepAlive, *p.server_keep_alive);
  if (p.authentication_method) f(I::AuthenticationMethod, *p.authentication_method);
  if (p.authentication_data) f(I::AuthenticationData, *p.authentication_data);
  if (p.request_problem_information)
    f(I::RequestProblemInformation, *p.request_problem_information);
  if (p.will_delay_interval) f(I::WillDelayInterval, *p.will_delay_interval);
  if (p.request_response_information)
    f(I::RequestResponseInformation, *p.request_response_information);
  if (p.response_information) f(I::ResponseInformation, *p.response_information);
  if (p.server_reference) f(I::ServerReference, *p.server_reference);
  if (p.reason_string) f(I::ReasonString, *p.reason_string);
  if (p.receive_maximum) f(I::ReceiveMaximum, *p.receive_maximum);
  if (p.topic_alias_maximum) f(I::TopicAliasMaximum, *p.topic_alias_maximum);
  if (p.topic_alias) f(I::TopicAlias, *p.topic_alias);
  if (p.maximum_qos) f(I::MaximumQos, *p.maximum_qos);
  if (p.retain_available) f(I::RetainAvailable, *p.retain_available);
  for (const UserProperty& up : p.user_properties)
    f(I::UserProperty, up);
  if (p.maximum_packet_size) f(I::MaximumPacketSize, *p.maximum_packet_size);
  if (p.wildcard_subscription_available)
    f(I::WildcardSubscriptionAvailable, *p.wildcard_subscription_available);
  if (p.subscription_identifier_available)
    f(I::SubscriptionIdentifierAvailable, *p.subscription_identifier_available);
  if (p.shared_subscription_available)
    f(I::SharedSubscriptionAvailable, *p.shared_subscription_available);
}

struct ValueSize {
  bool& ok;
  std::size_t operator()(std::uint8_t) const { return 1; }
  std::size_t operator()(std::uint16_t) const { return 2; }
  std::size_t operator()(std::string_view v) const { return wire::string_size(v, ok); }
  std::size_t operator()(const UserProperty& up) const {
    return wire::string_size(up.name, ok) + wire::string_size(up.value, ok);
  }
  std::size_t operator()(I id, std::uint32_t v) const {
    if (id == I::SubscriptionIdentifier) {
      if (v == 0 || v > kMaxVarInt) ok = false;
      return varint_size(v);
    }
    return 4;
  }
};

// Bytes of the properties themselves, without the length prefix.
std::size_t content_size(const Properties& properties, PropertyContext context, bool& ok,
                         Error& error) noexcept {
  std::size_t size = 0;
  ValueSize value_size{ok};
  for_each_set(properties, [&](I id, const auto& value) {
    if (!property_allowed(id, context) && !error) {
      error = Error{ReasonCode::ProtocolError, "property not allowed in this packet", 0, 0,
                    static_cast<std::uint8_t>(id)};
    }
    size += 1;
    if constexpr (std::is_same_v<std::decay_t<decltype(value)>, std::uint32_t>)
      size += value_size(id, value);
    else
      size += value_size(value);
  });
  return size;
}

}  // namespace

std::size_t properties_block_size(const Properties& properties, PropertyContext context, bool& ok,
                                  Error& error) noexcept {
  const std::size_t size = content_size(properties, context, ok, error);
  if (size > kMaxVarInt) ok = false;
  return varint_size(static_cast<std::uint32_t>(size)) + size;
}

void write_properties(Writer& w, const Properties& properties) {
  bool ok = true;
  Error ignored;
  // The context only matters for the error, which the sizing pass already reported.
  w.varint(
      static_cast<std::uint32_t>(content_size(properties, PropertyContext::Connect, ok, ignored)));
  for_each_set(properties, [&](I id, const auto& value) {
    w.u8(static_cast<std::uint8_t>(id));
    using V = std::decay_t<decltype(value)>;
    if constexpr (std::is_same_v<V, std::uint8_t>) {
      w.u8(value);
    } else if constexpr (std::is_same_v<V, std::uint16_t>) {
      w.u16(value);
    } else if constexpr (std::is_same_v<V, std::uint32_t>) {
      if (id == I::SubscriptionIdentifier)
        w.varint(value);
      else
        w.u32(value);
    } else if constexpr (std::is_same_v<V, std::string_view>) {
      w.binary(value);
    } else {
      w.binary(value.name);
      w.binary(value.value);
    }
  });
}

}  // namespace wire
}  // namespace psos::mqtt
