#include "net/url.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>

namespace psos::net {
namespace {

struct SchemeName {
  std::string_view name;
  Scheme scheme;
};
constexpr std::array<SchemeName, 6> kSchemes{{{"mqtt", Scheme::Mqtt},
                                              {"mqtts", Scheme::Mqtts},
                                              {"ws", Scheme::Ws},
                                              {"wss", Scheme::Wss},
                                              {"tcp", Scheme::Mqtt},
                                              {"ssl", Scheme::Mqtts}}};

std::string_view scheme_name(Scheme scheme) noexcept {
  switch (scheme) {
    case Scheme::Mqtt:
      return "mqtt";
    case Scheme::Mqtts:
      return "mqtts";
    case Scheme::Ws:
      return "ws";
    case Scheme::Wss:
      return "wss";
  }
  return "mqtt";
}

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// The input as error messages show it: the password, if any, replaced by "***".
std::string redacted(std::string_view text) {
  const std::size_t scheme_end = text.find("://");
  const std::size_t start = scheme_end == std::string_view::npos ? 0 : scheme_end + 3;
  std::size_t end = text.find_first_of("/?#", start);
  if (end == std::string_view::npos) end = text.size();
  const std::size_t at = text.rfind('@', end);
  if (at == std::string_view::npos || at < start) return std::string(text);
  const std::size_t colon = text.find(':', start);
  if (colon >= at) return std::string(text);
  std::string out(text.substr(0, colon + 1));
  out += "***";
  out += text.substr(at);
  return out;
}

UrlResult failure(std::string_view role, std::string_view text, std::string_view message) {
  UrlResult result;
  result.error.append(role).append(" '").append(redacted(text)).append("': ").append(message);
  return result;
}

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decodes %XX escapes; on a malformed escape returns false and sets `bad` to it.
bool percent_decode(std::string_view text, std::string& out, std::string& bad) {
  out.clear();
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out += text[i];
      continue;
    }
    const int high = i + 1 < text.size() ? hex_value(text[i + 1]) : -1;
    const int low = i + 2 < text.size() ? hex_value(text[i + 2]) : -1;
    if (high < 0 || low < 0) {
      bad = std::string(text.substr(i, 3));
      return false;
    }
    out += static_cast<char>(high * 16 + low);
    i += 2;
  }
  return true;
}

void percent_encode(std::string_view text, std::string& out) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (std::isalnum(byte) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += c;
    } else {
      out += '%';
      out += kHex[byte >> 4];
      out += kHex[byte & 0x0F];
    }
  }
}

bool is_host_char(char c) noexcept {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_';
}

}  // namespace

std::uint16_t default_port(Scheme scheme) noexcept {
  switch (scheme) {
    case Scheme::Mqtt:
      return 1883;
    case Scheme::Mqtts:
      return 8883;
    case Scheme::Ws:
      return 80;
    case Scheme::Wss:
      return 443;
  }
  return 1883;
}

std::string_view Url::transport() const noexcept {
  switch (scheme) {
    case Scheme::Mqtt:
      return "tcp";
    case Scheme::Mqtts:
      return "tls";
    case Scheme::Ws:
      return "ws";
    case Scheme::Wss:
      return "wss";
  }
  return "tcp";
}

std::string Url::host_port() const {
  std::string out;
  if (host.find(':') != std::string::npos) {
    out.append("[").append(host).append("]");
  } else {
    out.append(host);
  }
  out.append(":").append(std::to_string(port));
  return out;
}

std::string Url::to_string() const {
  std::string out(scheme_name(scheme));
  out += "://";
  if (username) {
    percent_encode(*username, out);
    if (password) out += ":***";
    out += '@';
  }
  out += host_port();
  out += path;
  return out;
}

