// The server side: a listening socket for one listener URL (mqtt://, mqtts://, ws://, wss://)
// that hands out one Stream per accepted connection.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <tuple>

#include "net/stream.hpp"
#include "net/url.hpp"

namespace psos::net {

struct TlsServerOptions {
  std::string certificate_file;  // PEM chain: the server's certificate first, then intermediates
  std::string key_file;          // PEM private key of that certificate
  std::string ca_file;           // PEM CAs that issue client certificates; empty: none asked for
  // Refuse clients without a valid certificate (needs ca_file). Without it a client certificate
  // is optional, and verified when given.
  bool require_client_certificate = false;
};

class Listener;

struct ListenResult {
  std::unique_ptr<Listener> listener;  // null on failure
  // "cannot listen on 127.0.0.1:1883: address already in use — choose another with --listen"
  std::string error;
  bool ok() const noexcept { return listener != nullptr; }
};

class Listener {
 public:
  // Binds and listens on url.host (resolved once, here) and url.port; port 0 picks a free port.
  // IPv6 listeners are IPv6 only, so "[::]" and "0.0.0.0" can share a port number. The ws://
  // path is informative: like Mosquitto, the listener upgrades requests for any path, because
  // clients disagree on the default ("/" or "/mqtt"). TLS options are read for mqtts:// and
  // wss:// only, and their files are loaded here.
  static ListenResult open(asio::any_io_executor executor, const Url& url,
                           const TlsServerOptions& tls = {});

  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;
  ~Listener();

  // Waits for the next connection, with TCP_NODELAY set. The stream's handshake() has not run:
  // the caller runs it, with a timeout, in the connection's own coroutine, so a slow client
  // cannot hold up the accept loop. Errors such as "too many open files" are returned; the
  // listener stays usable (wait a little before retrying). Cancellable.
  asio::awaitable<std::tuple<error_code, std::unique_ptr<Stream>>> accept();

  // The port actually bound (useful after port 0).
  std::uint16_t local_port() const noexcept;
  // The URL with the bound port: "mqtt://127.0.0.1:40123".
  const Url& url() const noexcept;
  // Stops listening; a pending accept() completes with operation_aborted.
  void close() noexcept;

 private:
  struct Impl;
  explicit Listener(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace psos::net
