// Failures of connect() and Listener::open() and their messages: refused, unresolvable, port in
// use; connect() cancelled by a timer at each step.
#include "net_test_support.hpp"

namespace psos::net::test {
namespace {

// A loopback port with nothing listening: bound and released by a listener.
std::uint16_t free_port() {
  asio::io_context io;
  auto listener = must_listen(io.get_executor(), "mqtt://127.0.0.1:0");
  return listener ? listener->local_port() : 0;
}

TEST(Connect, RefusedConnectionSaysIsTheBrokerRunning) {
  const std::string port = std::to_string(free_port());
  run([&](asio::any_io_executor executor) -> asio::awaitable<void> {
    ConnectResult result = co_await connect(executor, must_parse("mqtt://127.0.0.1:" + port));
    EXPECT_FALSE(result.ok());
    EXPECT_EQ(result.code, asio::error::connection_refused);
    EXPECT_EQ(result.error,
              "connection refused by 127.0.0.1:" + port + " — is the broker running?");
  });
}

TEST(Connect, UnresolvableHostIsNamed) {
  run([&](asio::any_io_executor executor) -> asio::awaitable<void> {
    ConnectResult result =
        co_await connect(executor, must_parse("mqtts://no-such-broker.invalid:8883"));
    EXPECT_FALSE(result.ok());
    EXPECT_TRUE(result.code);
    EXPECT_TRUE(result.error.starts_with("cannot resolve host 'no-such-broker.invalid': "))
        << result.error;
  });
}

TEST(Listen, PortInUseSaysChooseAnother) {
  asio::io_context io;
  auto first = must_listen(io.get_executor(), "mqtt://127.0.0.1:0");
  ASSERT_NE(first, nullptr);
  const std::string port = std::to_string(first->local_port());
  ListenResult second = Listener::open(io.get_executor(), must_parse("ws://127.0.0.1:" + port));
  EXPECT_FALSE(second.ok());
  EXPECT_EQ(second.error, "cannot listen on 127.0.0.1:" + port +
                              ": address already in use — choose another with --listen");
}

TEST(Listen, HostNameIsResolved) {
  asio::io_context io;
  auto listener = must_listen(io.get_executor(), "mqtt://localhost:0");
  ASSERT_NE(listener, nullptr);
  EXPECT_NE(listener->local_port(), 0);
}

TEST(Listen, UnresolvableHostIsNamed) {
  asio::io_context io;
  ListenResult result = Listener::open(io.get_executor(), must_parse("mqtt://nowhere.invalid:0"));
  EXPECT_TRUE(
      result.error.starts_with("cannot listen on nowhere.invalid:0: cannot resolve host "
                               "'nowhere.invalid': "))
      << result.error;
}

// A TCP server that accepts and then says nothing: connect() hangs in its TLS or WebSocket step.
class ConnectCancel : public ::testing::TestWithParam<std::string> {};

INSTANTIATE_TEST_SUITE_P(HandshakingTransports, ConnectCancel,
                         ::testing::Values("mqtts", "ws", "wss"),
                         [](const auto& param_info) { return param_info.param; });

TEST_P(ConnectCancel, TimerCancelsConnectWaitingForHandshake) {
  run([&](asio::any_io_executor executor) -> asio::awaitable<void> {
    tcp::acceptor acceptor(executor, {asio::ip::make_address("127.0.0.1"), 0});
    tcp::socket silent(executor);
    acceptor.async_accept(silent, [](error_code) {});
    const Url url =
        must_parse(GetParam() + "://127.0.0.1:" + std::to_string(acceptor.local_endpoint().port()));
    const auto start = std::chrono::steady_clock::now();
    auto winner = co_await (connect(executor, url, {}) || sleep_for(200ms));
    EXPECT_EQ(winner.index(), 1u);
    EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  });
}

TEST(Connect, CancelledResultSaysSo) {
  run([&](asio::any_io_executor executor) -> asio::awaitable<void> {
    tcp::acceptor acceptor(executor, {asio::ip::make_address("127.0.0.1"), 0});
    tcp::socket silent(executor);
    acceptor.async_accept(silent, [](error_code) {});
    const Url url =
        must_parse("mqtts://127.0.0.1:" + std::to_string(acceptor.local_endpoint().port()));
    ConnectResult result;
    co_await ([&]() -> asio::awaitable<void> { result = co_await connect(executor, url, {}); }() ||
                           sleep_for(100ms));
    EXPECT_FALSE(result.ok());
    EXPECT_EQ(result.code, asio::error::operation_aborted);
    EXPECT_EQ(result.error, "connecting to " + url.to_string() + " was cancelled");
  });
}

}  // namespace
}  // namespace psos::net::test
