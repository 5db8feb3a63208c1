// The WebSocket upgrade seen from raw HTTP: subprotocol negotiation, requests that are not
// upgrades, text frames, and a server that refuses the upgrade.
#include <boost/asio/read_until.hpp>
#include <boost/asio/write.hpp>

#include "net/error.hpp"
#include "net_test_support.hpp"

namespace psos::net::test {
namespace {

std::string upgrade_request(const std::string& extra_headers) {
  return "GET /mqtt HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" +
         extra_headers + "\r\n";
}

struct Exchange {
  std::string response;     // the server's HTTP response head
  error_code server_error;  // what the server's handshake() returned
};

// Sends `request` to a fresh ws:// listener; returns the response head and the server's result.
// The connection is left open for `then`, which may continue on the raw socket.
asio::awaitable<Exchange> http_exchange(
    asio::any_io_executor executor, const std::string& request,
    std::function<asio::awaitable<void>(tcp::socket&, Stream&)> then = nullptr) {
  auto listener = must_listen(executor, "ws://127.0.0.1:0");
  Exchange result;
  if (!listener) co_return result;
  tcp::socket client(executor);
  co_await client.async_connect({asio::ip::make_address("127.0.0.1"), listener->local_port()},
                                asio::use_awaitable);
  auto [accept_error, accepted] = co_await listener->accept();
  std::unique_ptr<Stream> server = std::move(accepted);
  EXPECT_FALSE(accept_error);
  if (accept_error) co_return result;
  co_await asio::async_write(client, asio::buffer(request), asio::use_awaitable);
  auto read_head = [&]() -> asio::awaitable<void> {
    auto [ec, n] = co_await asio::async_read_until(client, asio::dynamic_buffer(result.response),
                                                   "\r\n\r\n", asio::as_tuple(asio::use_awaitable));
    EXPECT_FALSE(ec) << ec.message();
    result.response.resize(n);
  };
  auto handshake = [&]() -> asio::awaitable<void> {
    result.server_error = co_await server->handshake();
  };
  co_await (read_head() && handshake());
  if (then) co_await then(client, *server);
  co_return result;
}

TEST(WebSocket, EchoesSubprotocolMqtt) {
  run([&](asio::any_io_executor executor) -> asio::awaitable<void> {
    Exchange result =
        co_await http_exchange(executor, upgrade_request("Sec-WebSocket-Protocol: mqtt\r\n"));
    EXPECT_FALSE(result.server_error) << result.server_error.message();
    EXPECT_TRUE(result.response.starts_with("HTTP/1.1 101 Switching Protocols\r\n"))
        << result.response;
    EXPECT_NE(result.response.find("Sec-WebSocket-Protocol: mqtt\r\n"), std::string::npos)
        << result.response;
  });
}

TEST(WebSocket, PrefersMqttAmongSeveralAndAcceptsTheOldName) {
  run([&](asio::any_io_executor executor) -> asio::awaitable<void> {
    Exchange several = co_await http_exchange(
        executor, upgrade_request("Sec-WebSocket-Protocol: mqttv3.1, chat, mqtt\r\n"));
    EXPECT_NE(several.response.find("Sec-WebSocket-Protocol: mqtt\r\n"), std::string::npos)
        << several.response;
    Exchange old_name =
        co_await http_exchange(executor, upgrade_request("Sec-WebSocket-Protocol: mqttv3.1\r\n"));
    EXPECT_FALSE(old_name.server_error);
    EXPECT_NE(old_name.response.find("Sec-WebSocket-Protocol: mqttv3.1\r\n"), std::string::npos)
        << old_name.response;
  });
}

TEST(WebSocket, NoSubprotocolOfferedIsAccepted) {
  run([&](asio::any_io_executor executor) -> asio::awaitable<void> {
    Exchange result = co_await http_exchange(executor, upgrade_request(""));
    EXPECT_FALSE(result.server_error) << result.server_error.message();
    EXPECT_TRUE(result.response.starts_with("HTTP/1.1 101")) << result.response;
    EXPECT_EQ(result.response.find("Sec-WebSocket-Protocol"), std::string::npos) << result.response;
  });
}

TEST(WebSocket, OtherSubprotocolsOnlyAreRefused) {
  run([&](asio::any_io_executor executor) -> asio::awaitable<void> {
    Exchange result =
        co_await http_exchange(executor, upgrade_request("Sec-WebSocket-Protocol: chat\r\n"));
    EXPECT_EQ(result.server_error, TransportError::NoMqttSubprotocol);
    EXPECT_TRUE(result.response.starts_with("HTTP/1.1 400 Bad Request\r\n")) << result.response;
  });
}

TEST(WebSocket, PlainHttpRequestGets426) {
  run([&](asio::any_io_executor executor) -> asio::awaitable<void> {
    Exchange result = co_await http_exchange(executor, "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
    EXPECT_EQ(result.server_error, TransportError::NotWebSocketUpgrade);
    EXPECT_EQ(result.server_error.message(),
              "the client sent an HTTP request that is not a WebSocket upgrade");
    EXPECT_TRUE(result.response.starts_with("HTTP/1.1 426 Upgrade Required\r\n"))
        << result.response;
    EXPECT_NE(result.response.find("Upgrade: websocket\r\n"), std::string::npos);
  });
}

TEST(WebSocket, TextMessageIsAProtocolError) {
  run([&](asio::any_io_executor executor) -> asio::awaitable<void> {
    error_code read_error;
    co_await http_exchange(
        executor, upgrade_request("Sec-WebSocket-Protocol: mqtt\r\n"),
        [&](tcp::socket& client, Stream& server) -> asio::awaitable<void> {
          // A masked text frame "hi" (a client must mask its frames).
          const unsigned char mask[4] = {1, 2, 3, 4};
          const std::array<unsigned char, 8> frame = {0x81,
                                                      0x82,
                                                      mask[0],
                                                      mask[1],
                                                      mask[2],
                                                      mask[3],
                                                      static_cast<unsigned char>('h' ^ mask[0]),
                                                      static_cast<unsigned char>('i' ^ mask[1])};
          co_await asio::async_write(client, asio::buffer(frame), asio::use_awaitable);
          std::array<char, 16> buffer{};
          std::tie(read_error, std::ignore) = co_await server.read_some(asio::buffer(buffer));
        });
    EXPECT_EQ(read_error, TransportError::WebSocketTextMessage) << read_error.message();
  });
}

TEST(WebSocket, RefusedUpgradeReportsTheHttpStatus) {
  run([&](asio::any_io_executor executor) -> asio::awaitable<void> {
    // An HTTP server that answers everything with 404.
    tcp::acceptor acceptor(executor, {asio::ip::make_address("127.0.0.1"), 0});
    const std::uint16_t port = acceptor.local_endpoint().port();
    asio::co_spawn(
        executor,
        [&]() -> asio::awaitable<void> {
          tcp::socket peer = co_await acceptor.async_accept(asio::use_awaitable);
          std::string request;
          co_await asio::async_read_until(peer, asio::dynamic_buffer(request), "\r\n\r\n",
                                          asio::use_awaitable);
          const std::string response = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
          co_await asio::async_write(peer, asio::buffer(response), asio::use_awaitable);
        },
        asio::detached);
    ConnectResult result =
        co_await connect(executor, must_parse("ws://127.0.0.1:" + std::to_string(port) + "/nope"));
    EXPECT_FALSE(result.ok());
    EXPECT_EQ(result.error, "WebSocket upgrade refused by 127.0.0.1:" + std::to_string(port) +
                                "/nope: HTTP 404 Not Found — check the URL's path");
  });
}

TEST(WebSocket, ClientOffersMqttAndServerAnswersIt) {
  run([&](asio::any_io_executor executor) -> asio::awaitable<void> {
    // Capture the client's request with a raw server that answers like a WebSocket server.
    tcp::acceptor acceptor(executor, {asio::ip::make_address("127.0.0.1"), 0});
    const std::uint16_t port = acceptor.local_endpoint().port();
    std::string request;
    auto listener = must_listen(executor, "ws://127.0.0.1:0");
    CO_ASSERT(listener != nullptr, "no listener");
    asio::co_spawn(executor, echo_server(*listener), asio::detached);
    // A relay that records the request on its way to the real listener.
    asio::co_spawn(
        executor,
        [&]() -> asio::awaitable<void> {
          tcp::socket peer = co_await acceptor.async_accept(asio::use_awaitable);
          tcp::socket upstream(executor);
          co_await upstream.async_connect(
              {asio::ip::make_address("127.0.0.1"), listener->local_port()}, asio::use_awaitable);
          const std::size_t n = co_await asio::async_read_until(peer, asio::dynamic_buffer(request),
                                                                "\r\n\r\n", asio::use_awaitable);
          co_await asio::async_write(upstream, asio::buffer(request), asio::use_awaitable);
          request.resize(n);
          auto pipe = [](tcp::socket& from, tcp::socket& to) -> asio::awaitable<void> {
            std::array<char, 4096> buffer{};
            for (;;) {
              auto [ec, size] = co_await from.async_read_some(asio::buffer(buffer),
                                                              asio::as_tuple(asio::use_awaitable));
              if (ec) co_return;
              co_await asio::async_write(to, asio::buffer(buffer.data(), size),
                                         asio::use_awaitable);
            }
          };
          co_await (pipe(peer, upstream) || pipe(upstream, peer));
        },
        asio::detached);
    ConnectResult result =
        co_await connect(executor, must_parse("ws://localhost:" + std::to_string(port)));
    CO_ASSERT(result.ok(), result.error);
    EXPECT_TRUE(request.starts_with("GET /mqtt HTTP/1.1\r\n")) << request;
    EXPECT_NE(request.find("Host: localhost:" + std::to_string(port) + "\r\n"), std::string::npos)
        << request;
    EXPECT_NE(request.find("Sec-WebSocket-Protocol: mqtt\r\n"), std::string::npos) << request;
    std::mt19937 random(2);
    co_await expect_echo(*result.stream, random_bytes(5000, random));
  });
}

}  // namespace
}  // namespace psos::net::test
