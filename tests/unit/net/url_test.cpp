// parse_url: every accepted form, every error message, and the redaction of passwords.
#include "net/url.hpp"

#include <gtest/gtest.h>

namespace psos::net {
namespace {

Url parse_ok(std::string_view text) {
  UrlResult result = parse_url(text);
  EXPECT_TRUE(result.ok()) << text << ": " << result.error;
  return result.url;
}

std::string parse_error(std::string_view text, std::string_view role = "broker URL") {
  UrlResult result = parse_url(text, role);
  EXPECT_FALSE(result.ok()) << text << " parsed";
  return result.error;
}

TEST(Url, MqttWithDefaults) {
  const Url url = parse_ok("mqtt://localhost");
  EXPECT_EQ(url.scheme, Scheme::Mqtt);
  EXPECT_EQ(url.host, "localhost");
  EXPECT_EQ(url.port, 1883);
  EXPECT_FALSE(url.username);
  EXPECT_FALSE(url.password);
  EXPECT_EQ(url.path, "");
  EXPECT_EQ(url.transport(), "tcp");
  EXPECT_FALSE(url.uses_tls());
  EXPECT_FALSE(url.uses_websocket());
  EXPECT_EQ(url.to_string(), "mqtt://localhost:1883");
}

TEST(Url, DefaultPortsAndTransports) {
  EXPECT_EQ(parse_ok("mqtts://h").port, 8883);
  EXPECT_EQ(parse_ok("ws://h").port, 80);
  EXPECT_EQ(parse_ok("wss://h").port, 443);
  EXPECT_EQ(parse_ok("mqtts://h").transport(), "tls");
  EXPECT_EQ(parse_ok("ws://h").transport(), "ws");
  EXPECT_EQ(parse_ok("wss://h").transport(), "wss");
  EXPECT_TRUE(parse_ok("wss://h").uses_tls());
  EXPECT_TRUE(parse_ok("wss://h").uses_websocket());
}

TEST(Url, AliasesAndCaseInsensitiveScheme) {
  EXPECT_EQ(parse_ok("tcp://h").scheme, Scheme::Mqtt);
  EXPECT_EQ(parse_ok("ssl://h").scheme, Scheme::Mqtts);
  EXPECT_EQ(parse_ok("MQTTS://h").scheme, Scheme::Mqtts);
  EXPECT_EQ(parse_ok("ssl://h:1").to_string(), "mqtts://h:1");
}

TEST(Url, ExplicitPortAndTrailingSlash) {
  const Url url = parse_ok("mqtt://192.168.1.5:2883/");
  EXPECT_EQ(url.host, "192.168.1.5");
  EXPECT_EQ(url.port, 2883);
  EXPECT_EQ(parse_ok("mqtt://h:0").port, 0);
  EXPECT_EQ(parse_ok("mqtt://h:65535").port, 65535);
}

TEST(Url, UserAndPassword) {
  const Url url = parse_ok("mqtt://alice:s3cret@broker.example:1884");
  EXPECT_EQ(url.username, "alice");
  EXPECT_EQ(url.password, "s3cret");
  EXPECT_EQ(url.host, "broker.example");
  EXPECT_EQ(url.to_string(), "mqtt://alice:***@broker.example:1884");

  const Url user_only = parse_ok("mqtt://bob@h");
  EXPECT_EQ(user_only.username, "bob");
  EXPECT_FALSE(user_only.password);
  EXPECT_EQ(user_only.to_string(), "mqtt://bob@h:1883");

  const Url empty_password = parse_ok("mqtt://bob:@h");
  EXPECT_EQ(empty_password.password, "");
}

TEST(Url, PercentDecodingOfUserAndPassword) {
  const Url url = parse_ok("mqtt://us%40er:p%3Aa%2Fss%25@h");
  EXPECT_EQ(url.username, "us@er");
  EXPECT_EQ(url.password, "p:a/ss%");
  EXPECT_EQ(url.to_string(), "mqtt://us%40er:***@h:1883");
  // An unescaped '@' in a password: the last '@' ends the user information.
  EXPECT_EQ(parse_ok("mqtt://u:p@ss@h").password, "p@ss");
}

TEST(Url, Ipv6Literals) {
  const Url url = parse_ok("mqtt://[::1]:1883");
  EXPECT_EQ(url.host, "::1");
  EXPECT_EQ(url.port, 1883);
  EXPECT_EQ(url.host_port(), "[::1]:1883");
  EXPECT_EQ(url.to_string(), "mqtt://[::1]:1883");
  EXPECT_EQ(parse_ok("ws://[2001:db8::7]/x").host, "2001:db8::7");
  EXPECT_EQ(parse_ok("mqtt://[::]").port, 1883);
}

TEST(Url, WebSocketPaths) {
  EXPECT_EQ(parse_ok("ws://h").path, "/mqtt");
  EXPECT_EQ(parse_ok("ws://h/").path, "/");
  EXPECT_EQ(parse_ok("ws://h:8080/mqtt").path, "/mqtt");
  EXPECT_EQ(parse_ok("wss://h/a/b?x=1&y=2").path, "/a/b?x=1&y=2");
  EXPECT_EQ(parse_ok("ws://h?token=t").path, "/?token=t");
  EXPECT_EQ(parse_ok("ws://h:8080/ws").to_string(), "ws://h:8080/ws");
}

TEST(Url, Errors) {
  EXPECT_EQ(parse_error(""), "broker URL is empty: expected for example mqtt://localhost:1883");
  EXPECT_EQ(parse_error("mqtt:/x"), "broker URL 'mqtt:/x': expected '//' after the scheme");
  EXPECT_EQ(parse_error("localhost"),
            "broker URL 'localhost': missing scheme: expected mqtt://, mqtts://, ws:// or wss:// "
            "before the host (for example mqtt://localhost:1883)");
  EXPECT_NE(parse_error("localhost:1883").find("missing scheme"), std::string::npos);
  EXPECT_NE(parse_error("://h").find("missing scheme"), std::string::npos);
  EXPECT_EQ(parse_error("http://h"),
            "broker URL 'http://h': unknown scheme 'http': expected mqtt, mqtts, ws or wss");
  EXPECT_EQ(parse_error("mqtt://"), "broker URL 'mqtt://': missing host");
  EXPECT_EQ(parse_error("mqtt://:1883"), "broker URL 'mqtt://:1883': missing host");
  EXPECT_EQ(parse_error("mqtt://u@"), "broker URL 'mqtt://u@': missing host");
  EXPECT_EQ(parse_error("mqtt://h:"), "broker URL 'mqtt://h:': missing port number after ':'");
  EXPECT_EQ(parse_error("mqtt://h:x1"), "broker URL 'mqtt://h:x1': port 'x1' is not a number");
  EXPECT_EQ(parse_error("mqtt://h:65536"),
            "broker URL 'mqtt://h:65536': port 65536 is out of range (0 to 65535)");
  EXPECT_EQ(parse_error("mqtt://h:99999999999999999999"),
            "broker URL 'mqtt://h:99999999999999999999': port 99999999999999999999 is out of "
            "range (0 to 65535)");
  EXPECT_EQ(parse_error("mqtt://::1"),
            "broker URL 'mqtt://::1': an IPv6 address must be in brackets, as in "
            "mqtt://[::1]:1883");
  EXPECT_EQ(parse_error("mqtt://[::1"),
            "broker URL 'mqtt://[::1': missing ']' after the IPv6 address");
  EXPECT_EQ(parse_error("mqtt://[zz::1]"),
            "broker URL 'mqtt://[zz::1]': 'zz::1' is not a valid IPv6 address");
  EXPECT_EQ(parse_error("mqtt://[::1]x"),
            "broker URL 'mqtt://[::1]x': unexpected 'x' after the IPv6 address");
  EXPECT_EQ(parse_error("mqtt://h^st"),
            "broker URL 'mqtt://h^st': invalid character '^' in host 'h^st'");
  EXPECT_EQ(parse_error("mqtt://h/topic"),
            "broker URL 'mqtt://h/topic': mqtt:// URLs have no path ('/topic'): paths are for "
            "ws:// and wss://");
  EXPECT_EQ(parse_error("mqtts://h?x"),
            "broker URL 'mqtts://h?x': mqtts:// URLs have no path ('?x'): paths are for ws:// and "
            "wss://");
  EXPECT_EQ(parse_error("ws://h/p#frag"),
            "broker URL 'ws://h/p#frag': unexpected fragment '#frag'");
  EXPECT_EQ(parse_error("mqtt://h st"),
            "broker URL 'mqtt://h st': contains a space or control character at position 9");
  EXPECT_EQ(parse_error("mqtt://u%4@h"),
            "broker URL 'mqtt://u%4@h': invalid percent-escape '%4' in the user name");
  EXPECT_EQ(parse_error("mqtt://u%zz@h"),
            "broker URL 'mqtt://u%zz@h': invalid percent-escape '%zz' in the user name");
}

TEST(Url, ErrorsNeverShowThePassword) {
  const std::string error = parse_error("mqtt://alice:hunter2@h:port");
  EXPECT_EQ(error, "broker URL 'mqtt://alice:***@h:port': port 'port' is not a number");
  EXPECT_EQ(parse_error("mqtt://alice:%zz@h"),
            "broker URL 'mqtt://alice:***@h': invalid percent-escape in the password");
}

TEST(Url, RoleNamesTheUrl) {
  EXPECT_EQ(parse_error("mqtt:/x", "listener URL"),
            "listener URL 'mqtt:/x': expected '//' after the scheme");
}

}  // namespace
}  // namespace psos::net
