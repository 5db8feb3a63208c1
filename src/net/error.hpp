// Error codes the transports raise themselves; the others come from Asio, OpenSSL and Beast.
#pragma once

#include <boost/system/error_code.hpp>
#include <type_traits>

namespace psos::net {

enum class TransportError {
  // An HTTP request that is not a WebSocket upgrade reached a ws:// or wss:// listener; it was
  // answered with "426 Upgrade Required".
  NotWebSocketUpgrade = 1,
  // The client offered WebSocket subprotocols, none of them MQTT; answered with "400 Bad Request".
  NoMqttSubprotocol,
  // A WebSocket text message arrived; MQTT travels in binary messages only (MQTT spec 6.0).
  WebSocketTextMessage,
};

const boost::system::error_category& transport_category() noexcept;

inline boost::system::error_code make_error_code(TransportError error) noexcept {
  return {static_cast<int>(error), transport_category()};
}

}  // namespace psos::net

template <>
struct boost::system::is_error_code_enum<psos::net::TransportError> : std::true_type {};
