#include "net/error.hpp"

#include <string>

namespace psos::net {
namespace {

class TransportCategory final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "psos.net"; }
  std::string message(int value) const override {
    switch (static_cast<TransportError>(value)) {
      case TransportError::NotWebSocketUpgrade:
        return "the client sent an HTTP request that is not a WebSocket upgrade";
      case TransportError::NoMqttSubprotocol:
        return "the client's WebSocket subprotocols do not include mqtt";
      case TransportError::WebSocketTextMessage:
        return "a WebSocket text message arrived; MQTT uses binary messages";
    }
    return "unknown psos.net error " + std::to_string(value);
  }
};

}  // namespace

const boost::system::error_category& transport_category() noexcept {
  static const TransportCategory category;
  return category;
}

}  // namespace psos::net
