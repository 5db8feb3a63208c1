// Serves one network client of the router: reads and decodes its packets, hands them to the
// router, and writes what the router sends back, with keep-alive and flow control.
#pragma once

#include <boost/asio/any_io_executor.hpp>
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

// Starts serving the connection on the stream's executor and returns: the connection keeps
// itself alive until it ends. Throws only std::bad_alloc.
void serve(router::Router& router, std::unique_ptr<net::Stream> stream,
           std::shared_ptr<const ConnectionOptions> options);

}  // namespace psos::listeners
