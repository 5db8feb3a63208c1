// Every transport over real loopback sockets: echo round trips, IPv6, end of stream, close while
// reading, and cancellation of reads and handshakes by a timer.
#include "net_test_support.hpp"

namespace psos::net::test {
namespace {

class TransportTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override { REQUIRE_CERTIFICATES(); }

  // A listener for the parameter's scheme on 127.0.0.1 with the test server certificate.
  std::unique_ptr<Listener> listen(asio::any_io_executor executor, const std::string& host) {
    return must_listen(std::move(executor), GetParam() + "://" + host + ":0",
                       Certificates::get().server());
  }
};

INSTANTIATE_TEST_SUITE_P(AllTransports, TransportTest,
                         ::testing::Values("mqtt", "mqtts", "ws", "wss"),
                         [](const auto& param_info) { return param_info.param; });

std::string_view transport_of(const std::string& scheme) {
  if (scheme == "mqtt") return "tcp";
  if (scheme == "mqtts") return "tls";
  return scheme;
}

TEST_P(TransportTest, EchoesOneMebibyteInRandomSizedWrites) {
  run([&](asio::any_io_executor executor) -> asio::awaitable<void> {
    auto listener = listen(executor, "127.0.0.1");
    CO_ASSERT(listener != nullptr, "no listener");
    asio::co_spawn(executor, echo_server(*listener), asio::detached);

    ConnectResult connected = co_await connect(executor, client_url(*listener, "localhost"),
                                               Certificates::get().client());
    CO_ASSERT(connected.ok(), connected.error);
    EXPECT_EQ(connected.stream->transport(), transport_of(GetParam()));
    EXPECT_EQ(connected.stream->remote_address(),
              "127.0.0.1:" + std::to_string(listener->local_port()));

    std::mt19937 random(3);
    co_await expect_echo(*connected.stream, random_bytes(1 << 20, random));
    co_await connected.stream->close();
  });
}

// Whether this host can listen on [::1] (containers often have no IPv6).
std::string ipv6_loopback_problem() {
  asio::io_context io;
  ListenResult opened = Listener::open(io.get_executor(), must_parse("mqtt://[::1]:0"));
  return opened.error;
}

TEST_P(TransportTest, WorksOverIpv6Loopback) {
  if (const std::string problem = ipv6_loopback_problem(); !problem.empty()) {
    GTEST_SKIP() << "no IPv6 loopback on this host: " << problem;
  }
  run([&](asio::any_io_executor executor) -> asio::awaitable<void> {
    ListenResult opened = Listener::open(executor, must_parse(GetParam() + "://[::1]:0"),
                                         Certificates::get().server());
    CO_ASSERT(opened.ok(), opened.error);
    asio::co_spawn(executor, echo_server(*opened.listener), asio::detached);
    ConnectResult connected =
        co_await connect(executor, opened.listener->url(), Certificates::get().client());
    CO_ASSERT(connected.ok(), connected.error);
    EXPECT_EQ(connected.stream->remote_address(),
              "[::1]:" + std::to_string(opened.listener->local_port()));
    std::mt19937 random(5);
    co_await expect_echo(*connected.stream, random_bytes(64 * 1024, random));
    co_await connected.stream->close();
  });
}

TEST_P(TransportTest, ServerSeesClientAddressAndEndOfStream) {
  run([&](asio::any_io_executor executor) -> asio::awaitable<void> {
    auto listener = listen(executor, "127.0.0.1");
    CO_ASSERT(listener != nullptr, "no listener");
    auto both = co_await (
        connect(executor, client_url(*listener, "127.0.0.1"), Certificates::get().client()) &&
            [&]() -> asio::awaitable<std::unique_ptr<Stream>> {
          auto [ec, stream] = co_await listener->accept();
          EXPECT_FALSE(ec) << ec.message();
          if (!ec) {
            const error_code handshake_error = co_await stream->handshake();
            EXPECT_FALSE(handshake_error) << handshake_error.message();
          }
          co_return std::move(stream);
        }());
    ConnectResult& connected = std::get<0>(both);
    std::unique_ptr<Stream>& accepted = std::get<1>(both);
    CO_ASSERT(connected.ok(), connected.error);
    CO_ASSERT(accepted != nullptr, "nothing accepted");
    EXPECT_EQ(accepted->transport(), transport_of(GetParam()));
    EXPECT_TRUE(accepted->remote_address().starts_with("127.0.0.1:")) << accepted->remote_address();

    const std::string hello = "hello";
    EXPECT_FALSE(co_await connected.stream->write(asio::buffer(hello)));
    std::array<char, 16> buffer{};
    auto [read_error, n] = co_await accepted->read_some(asio::buffer(buffer));
    EXPECT_FALSE(read_error) << read_error.message();
    EXPECT_EQ(std::string(buffer.data(), n), hello);

    // A clean close reads as eof on the other side, whatever the transport.
    co_await (connected.stream->close() && [&]() -> asio::awaitable<void> {
      auto [eof, ignored] = co_await accepted->read_some(asio::buffer(buffer));
      EXPECT_EQ(eof, asio::error::eof) << eof.message();
      co_await accepted->close();
    }());
  });
}

TEST_P(TransportTest, TimerCancelsPendingRead) {
  run([&](asio::any_io_executor executor) -> asio::awaitable<void> {
    auto listener = listen(executor, "127.0.0.1");
    CO_ASSERT(listener != nullptr, "no listener");
    std::unique_ptr<Stream> accepted;
    asio::co_spawn(
        executor,
        [&]() -> asio::awaitable<void> {
          auto [ec, stream] = co_await listener->accept();
          if (!ec && !co_await stream->handshake()) accepted = std::move(stream);
        },
        asio::detached);
    ConnectResult connected = co_await connect(executor, client_url(*listener, "localhost"),
                                               Certificates::get().client());
    CO_ASSERT(connected.ok(), connected.error);

    std::array<char, 16> buffer{};
    const auto start = std::chrono::steady_clock::now();
    auto winner = co_await (connected.stream->read_some(asio::buffer(buffer)) || sleep_for(100ms));
    EXPECT_EQ(winner.index(), 1u) << "the read completed although nothing was sent";
    EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);

    if (GetParam() == "mqtt") {  // a cancelled read leaves a TCP stream usable
      CO_ASSERT(accepted != nullptr, "nothing accepted");
      const std::string x = "x";
      EXPECT_FALSE(co_await accepted->write(asio::buffer(x)));
      auto [ec, n] = co_await connected.stream->read_some(asio::buffer(buffer));
      EXPECT_FALSE(ec) << ec.message();
      EXPECT_EQ(n, 1u);
    }
    co_await connected.stream->close();
  });
}

