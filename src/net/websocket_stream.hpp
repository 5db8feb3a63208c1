// Internal to src/net: MQTT over WebSocket (Beast), on a TCP socket for ws:// (ws.cpp) and on a
// TLS stream for wss:// (wss.cpp). Included by those two files only: it is heavy to compile.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <optional>
#include <type_traits>

#include "net/error.hpp"
#include "net/transports.hpp"

namespace psos::net::detail {

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;

// The subprotocol a server answers with: "mqtt", or "mqttv3.1" for clients that offer only the
// old name; "" when the client offers none; nullopt when it offers only others (ws.cpp).
std::optional<std::string> choose_subprotocol(const http::fields& request);
// The HTTP Host header for `url`: the port only when it is not the scheme's default (ws.cpp).
std::string host_header(const Url& url);

template <class NextLayer>
class WebSocketStream final : public Stream {
 public:
  static constexpr bool kTls = !std::is_same_v<NextLayer, tcp::socket>;

  WebSocketStream(tcp::socket socket, bool server) requires(!kTls)
      : Stream(remote_address_of(socket)), ws_(std::move(socket)), server_(server) {
    configure();
  }
  WebSocketStream(tcp::socket socket, std::shared_ptr<asio::ssl::context> context,
                  bool server) requires kTls : Stream(remote_address_of(socket)),
                                               context_(std::move(context)),
                                               ws_(std::move(socket), *context_),
                                               server_(server) {
    configure();
  }

  websocket::stream<NextLayer, false>& ws() noexcept { return ws_; }

  asio::awaitable<std::tuple<error_code, std::size_t>> read_some(
      asio::mutable_buffer buffer) override {
    if (buffer.size() == 0) co_return std::tuple{error_code{}, std::size_t{0}};
    try {
      for (;;) {  // an empty frame reads as 0 bytes: wait for data
        auto [ec, n] = co_await ws_.async_read_some(buffer, asio::as_tuple(asio::use_awaitable));
        if (ec == websocket::error::closed) ec = asio::error::eof;
        if (!ec && ws_.got_text()) ec = TransportError::WebSocketTextMessage;
        if (ec) co_return std::tuple{ec, std::size_t{0}};
        if (n > 0) co_return std::tuple{ec, n};
      }
    } catch (const boost::system::system_error& e) {
      co_return std::tuple{e.code(), std::size_t{0}};
    }
  }

  asio::awaitable<error_code> write(std::span<const asio::const_buffer> buffers) override {
    auto [ec, n] = co_await ws_.async_write(buffers, asio::as_tuple(asio::use_awaitable));
    co_return ec;
  }

  asio::awaitable<error_code> handshake() override {
    if (!server_) co_return error_code{};
    try {
      co_return co_await accept();
    } catch (const boost::system::system_error& e) {
      co_return e.code();
    }
  }

  asio::awaitable<void> close() override {
    auto& socket = beast::get_lowest_layer(ws_);
    if (socket.is_open() && ws_.is_open()) {
      try {
        co_await within_close_grace(close_handshake());
      } catch (const std::exception&) {  // cancelled: close at once
      }
    }
    error_code ignored;
    socket.shutdown(tcp::socket::shutdown_both, ignored);
    socket.close(ignored);
  }

  std::string_view transport() const noexcept override { return kTls ? "wss" : "ws"; }
  asio::any_io_executor get_executor() override { return ws_.get_executor(); }