UrlResult parse_url(std::string_view text, std::string_view role) {
  if (text.empty()) {
    UrlResult result;
    result.error.append(role).append(" is empty: expected for example mqtt://localhost:1883");
    return result;
  }
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto byte = static_cast<unsigned char>(text[i]);
    if (byte <= 0x20 || byte == 0x7F) {
      return failure(role, text,
                     "contains a space or control character at position " + std::to_string(i + 1));
    }
  }

  // Scheme.
  const std::size_t colon = text.find(':');
  const std::string scheme = lower(text.substr(0, colon == std::string_view::npos ? 0 : colon));
  const SchemeName* known = nullptr;
  for (const SchemeName& candidate : kSchemes) {
    if (candidate.name == scheme) known = &candidate;
  }
  if (known == nullptr) {
    // "localhost:1883" has a port where a scheme's "//" would be.
    const bool port_follows =
        colon + 1 < text.size() && std::isdigit(static_cast<unsigned char>(text[colon + 1]));
    if (colon == std::string_view::npos || scheme.empty() || port_follows) {
      return failure(role, text,
                     "missing scheme: expected mqtt://, mqtts://, ws:// or wss:// before the host "
                     "(for example mqtt://localhost:1883)");
    }
    return failure(role, text, "unknown scheme '" + scheme + "': expected mqtt, mqtts, ws or wss");
  }
  if (text.substr(colon + 1, 2) != "//") {
    return failure(role, text, "expected '//' after the scheme");
  }

  Url url;
  url.scheme = known->scheme;
  url.port = default_port(url.scheme);
  const std::string_view rest = text.substr(colon + 3);
  const std::size_t authority_end = std::min(rest.find_first_of("/?#"), rest.size());
  const std::string_view authority = rest.substr(0, authority_end);
  const std::string_view tail = rest.substr(authority_end);

  // User and password. The last '@' ends them, so an unescaped '@' in a password still works.
  std::string_view host_port = authority;
  if (const std::size_t at = authority.rfind('@'); at != std::string_view::npos) {
    const std::string_view userinfo = authority.substr(0, at);
    host_port = authority.substr(at + 1);
    const std::size_t separator = userinfo.find(':');
    std::string decoded;
    std::string bad;
    if (!percent_decode(userinfo.substr(0, separator), decoded, bad)) {
      return failure(role, text, "invalid percent-escape '" + bad + "' in the user name");
    }
    url.username = decoded;
    if (separator != std::string_view::npos) {
      if (!percent_decode(userinfo.substr(separator + 1), decoded, bad)) {
        return failure(role, text, "invalid percent-escape in the password");
      }
      url.password = decoded;
    }
  }

  // Host, with IPv6 literals in brackets, and port.
  std::string_view port_text;
  bool has_port = false;
  if (!host_port.empty() && host_port.front() == '[') {
    const std::size_t close = host_port.find(']');
    if (close == std::string_view::npos) {
      return failure(role, text, "missing ']' after the IPv6 address");
    }
    url.host = std::string(host_port.substr(1, close - 1));
    in6_addr address{};
    if (inet_pton(AF_INET6, url.host.c_str(), &address) != 1) {
      return failure(role, text, "'" + url.host + "' is not a valid IPv6 address");
    }
    const std::string_view after = host_port.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        return failure(role, text,
                       "unexpected '" + std::string(after) + "' after the IPv6 address");
      }
      has_port = true;
      port_text = after.substr(1);
    }
  } else {
    const std::size_t port_colon = host_port.find(':');
    if (port_colon != std::string_view::npos &&
        host_port.find(':', port_colon + 1) != std::string_view::npos) {
      return failure(role, text, "an IPv6 address must be in brackets, as in mqtt://[::1]:1883");
    }
    url.host = std::string(host_port.substr(0, port_colon));
    if (port_colon != std::string_view::npos) {
      has_port = true;
      port_text = host_port.substr(port_colon + 1);
    }
    for (char c : url.host) {
      if (!is_host_char(c)) {
        return failure(role, text,
                       std::string("invalid character '") + c + "' in host '" + url.host + "'");
      }
    }
  }
  if (url.host.empty()) return failure(role, text, "missing host");
  if (has_port) {
    if (port_text.empty()) return failure(role, text, "missing port number after ':'");
    unsigned long port = 0;
    for (char c : port_text) {
      if (!std::isdigit(static_cast<unsigned char>(c))) {
        return failure(role, text, "port '" + std::string(port_text) + "' is not a number");
      }
      if (port <= 65535) port = port * 10 + static_cast<unsigned long>(c - '0');
    }
    if (port > 65535) {
      return failure(role, text,
                     "port " + std::string(port_text) + " is out of range (0 to 65535)");
    }
    url.port = static_cast<std::uint16_t>(port);
  }

  // Path: only WebSocket URLs have one.
  if (const std::size_t hash = tail.find('#'); hash != std::string_view::npos) {
    return failure(role, text, "unexpected fragment '" + std::string(tail.substr(hash)) + "'");
  }
  if (url.uses_websocket()) {
    if (tail.empty()) {
      url.path = "/mqtt";
    } else if (tail.front() == '?') {
      url.path = "/" + std::string(tail);
    } else {
      url.path = std::string(tail);
    }
  } else if (!tail.empty() && tail != "/") {
    return failure(role, text,
                   std::string(scheme_name(url.scheme)) + ":// URLs have no path ('" +
                       std::string(tail) + "'): paths are for ws:// and wss://");
  }
  UrlResult result;
  result.url = std::move(url);
  return result;
}

HttpUrlResult parse_http_url(std::string_view text, std::string_view role) {
  HttpUrlResult result;
  const auto fail = [&](const std::string& why) {
    result.error = std::string(role) + " " + std::string(text) + ": " + why;
    return result;
  };
  std::string_view rest;
  if (text.starts_with("http://")) {
    rest = text.substr(7);
  } else if (text.starts_with("https://")) {
    result.url.https = true;
    rest = text.substr(8);
  } else {
    return fail("expected http://HOST:PORT or https://HOST:PORT");
  }
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  std::size_t colon = rest.rfind(':');
  if (rest.starts_with('[')) {  // [::1]:8088
    const std::size_t close = rest.find(']');
    if (close == std::string_view::npos) return fail("no ']'");
    result.url.host = std::string(rest.substr(1, close - 1));
    colon = rest.size() > close + 1 && rest[close + 1] == ':' ? close + 1 : std::string_view::npos;
  } else {
    result.url.host = std::string(rest.substr(0, colon));
  }
  if (result.url.host.find('/') != std::string::npos) return fail("a listen URL has no path");
  if (colon != std::string_view::npos) {
    const std::string_view port = rest.substr(colon + 1);
    unsigned value = 0;
    const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (port.empty() || ec != std::errc() || end != port.data() + port.size() || value > 65535)
      return fail("port '" + std::string(port) + "' is not a number from 0 to 65535");
    result.url.port = static_cast<std::uint16_t>(value);
  } else {
    result.url.port = result.url.https ? 443 : 80;
  }
  if (result.url.host.empty()) return fail("no host");
  return result;
}

bool is_loopback_host(std::string_view host) {
  if (host == "localhost") return true;
  const std::string text(host);
  in_addr v4{};
  if (::inet_pton(AF_INET, text.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  return ::inet_pton(AF_INET6, text.c_str(), &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
}

}  // namespace psos::net
