// Serves one network client of the router: reads and decodes its packets, hands them to the
// router, and writes what the router sends back, with keep-alive and flow control.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <memory>

namespace psos::net {
class Stream;
}
namespace psos::router {
class Router;
}

namespace psos::listeners {

struct ConnectionOptions {
  // Time a new connection has for its TLS/WebSocket handshake and its CONNECT packet.
  std::chrono::milliseconds connect_timeout{10'000};
  // Where slow blocking work runs (password hashing); empty: on the connection's own executor.
  boost::asio::any_io_executor blocking;
};

// Runs until the connection ends. Never throws.
boost::asio::awaitable<void> serve(router::Router& router, std::unique_ptr<net::Stream> stream,
                                   ConnectionOptions options);

}  // namespace psos::listeners
