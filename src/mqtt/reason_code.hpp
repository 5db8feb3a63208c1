// MQTT v5 reason codes (spec 2.4) and the v3.1.1 return codes they map to.
// One enum serves both versions: v3.1.1 CONNACK/SUBACK codes are translated at the codec boundary.
#pragma once

#include <cstdint>
#include <string_view>

namespace psos::mqtt {

enum class ReasonCode : std::uint8_t {
  Success = 0x00,  // also Normal Disconnection and Granted QoS 0
  GrantedQos1 = 0x01,
  GrantedQos2 = 0x02,
  DisconnectWithWill = 0x04,
  NoMatchingSubscribers = 0x10,
  NoSubscriptionExisted = 0x11,
  ContinueAuthentication = 0x18,
  ReAuthenticate = 0x19,
  UnspecifiedError = 0x80,
  MalformedPacket = 0x81,
  ProtocolError = 0x82,
  ImplementationSpecificError = 0x83,
  UnsupportedProtocolVersion = 0x84,
  ClientIdentifierNotValid = 0x85,
  BadUserNameOrPassword = 0x86,
  NotAuthorized = 0x87,
  ServerUnavailable = 0x88,
  ServerBusy = 0x89,
  Banned = 0x8A,
  ServerShuttingDown = 0x8B,
  BadAuthenticationMethod = 0x8C,
  KeepAliveTimeout = 0x8D,
  SessionTakenOver = 0x8E,
  TopicFilterInvalid = 0x8F,
  TopicNameInvalid = 0x90,
  PacketIdentifierInUse = 0x91,
  PacketIdentifierNotFound = 0x92,
  ReceiveMaximumExceeded = 0x93,
  TopicAliasInvalid = 0x94,
  PacketTooLarge = 0x95,
  MessageRateTooHigh = 0x96,
  QuotaExceeded = 0x97,
  AdministrativeAction = 0x98,
  PayloadFormatInvalid = 0x99,
  RetainNotSupported = 0x9A,
  QosNotSupported = 0x9B,
  UseAnotherServer = 0x9C,
  ServerMoved = 0x9D,
  SharedSubscriptionsNotSupported = 0x9E,
  ConnectionRateExceeded = 0x9F,
  MaximumConnectTime = 0xA0,
  SubscriptionIdentifiersNotSupported = 0xA1,
  WildcardSubscriptionsNotSupported = 0xA2,
};

// The specification's name for a code ("Malformed Packet"); "Unknown reason code" otherwise.
std::string_view reason_name(ReasonCode code) noexcept;

// True for codes that are valid at all (a decoder rejects the rest).
bool is_known_reason(std::uint8_t code) noexcept;

inline bool is_failure(ReasonCode code) noexcept {
  return static_cast<std::uint8_t>(code) >= 0x80;
}

// v3.1.1 CONNACK return codes (spec 3.1.1, 3.2.2.3) <-> v5 reason codes.
std::uint8_t to_v3_connack(ReasonCode code) noexcept;
ReasonCode from_v3_connack(std::uint8_t code) noexcept;  // unknown codes map to UnspecifiedError

}  // namespace psos::mqtt
