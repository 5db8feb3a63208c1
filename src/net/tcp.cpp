// mqtt://: the stream is the TCP socket itself.
#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "net/transports.hpp"

namespace psos::net::detail {
namespace {

class TcpStream final : public Stream {
 public:
  explicit TcpStream(tcp::socket socket)
      : Stream(remote_address_of(socket)), socket_(std::move(socket)) {
    // read_some() takes what is already there without a trip through the event loop.
    error_code ignored;
    socket_.non_blocking(true, ignored);
  }

  asio::awaitable<error_code> wait_readable() override {
    // A peek at one byte: unlike async_wait(wait_read), it succeeds at once when bytes are
    // already there, without re-arming the descriptor.
    reading_ = true;
    const auto result = co_await socket_.async_receive(
        asio::buffer(&peeked_, 1), tcp::socket::message_peek, asio::as_tuple(asio::use_awaitable));
    reading_ = false;
    co_return std::get<0>(result);
  }

  asio::awaitable<std::tuple<error_code, std::size_t>> read_some(
      asio::mutable_buffer buffer) override {
    error_code ec;
    const std::size_t n = socket_.read_some(buffer, ec);
    if (ec != asio::error::would_block) co_return std::tuple{ec, n};
    reading_ = true;
    auto result = co_await socket_.async_read_some(buffer, asio::as_tuple(asio::use_awaitable));
    reading_ = false;
    co_return result;
  }

  asio::awaitable<error_code> write(std::span<const asio::const_buffer> buffers) override {
    auto [ec, written] =
        co_await asio::async_write(socket_, buffers, asio::as_tuple(asio::use_awaitable));
    co_return ec;
  }

  asio::awaitable<error_code> handshake() override { co_return error_code{}; }

  asio::awaitable<void> close() override {
    error_code ignored;
    if (socket_.is_open()) {
      socket_.shutdown(tcp::socket::shutdown_send, ignored);
      // Wait for the peer's FIN, unless a read_some() is pending and will see it itself:
      // closing with unread data would send a reset, which can destroy what was just sent.
      if (!reading_) {
        try {
          co_await within_close_grace(drain());
        } catch (const std::exception&) {  // cancelled: close at once
        }
      }
    }
    socket_.close(ignored);
  }

  std::string_view transport() const noexcept override { return "tcp"; }
  asio::any_io_executor get_executor() override { return socket_.get_executor(); }

 private:
  asio::awaitable<void> drain() {
    std::array<char, 512> discard{};
    for (;;) {
      auto [ec, n] = co_await socket_.async_read_some(asio::buffer(discard),
                                                      asio::as_tuple(asio::use_awaitable));
      if (ec) co_return;
    }
  }

  tcp::socket socket_;
  bool reading_ = false;
  char peeked_ = 0;
};

}  // namespace

std::unique_ptr<Stream> make_tcp_stream(tcp::socket socket) {
  return std::make_unique<TcpStream>(std::move(socket));
}

}  // namespace psos::net::detail
