// wss://: MQTT over WebSocket over TLS.
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include "net/websocket_stream.hpp"

namespace psos::net::detail {

std::unique_ptr<Stream> make_wss_stream(tcp::socket socket,
                                        std::shared_ptr<asio::ssl::context> context) {
  return std::make_unique<WebSocketStream<TlsSocket>>(std::move(socket), std::move(context), true);
}

asio::awaitable<ConnectResult> wss_connect(tcp::socket socket,
                                           std::shared_ptr<asio::ssl::context> context,
                                           const Url& url, bool insecure) {
  auto stream =
      std::make_unique<WebSocketStream<TlsSocket>>(std::move(socket), std::move(context), false);
  ConnectResult result = co_await stream->connect(url, insecure);
  if (!result.code) result.stream = std::move(stream);
  co_return result;
}

}  // namespace psos::net::detail
