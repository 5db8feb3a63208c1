// Broker and listener URLs (DESIGN.md "Broker URLs"): mqtt://, mqtts://, ws://, wss://, parsed
// into their parts with errors that quote the input, and printed back with the password hidden.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace psos::net {

enum class Scheme : std::uint8_t {
  Mqtt,   // MQTT over TCP, port 1883 ("tcp://" is an alias)
  Mqtts,  // MQTT over TLS, port 8883 ("ssl://" is an alias)
  Ws,     // MQTT over WebSocket, port 80
  Wss,    // MQTT over WebSocket over TLS, port 443
};

struct Url {
  Scheme scheme = Scheme::Mqtt;
  std::optional<std::string> username;  // percent-decoded; absent when the URL has no '@'
  std::optional<std::string> password;  // percent-decoded; absent when the user has no ':'
  std::string host;                     // a name or an address; IPv6 without its brackets
  std::uint16_t port = 1883;            // the scheme's default when the URL names none
  // ws:// and wss:// only: the HTTP target, query included; "/mqtt" when the URL has no path
  // (the path Mosquitto, EMQX and HiveMQ examples use). Empty for mqtt:// and mqtts://.
  std::string path;

  bool uses_tls() const noexcept { return scheme == Scheme::Mqtts || scheme == Scheme::Wss; }
  bool uses_websocket() const noexcept { return scheme == Scheme::Ws || scheme == Scheme::Wss; }
  // "tcp", "tls", "ws" or "wss": the name Stream::transport() reports.
  std::string_view transport() const noexcept;
  // "broker.example:1883", "[::1]:1883": for messages and the HTTP Host header.
  std::string host_port() const;
  // The URL with every part explicit and the password replaced by "***":
  // "mqtts://alice:***@broker.example:8883", "ws://[::1]:80/mqtt".
  std::string to_string() const;
};

std::uint16_t default_port(Scheme scheme) noexcept;

struct UrlResult {
  Url url;            // meaningful only when error is empty
  std::string error;  // "broker URL 'mqtt:/x': expected '//' after the scheme"
  bool ok() const noexcept { return error.empty(); }
};

// Parses `scheme://[user[:password]@]host[:port][/path]`; user and password may be
// percent-encoded. `role` starts each error message ("broker URL", "listener URL"); a password in
// the input is shown as "***".
UrlResult parse_url(std::string_view text, std::string_view role = "broker URL");

// A web server's address (the dashboard's `--listen`, a node's "dashboard"): http:// or
// https://, a host (IPv6 in brackets) and a port (0 picks a free one; default 80 or 443).
struct HttpUrl {
  bool https = false;
  std::string host;  // IPv6 without its brackets
  std::uint16_t port = 80;
};
struct HttpUrlResult {
  HttpUrl url;        // meaningful only when error is empty
  std::string error;  // "--listen ftp://x: expected http://HOST:PORT or https://HOST:PORT"
  bool ok() const noexcept { return error.empty(); }
};
// `role` starts each error message, followed by the text ("--listen", "dashboard").
HttpUrlResult parse_http_url(std::string_view text, std::string_view role);

// Is `host` (a name or an address, IPv6 without brackets) the loopback interface: "localhost",
// 127.0.0.0/8 or ::1?
bool is_loopback_host(std::string_view host);

}  // namespace psos::net
