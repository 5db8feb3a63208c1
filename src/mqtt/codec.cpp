// Packet dispatch: the fixed header (spec 2.1), variable byte integers, and the choice of the
// per-packet reader or writer. Also reason code names and error text.
#include "mqtt/codec.hpp"

#include <array>
#include <cstdio>
#include <utility>

#include "mqtt/packet_codec.hpp"
#include "mqtt/properties_codec.hpp"

namespace psos::mqtt {

std::size_t varint_size(std::uint32_t value) noexcept {
  return value < 128 ? 1 : value < 16384 ? 2 : value < 2097152 ? 3 : 4;
}

std::size_t write_varint(std::uint32_t value, char* out) noexcept {
  std::size_t n = 0;
  do {
    auto byte = static_cast<std::uint8_t>(value & 0x7F);
    value >>= 7;
    if (value != 0) byte |= 0x80;
    out[n++] = static_cast<char>(byte);
  } while (value != 0 && n < 4);
  return n;
}

namespace wire {

bool Reader::varint(std::uint32_t& v, const char* what) noexcept {
  const std::uint32_t at = offset();
  std::uint32_t value = 0;
  for (unsigned i = 0; i < 4; ++i) {
    if (p_ == end_) return truncated(what);
    const auto byte = static_cast<std::uint8_t>(*p_++);
    value |= std::uint32_t{byte & 0x7Fu} << (7 * i);
    if ((byte & 0x80) == 0) {
      if (i > 0 && byte == 0)
        return fail_at(at, ReasonCode::MalformedPacket,
                       "variable byte integer is not in its shortest form");
      v = value;
      return true;
    }
  }
  return fail_at(at, ReasonCode::MalformedPacket, "variable byte integer is longer than 4 bytes");
}

bool Reader::truncated(const char* what) noexcept {
  (void)what;
  return fail(ReasonCode::MalformedPacket, "packet ends in the middle of a field");
}

const char* Reader::what_utf8(const char* what) noexcept {
  (void)what;
  return "string is not well-formed UTF-8 (or contains U+0000)";
}

void Writer::varint(std::uint32_t v) {
  char buf[4];
  out_.append(buf, write_varint(v, buf));
}

bool reason_in(ReasonCode code, std::span<const std::uint8_t> allowed) noexcept {
  for (std::uint8_t a : allowed)
    if (static_cast<std::uint8_t>(code) == a) return true;
  return false;
}

bool read_reason(Reader& reader, ReasonCode& out, std::span<const std::uint8_t> allowed) {
  std::uint8_t code = 0;
  if (!reader.u8(code, "reason code")) return false;
  out = static_cast<ReasonCode>(code);
  if (!reason_in(out, allowed))
    return reader.fail_at(reader.offset() - 1, ReasonCode::ProtocolError,
                          "reason code not allowed in this packet");
  return true;
}

std::size_t properties_size(const Properties& properties, PropertyContext context, Version version,
                            EncodeCheck& check) noexcept {
  if (version != Version::v5) return 0;
  return properties_block_size(properties, context, check.ok, check.error);
}

}  // namespace wire

HeaderStatus parse_fixed_header(std::string_view bytes, FixedHeader& header,
                                Error& error) noexcept {
  if (bytes.empty()) return HeaderStatus::Incomplete;
  header.first_byte = static_cast<std::uint8_t>(bytes[0]);
  if ((header.first_byte >> 4) == 0) {
    error = Error{ReasonCode::MalformedPacket, "packet type 0 is reserved", 0, 0, 0};
    return HeaderStatus::Invalid;
  }
  std::uint32_t value = 0;
  for (std::size_t i = 1; i <= 4; ++i) {
    if (i >= bytes.size()) return HeaderStatus::Incomplete;
    const auto byte = static_cast<std::uint8_t>(bytes[i]);
    value |= std::uint32_t{byte & 0x7Fu} << (7 * (i - 1));
    if ((byte & 0x80) == 0) {
      if (i > 1 && byte == 0) {
        error = Error{ReasonCode::MalformedPacket, "remaining length is not in its shortest form",
                      1, static_cast<std::uint8_t>(header.first_byte >> 4), 0};
        return HeaderStatus::Invalid;
      }
      header.remaining_length = value;
      header.header_size = static_cast<std::uint8_t>(i + 1);
      return HeaderStatus::Complete;
    }
  }
  error = Error{ReasonCode::MalformedPacket, "remaining length uses more than 4 bytes", 1,
                static_cast<std::uint8_t>(header.first_byte >> 4), 0};
  return HeaderStatus::Invalid;
}

namespace {

// The fixed-header flags every packet but PUBLISH must carry (spec 2.1.3).
constexpr std::uint8_t required_flags(PacketType type) noexcept {
  return type == PacketType::Pubrel || type == PacketType::Subscribe ||
                 type == PacketType::Unsubscribe
             ? 0x02
             : 0x00;
}

template <std::size_t I>
bool read_as(wire::Reader& reader, std::uint8_t flags, Version version, Packet& out) {
  auto& packet = out.emplace<I>();
  return wire::read_body(reader, flags, version, packet);
}

using ReadFn = bool (*)(wire::Reader&, std::uint8_t, Version, Packet&);

template <std::size_t... I>
constexpr std::array<ReadFn, sizeof...(I)> make_readers(std::index_sequence<I...>) {
  return {&read_as<I>...};
}
constexpr auto kReaders = make_readers(std::make_index_sequence<std::variant_size_v<Packet>>{});

}  // namespace

Error decode(std::string_view bytes, Version version, Packet& out) {
  FixedHeader header;
  Error error;
  switch (parse_fixed_header(bytes, header, error)) {
    case HeaderStatus::Invalid:
      return error;
    case HeaderStatus::Incomplete:
      return Error{ReasonCode::MalformedPacket, "packet ends inside its fixed header",
                   static_cast<std::uint32_t>(bytes.size()),
                   bytes.empty() ? std::uint8_t{0} : static_cast<std::uint8_t>(bytes[0] >> 4), 0};
    case HeaderStatus::Complete:
      break;
  }
  const auto type_value = static_cast<std::uint8_t>(header.first_byte >> 4);
  const auto flags = static_cast<std::uint8_t>(header.first_byte & 0x0F);
  if (header.total_size() != bytes.size())
    return Error{
        ReasonCode::MalformedPacket,
        header.total_size() > bytes.size() ? "packet is shorter than its remaining length says"
                                           : "packet is longer than its remaining length says",
        static_cast<std::uint32_t>(std::min(header.total_size(), bytes.size())), type_value, 0};
  if (type_value == 0)
    return Error{ReasonCode::MalformedPacket, "packet type 0 is reserved", 0, 0, 0};
  const auto type = static_cast<PacketType>(type_value);
  if (type == PacketType::Auth && version != Version::v5)
    return Error{ReasonCode::MalformedPacket, "AUTH does not exist in MQTT 3.1.1", 0, type_value,
                 0};
  if (type != PacketType::Publish && flags != required_flags(type))
    return Error{ReasonCode::MalformedPacket, "reserved flags in the fixed header are wrong", 0,
                 type_value, 0};
  wire::Reader reader(bytes.data(), bytes.data() + header.header_size, bytes.data() + bytes.size(),
                      type);
  if (!kReaders[type_value - 1](reader, flags, version, out)) return reader.error();
  if (!reader.at_end())
    return Error{ReasonCode::MalformedPacket, "unexpected bytes after the last field",
                 reader.offset(), type_value, 0};
  return {};
}

namespace {

struct Sized {
  std::uint8_t first = 0;
  std::size_t body = 0;
  Error error;
};

template <class P>
Sized size_packet(const P& packet, Version version) {
  Sized s;
  constexpr PacketType type = packet_type_v<P>;
  s.first = static_cast<std::uint8_t>(static_cast<unsigned>(type) << 4);
  if constexpr (std::is_same_v<P, Publish>) {
    s.first |= wire::header_flags(packet);
  } else {
    s.first |= required_flags(type);
  }
  if constexpr (std::is_same_v<P, Pingreq> || std::is_same_v<P, Pingresp>) {
    (void)version;
    return s;
  } else {
    wire::EncodeCheck check;
    s.body = wire::body_size(packet, version, check);
    if (check.error) {
      s.error = check.error;
    } else if (!check.ok) {
      s.error = make_error(ReasonCode::MalformedPacket,
                           "a string, binary field or list is too long to encode");
    } else if (s.body > kMaxRemainingLength) {
      s.error = make_error(ReasonCode::PacketTooLarge,
                           "packet is larger than the maximum remaining length (268435455)");
    }
    s.error.packet_type = static_cast<std::uint8_t>(type);
    return s;
  }
}

}  // namespace

Error encode(const Packet& packet, Version version, std::string& out) {
  return std::visit(
      [&](const auto& p) -> Error {
        using P = std::decay_t<decltype(p)>;
        Sized s = size_packet(p, version);
        if (s.error) return s.error;
        const auto body = static_cast<std::uint32_t>(s.body);
        out.reserve(out.size() + 1 + varint_size(body) + s.body);
        wire::Writer w(out);
        w.u8(s.first);
        w.varint(body);
        if constexpr (!std::is_same_v<P, Pingreq> && !std::is_same_v<P, Pingresp>)
          wire::write_body(w, p, version);
        return {};
      },
      packet);
}

std::size_t encoded_size(const Packet& packet, Version version) {
  return std::visit(
      [&](const auto& p) -> std::size_t {
        Sized s = size_packet(p, version);
        if (s.error) return 0;
        return 1 + varint_size(static_cast<std::uint32_t>(s.body)) + s.body;
      },
      packet);
}

// ---- reason codes and errors ----

std::string_view reason_name(ReasonCode code) noexcept {
  switch (code) {
    case ReasonCode::Success:
      return "Success";
    case ReasonCode::GrantedQos1:
      return "Granted QoS 1";
    case ReasonCode::GrantedQos2:
      return "Granted QoS 2";
    case ReasonCode::DisconnectWithWill:
      return "Disconnect with Will Message";
    case ReasonCode::NoMatchingSubscribers:
      return "No matching subscribers";
    case ReasonCode::NoSubscriptionExisted:
      return "No subscription existed";
    case ReasonCode::ContinueAuthentication:
      return "Continue authentication";
    case ReasonCode::ReAuthenticate:
      return "Re-authenticate";
    case ReasonCode::UnspecifiedError:
      return "Unspecified error";
    case ReasonCode::MalformedPacket:
      return "Malformed Packet";
    case ReasonCode::ProtocolError:
      return "Protocol Error";
    case ReasonCode::ImplementationSpecificError:
      return "Implementation specific error";
    case ReasonCode::UnsupportedProtocolVersion:
      return "Unsupported Protocol Version";
    case ReasonCode::ClientIdentifierNotValid:
      return "Client Identifier not valid";
    case ReasonCode::BadUserNameOrPassword:
      return "Bad User Name or Password";
    case ReasonCode::NotAuthorized:
      return "Not authorized";
    case ReasonCode::ServerUnavailable:
      return "Server unavailable";
    case ReasonCode::ServerBusy:
      return "Server busy";
    case ReasonCode::Banned:
      return "Banned";
    case ReasonCode::ServerShuttingDown:
      return "Server shutting down";
    case ReasonCode::BadAuthenticationMethod:
      return "Bad authentication method";
    case ReasonCode::KeepAliveTimeout:
      return "Keep Alive timeout";
    case ReasonCode::SessionTakenOver:
      return "Session taken over";
    case ReasonCode::TopicFilterInvalid:
      return "Topic Filter invalid";
    case ReasonCode::TopicNameInvalid:
      return "Topic Name invalid";
    case ReasonCode::PacketIdentifierInUse:
      return "Packet Identifier in use";
    case ReasonCode::PacketIdentifierNotFound:
      return "Packet Identifier not found";
    case ReasonCode::ReceiveMaximumExceeded:
      return "Receive Maximum exceeded";
    case ReasonCode::TopicAliasInvalid:
      return "Topic Alias invalid";
    case ReasonCode::PacketTooLarge:
      return "Packet too large";
    case ReasonCode::MessageRateTooHigh:
      return "Message rate too high";
    case ReasonCode::QuotaExceeded:
      return "Quota exceeded";
    case ReasonCode::AdministrativeAction:
      return "Administrative action";
    case ReasonCode::PayloadFormatInvalid:
      return "Payload format invalid";
    case ReasonCode::RetainNotSupported:
      return "Retain not supported";
    case ReasonCode::QosNotSupported:
      return "QoS not supported";
    case ReasonCode::UseAnotherServer:
      return "Use another server";
    case ReasonCode::ServerMoved:
      return "Server moved";
    case ReasonCode::SharedSubscriptionsNotSupported:
      return "Shared Subscriptions not supported";
    case ReasonCode::ConnectionRateExceeded:
      return "Connection rate exceeded";
    case ReasonCode::MaximumConnectTime:
      return "Maximum connect time";
    case ReasonCode::SubscriptionIdentifiersNotSupported:
      return "Subscription Identifiers not supported";
    case ReasonCode::WildcardSubscriptionsNotSupported:
      return "Wildcard Subscriptions not supported";
  }
  return "Unknown reason code";
}

bool is_known_reason(std::uint8_t code) noexcept {
  return reason_name(static_cast<ReasonCode>(code)) != "Unknown reason code";
}

std::uint8_t to_v3_connack(ReasonCode code) noexcept {
  switch (code) {
    case ReasonCode::Success:
      return 0;
    case ReasonCode::UnsupportedProtocolVersion:
      return 1;
    case ReasonCode::ClientIdentifierNotValid:
      return 2;
    case ReasonCode::ServerUnavailable:
    case ReasonCode::ServerBusy:
    case ReasonCode::ServerShuttingDown:
    case ReasonCode::UseAnotherServer:
    case ReasonCode::ServerMoved:
    case ReasonCode::ConnectionRateExceeded:
      return 3;
    case ReasonCode::BadUserNameOrPassword:
    case ReasonCode::BadAuthenticationMethod:
      return 4;
    default:
      return 5;  // Not authorized: the closest refusal 3.1.1 can express
  }
}

ReasonCode from_v3_connack(std::uint8_t code) noexcept {
  switch (code) {
    case 0:
      return ReasonCode::Success;
    case 1:
      return ReasonCode::UnsupportedProtocolVersion;
    case 2:
      return ReasonCode::ClientIdentifierNotValid;
    case 3:
      return ReasonCode::ServerUnavailable;
    case 4:
      return ReasonCode::BadUserNameOrPassword;
    case 5:
      return ReasonCode::NotAuthorized;
    default:
      return ReasonCode::UnspecifiedError;
  }
}

std::string_view packet_name(PacketType type) noexcept {
  static constexpr std::string_view kNames[] = {"RESERVED",  "CONNECT",  "CONNACK",     "PUBLISH",
                                                "PUBACK",    "PUBREC",   "PUBREL",      "PUBCOMP",
                                                "SUBSCRIBE", "SUBACK",   "UNSUBSCRIBE", "UNSUBACK",
                                                "PINGREQ",   "PINGRESP", "DISCONNECT",  "AUTH"};
  const auto i = static_cast<std::size_t>(type);
  return i < std::size(kNames) ? kNames[i] : "RESERVED";
}

std::string to_string(const Error& error) {
  std::string s;
  if (error.packet_type != 0) {
    s += packet_name(static_cast<PacketType>(error.packet_type));
    s += ": ";
  }
  s += error.message;
  char buf[96];
  if (error.property_id != 0) {
    const PropertyInfo* info = property_info(error.property_id);
    std::snprintf(buf, sizeof buf, " (property 0x%02X%s%s%s)", error.property_id, info ? " " : "",
                  info ? info->name : "", "");
    s += buf;
  }
  std::snprintf(buf, sizeof buf, " at byte %u [0x%02X ", static_cast<unsigned>(error.offset),
                static_cast<unsigned>(error.code));
  s += buf;
  s += reason_name(error.code);
  s += ']';
  return s;
}

}  // namespace psos::mqtt