  // The client side: TLS handshake for wss, then the upgrade asking for subprotocol "mqtt".
  asio::awaitable<ConnectResult> connect(const Url& url, bool insecure) {
    ConnectResult result;
    if constexpr (kTls) {
      std::tie(result.code, result.error) =
          co_await tls_client_handshake(ws_.next_layer(), url, insecure);
      if (result.code) co_return result;
    }
    ws_.set_option(websocket::stream_base::decorator([](websocket::request_type& request) {
      request.set(http::field::sec_websocket_protocol, "mqtt");
      request.set(http::field::user_agent, "psos");
    }));
    websocket::response_type response;
    auto [ec] = co_await ws_.async_handshake(response, host_header(url), url.path,
                                             asio::as_tuple(asio::use_awaitable));
    result.code = ec;
    const std::string where = url.host_port() + url.path;
    if (ec == websocket::error::upgrade_declined) {
      result.error = "WebSocket upgrade refused by " + where + ": HTTP " +
                     std::to_string(response.result_int()) + " " + std::string(response.reason());
      if (response.result() == http::status::not_found) result.error += " — check the URL's path";
    } else if (ec) {
      result.error = "WebSocket handshake with " + where + " failed: " + describe(ec) +
                     " — does the server speak WebSocket on this port?";
    } else if (auto chosen = response.find(http::field::sec_websocket_protocol);
               chosen != response.end() && chosen->value() != "mqtt") {
      result.code = TransportError::NoMqttSubprotocol;
      result.error = "WebSocket server " + where + " chose the subprotocol '" +
                     std::string(chosen->value()) + "' instead of 'mqtt'";
    }
    co_return result;
  }

 private:
  void configure() {
    ws_.binary(true);
    ws_.auto_fragment(false);  // one frame per MQTT write
    ws_.read_message_max(0);   // no limit: MQTT's maximum packet size applies instead
    websocket::stream_base::timeout timeouts{};
    timeouts.handshake_timeout = websocket::stream_base::none();  // the callers' timers rule
    timeouts.idle_timeout = websocket::stream_base::none();       // MQTT keep-alive rules
    timeouts.keep_alive_pings = false;
    ws_.set_option(timeouts);
  }

  asio::awaitable<error_code> accept() {
    if constexpr (kTls) {
      auto [ec] = co_await ws_.next_layer().async_handshake(NextLayer::server,
                                                            asio::as_tuple(asio::use_awaitable));
      if (ec) co_return ec;
    }
    beast::flat_buffer buffer;
    http::request_parser<http::empty_body> parser;
    parser.header_limit(8 * 1024);
    auto [ec, n] = co_await http::async_read(ws_.next_layer(), buffer, parser,
                                             asio::as_tuple(asio::use_awaitable));
    if (ec) co_return ec;
    const auto& request = parser.get();
    if (!websocket::is_upgrade(request)) {
      co_await refuse(http::status::upgrade_required, request.version(),
                      "This port serves MQTT over WebSocket: connect with a WebSocket client "
                      "that offers the subprotocol \"mqtt\".\n");
      co_return TransportError::NotWebSocketUpgrade;
    }
    std::optional<std::string> subprotocol = choose_subprotocol(request);
    if (!subprotocol) {
      co_await refuse(http::status::bad_request, request.version(),
                      "This port serves MQTT over WebSocket: offer the subprotocol \"mqtt\".\n");
      co_return TransportError::NoMqttSubprotocol;
    }
    ws_.set_option(websocket::stream_base::decorator(
        [chosen = std::move(*subprotocol)](websocket::response_type& response) {
          response.set(http::field::server, "psos");
          if (!chosen.empty()) response.set(http::field::sec_websocket_protocol, chosen);
        }));
    auto [accept_ec] = co_await ws_.async_accept(request, asio::as_tuple(asio::use_awaitable));
    co_return accept_ec;
  }

  asio::awaitable<void> refuse(http::status status, unsigned version, std::string body) {
    http::response<http::string_body> response{status, version};
    response.set(http::field::server, "psos");
    response.set(http::field::content_type, "text/plain");
    if (status == http::status::upgrade_required) {
      response.set(http::field::upgrade, "websocket");
      response.set(http::field::sec_websocket_version, "13");
    }
    response.keep_alive(false);
    response.body() = std::move(body);
    response.prepare_payload();
    co_await http::async_write(ws_.next_layer(), response, asio::as_tuple(asio::use_awaitable));
  }

  asio::awaitable<void> close_handshake() {
    co_await ws_.async_close(websocket::close_code::normal, asio::as_tuple(asio::use_awaitable));
  }

  std::shared_ptr<asio::ssl::context> context_;  // wss: outlives ws_, which refers to it
  // `false`: no permessage-deflate. Brokers rarely offer it for MQTT, and leaving its code out
  // makes this file quicker to compile.
  websocket::stream<NextLayer, false> ws_;
  bool server_;
};

}  // namespace psos::net::detail
