// The client side: opens a Stream to a broker URL (DNS, TCP, TLS, WebSocket upgrade), with error
// messages that say which step failed, on which address, and what to check.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <memory>
#include <string>

#include "net/stream.hpp"
#include "net/url.hpp"

namespace psos::net {

struct TlsClientOptions {
  // Declared so the type is not an aggregate: g++ 12 frees an aggregate temporary twice when it
  // appears in a co_await expression, as in `co_await connect(executor, url, {})`.
  TlsClientOptions() = default;

  std::string ca_file;           // PEM file of trusted CAs; empty: the system's default store
  std::string certificate_file;  // PEM client certificate (chain), for brokers that require one
  std::string key_file;          // PEM private key of that certificate
  // Skips the verification of the broker's certificate and host name. For tests only: anyone
  // on the path can then read and change the traffic.
  bool insecure = false;
};

struct ConnectResult {
  std::unique_ptr<Stream> stream;  // connected and handshaken; null on failure
  error_code code;                 // the failure: DNS, socket, TLS or WebSocket error
  // "connection refused by 127.0.0.1:1883 — is the broker running?"
  std::string error;
  bool ok() const noexcept { return stream != nullptr; }
};

// Resolves url.host (on every call: addresses may change between reconnects), tries each address
// in order until one accepts the TCP connection, then runs the TLS handshake (SNI and host name
// verification against url.host) and/or the WebSocket upgrade (path url.path, subprotocol
// "mqtt") as the scheme says. Cancellable at every step (terminal cancellation, e.g. with `||`
// and a timer): the result then has code operation_aborted.
// The arguments are copied before this returns: they need not outlive the awaitable.
asio::awaitable<ConnectResult> connect(asio::any_io_executor executor, const Url& url,
                                       const TlsClientOptions& tls = {});

}  // namespace psos::net
