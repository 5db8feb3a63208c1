// Internal to src/net: the four transports behind Stream, and what connect.cpp and listener.cpp
// need to create them. Only this folder includes it.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <memory>
#include <string>
#include <tuple>

#include "net/connect.hpp"
#include "net/listener.hpp"
#include "net/stream.hpp"
#include "net/url.hpp"

namespace boost::asio::ssl {
class context;
template <typename Stream>
class stream;
}  // namespace boost::asio::ssl
struct ssl_st;  // OpenSSL's SSL

namespace psos::net::detail {

using tcp = asio::ip::tcp;
using TlsSocket = asio::ssl::stream<tcp::socket>;

// "127.0.0.1:54321", "[::1]:5"; "unknown" when the socket has no peer.
std::string format_endpoint(const tcp::endpoint& endpoint);
std::string remote_address_of(const tcp::socket& socket);

// An error's message for the middle of a sentence: "address already in use" (strerror and
// getaddrinfo messages start with a capital letter).
std::string describe(const error_code& code);

// Runs one graceful-close step for at most Stream::kCloseGrace. Throws when the calling
// coroutine is being cancelled: callers catch and close the socket anyway.
asio::awaitable<void> within_close_grace(asio::awaitable<void> step);

// TLS contexts (tls_context.cpp); `error` says which file is wrong and why.
struct TlsContextResult {
  std::shared_ptr<asio::ssl::context> context;
  std::string error;
};
TlsContextResult make_client_context(const TlsClientOptions& options);
TlsContextResult make_server_context(const TlsServerOptions& options);

// The first certificate the client's verification rejected, recorded during the handshake.
struct VerifyFailure {
  int error = 0;  // X509_V_ERR_*, 0 when every certificate passed
  int depth = 0;  // 0: the server's own certificate, 1: its issuer, ...
  std::string subject;
};
// Client side, before the handshake: SNI (for host names, not addresses), peer verification with
// host name or IP address checking unless `insecure`, failures recorded into `*failure` (which
// must live until the handshake ends, then call stop_recording).
void prepare_client_tls(ssl_st* ssl, const Url& url, bool insecure, VerifyFailure* failure);
void stop_recording(ssl_st* ssl);
// "TLS handshake with localhost:8883 failed: the server's certificate 'CN=other.example' is not
// valid for 'localhost' (hostname mismatch): connect with a name the certificate lists".
std::string describe_tls_failure(const error_code& code, const VerifyFailure& failure,
                                 const Url& url);

// The client side of a TLS handshake on a connected socket, prepared as above (tls.cpp).
asio::awaitable<std::tuple<error_code, std::string>> tls_client_handshake(TlsSocket& tls,
                                                                          const Url& url,
                                                                          bool insecure);

// Streams for accepted connections, handshake() still to run (connect() uses the tcp one too).
std::unique_ptr<Stream> make_tcp_stream(tcp::socket socket);
std::unique_ptr<Stream> make_tls_stream(tcp::socket socket,
                                        std::shared_ptr<asio::ssl::context> context);
std::unique_ptr<Stream> make_ws_stream(tcp::socket socket);
std::unique_ptr<Stream> make_wss_stream(tcp::socket socket,
                                        std::shared_ptr<asio::ssl::context> context);

// Client-side: run the handshakes on a connected socket and return a ready stream.
asio::awaitable<ConnectResult> tls_connect(tcp::socket socket,
                                           std::shared_ptr<asio::ssl::context> context,
                                           const Url& url, bool insecure);
asio::awaitable<ConnectResult> ws_connect(tcp::socket socket, const Url& url);
asio::awaitable<ConnectResult> wss_connect(tcp::socket socket,
                                           std::shared_ptr<asio::ssl::context> context,
                                           const Url& url, bool insecure);

}  // namespace psos::net::detail
