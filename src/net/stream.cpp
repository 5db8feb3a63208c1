#include "net/stream.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "net/transports.hpp"

namespace psos::net {

bool Stream::wait_readable(std::function<void()>) {
  return false;
}

asio::awaitable<error_code> Stream::write(asio::const_buffer buffer) {
  co_return co_await write(std::span<const asio::const_buffer>(&buffer, 1));
}

namespace detail {

std::string format_endpoint(const tcp::endpoint& endpoint) {
  const asio::ip::address address = endpoint.address();
  std::string out;
  if (address.is_v6() && !address.to_v6().is_v4_mapped()) {
    // Appended piecewise: `"[" + std::string&&` trips GCC 12's -Wrestrict false positive at -O3.
    out += '[';
    out += address.to_string();
    out += ']';
  } else if (address.is_v6()) {
    out = asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6()).to_string();
  } else {
    out = address.to_string();
  }
  out += ':';
  out += std::to_string(endpoint.port());
  return out;
}

std::string remote_address_of(const tcp::socket& socket) {
  error_code ec;
  const tcp::endpoint endpoint = socket.remote_endpoint(ec);
  return ec ? std::string("unknown") : format_endpoint(endpoint);
}

std::string describe(const error_code& code) {
  std::string message = code.message();
  const auto is_lower = [](char c) { return c >= 'a' && c <= 'z'; };
  if (message.size() > 1 && message[0] >= 'A' && message[0] <= 'Z' && is_lower(message[1])) {
    message[0] = static_cast<char>(message[0] - 'A' + 'a');
  }
  return message;
}

asio::awaitable<void> within_close_grace(asio::awaitable<void> step) {
  using namespace asio::experimental::awaitable_operators;
  asio::steady_timer timer(co_await asio::this_coro::executor, Stream::kCloseGrace);
  co_await (std::move(step) || timer.async_wait(asio::as_tuple(asio::use_awaitable)));
}

}  // namespace detail
}  // namespace psos::net
