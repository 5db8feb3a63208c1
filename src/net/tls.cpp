// mqtts://: TLS over TCP (OpenSSL through Asio's ssl::stream).
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <vector>

#include "net/transports.hpp"

namespace psos::net::detail {
namespace {

namespace ssl = asio::ssl;

// Writes of several small buffers are copied into one, so they leave as one TLS record
// (Asio's ssl::stream encrypts each buffer separately).
constexpr std::size_t kCoalesceLimit = 16 * 1024;

class TlsStream final : public Stream {
 public:
  TlsStream(tcp::socket socket, std::shared_ptr<ssl::context> context, bool server)
      : Stream(remote_address_of(socket)),
        context_(std::move(context)),
        tls_(std::move(socket), *context_),
        server_(server) {}

  TlsSocket& tls() noexcept { return tls_; }

  asio::awaitable<std::tuple<error_code, std::size_t>> read_some(
      asio::mutable_buffer buffer) override {
    auto [ec, n] = co_await tls_.async_read_some(buffer, asio::as_tuple(asio::use_awaitable));
    // Most MQTT clients close the TCP connection without a close_notify; MQTT's own framing
    // already detects a truncated packet.
    if (ec == ssl::error::stream_truncated) ec = asio::error::eof;
    co_return std::tuple{ec, n};
  }

  asio::awaitable<error_code> write(std::span<const asio::const_buffer> buffers) override {
    const std::size_t total = asio::buffer_size(buffers);
    if (buffers.size() > 1 && total <= kCoalesceLimit) {
      scratch_.resize(total);
      asio::buffer_copy(asio::buffer(scratch_), buffers);
      auto [ec, n] = co_await asio::async_write(tls_, asio::buffer(scratch_),
                                                asio::as_tuple(asio::use_awaitable));
      co_return ec;
    }
    auto [ec, n] = co_await asio::async_write(tls_, buffers, asio::as_tuple(asio::use_awaitable));
    co_return ec;
  }

  asio::awaitable<error_code> handshake() override {
    if (!server_) co_return error_code{};
    auto [ec] = co_await tls_.async_handshake(ssl::stream_base::server,
                                              asio::as_tuple(asio::use_awaitable));
    co_return ec;
  }

  asio::awaitable<void> close() override {
    auto& socket = tls_.next_layer();
    if (socket.is_open()) {
      try {
        co_await within_close_grace(shutdown());
      } catch (const std::exception&) {  // cancelled: close at once
      }
    }
    error_code ignored;
    socket.shutdown(tcp::socket::shutdown_both, ignored);
    socket.close(ignored);
  }

  std::string_view transport() const noexcept override { return "tls"; }
  asio::any_io_executor get_executor() override { return tls_.get_executor(); }

 private:
  asio::awaitable<void> shutdown() {
    co_await tls_.async_shutdown(asio::as_tuple(asio::use_awaitable));
  }

  std::shared_ptr<ssl::context> context_;  // outlives tls_, which refers to it
  TlsSocket tls_;
  bool server_;
  std::vector<char> scratch_;
};

}  // namespace

asio::awaitable<std::tuple<error_code, std::string>> tls_client_handshake(TlsSocket& tls,
                                                                          const Url& url,
                                                                          bool insecure) {
  VerifyFailure failure;
  prepare_client_tls(tls.native_handle(), url, insecure, &failure);
  auto [ec] =
      co_await tls.async_handshake(ssl::stream_base::client, asio::as_tuple(asio::use_awaitable));
  stop_recording(tls.native_handle());
  if (!ec) co_return std::tuple{ec, std::string()};
  co_return std::tuple{ec, describe_tls_failure(ec, failure, url)};
}

std::unique_ptr<Stream> make_tls_stream(tcp::socket socket, std::shared_ptr<ssl::context> context) {
  return std::make_unique<TlsStream>(std::move(socket), std::move(context), true);
}

asio::awaitable<ConnectResult> tls_connect(tcp::socket socket,
                                           std::shared_ptr<ssl::context> context, const Url& url,
                                           bool insecure) {
  auto stream = std::make_unique<TlsStream>(std::move(socket), std::move(context), false);
  ConnectResult result;
  std::tie(result.code, result.error) = co_await tls_client_handshake(stream->tls(), url, insecure);
  if (!result.code) result.stream = std::move(stream);
  co_return result;
}

}  // namespace psos::net::detail