TEST_P(TransportTest, TimerCancelsHandshakeWithSilentClient) {
  run([&](asio::any_io_executor executor) -> asio::awaitable<void> {
    auto listener = listen(executor, "127.0.0.1");
    CO_ASSERT(listener != nullptr, "no listener");
    tcp::socket silent(executor);
    co_await silent.async_connect({asio::ip::make_address("127.0.0.1"), listener->local_port()},
                                  asio::use_awaitable);
    auto [ec, accepted] = co_await listener->accept();
    CO_ASSERT(!ec, ec.message());
    const auto start = std::chrono::steady_clock::now();
    auto winner = co_await (accepted->handshake() || sleep_for(100ms));
    if (GetParam() == "mqtt") {
      EXPECT_EQ(winner.index(), 0u) << "a TCP handshake is a no-op";
    } else {
      EXPECT_EQ(winner.index(), 1u) << "the handshake completed without a client";
    }
    EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
    co_await accepted->close();
  });
}

TEST_P(TransportTest, CloseEndsPendingReadPromptly) {
  run([&](asio::any_io_executor executor) -> asio::awaitable<void> {
    auto listener = listen(executor, "127.0.0.1");
    CO_ASSERT(listener != nullptr, "no listener");
    asio::co_spawn(executor, echo_server(*listener), asio::detached);
    ConnectResult connected = co_await connect(executor, client_url(*listener, "localhost"),
                                               Certificates::get().client());
    CO_ASSERT(connected.ok(), connected.error);
    Stream& stream = *connected.stream;
    const auto start = std::chrono::steady_clock::now();
    error_code read_error;
    co_await ([&]() -> asio::awaitable<void> {
      std::array<char, 16> buffer{};
      std::tie(read_error, std::ignore) = co_await stream.read_some(asio::buffer(buffer));
    }() && [&]() -> asio::awaitable<void> {
      co_await sleep_for(50ms);
      co_await stream.close();
    }());
    EXPECT_TRUE(read_error) << "the pending read succeeded after close";
    EXPECT_LT(std::chrono::steady_clock::now() - start, Stream::kCloseGrace + 1s);
  });
}

TEST(Listener, AcceptIsCancelledByClose) {
  run([&](asio::any_io_executor executor) -> asio::awaitable<void> {
    auto listener = must_listen(executor, "mqtt://127.0.0.1:0");
    CO_ASSERT(listener != nullptr, "no listener");
    EXPECT_NE(listener->local_port(), 0);
    EXPECT_EQ(listener->url().to_string(),
              "mqtt://127.0.0.1:" + std::to_string(listener->local_port()));
    const error_code result = co_await ([&]() -> asio::awaitable<error_code> {
      auto [ec, stream] = co_await listener->accept();
      co_return ec;
    }() && [&]() -> asio::awaitable<void> {
      co_await sleep_for(20ms);
      listener->close();
    }());
    EXPECT_EQ(result, asio::error::operation_aborted) << result.message();
  });
}

}  // namespace
}  // namespace psos::net::test
