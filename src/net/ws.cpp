// ws://: MQTT over WebSocket over TCP.
#include "net/websocket_stream.hpp"

namespace psos::net::detail {

std::optional<std::string> choose_subprotocol(const http::fields& request) {
  bool offered = false;
  bool old_name = false;
  auto [first, last] = request.equal_range(http::field::sec_websocket_protocol);
  for (auto field = first; field != last; ++field) {
    for (const auto& token : http::token_list(field->value())) {
      offered = true;
      if (beast::iequals(token, "mqtt")) return std::string("mqtt");
      if (beast::iequals(token, "mqttv3.1")) old_name = true;
    }
  }
  if (old_name) return std::string("mqttv3.1");
  if (offered) return std::nullopt;
  return std::string();
}

std::string host_header(const Url& url) {
  // Appended piecewise: `"[" + std::string` trips GCC 12's -Wrestrict false positive at -O3.
  const bool ipv6 = url.host.find(':') != std::string::npos;
  std::string host;
  if (ipv6) host += '[';
  host += url.host;
  if (ipv6) host += ']';
  if (url.port != default_port(url.scheme)) {
    host += ':';
    host += std::to_string(url.port);
  }
  return host;
}

std::unique_ptr<Stream> make_ws_stream(tcp::socket socket) {
  return std::make_unique<WebSocketStream<tcp::socket>>(std::move(socket), true);
}

asio::awaitable<ConnectResult> ws_connect(tcp::socket socket, const Url& url) {
  auto stream = std::make_unique<WebSocketStream<tcp::socket>>(std::move(socket), false);
  ConnectResult result = co_await stream->connect(url, false);
  if (!result.code) result.stream = std::move(stream);
  co_return result;
}

}  // namespace psos::net::detail
