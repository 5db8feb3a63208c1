// The connection flags of `psos pub` and `psos sub`, mapped onto client::ClientOptions.
#include "client_flags.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <limits>

namespace psos::cli {

void ClientFlags::add_to(CLI::App& app) {
  app.set_help_flag("--help", "Print this help and exit");
  app.add_option("--broker", broker,
                 "Broker URL: mqtt://, mqtts://, ws:// or wss://[user[:password]@]host[:port]"
                 "[/path] (default: $PSOS_BROKER, else mqtt://127.0.0.1:1883)");
  app.add_option("-h,--host", host, "Broker host (replaces the URL's host)");
  app.add_option("-p,--port", port, "Broker port (replaces the URL's port)")
      ->check(CLI::Range(1, 65535));
  app.add_option("-i,--id", id, "Client id (default: chosen by the broker)");
  app.add_flag("-c,--disable-clean-session", keep_session,
               "Persistent session: keep subscriptions and queued messages while disconnected "
               "(needs -i)");
  username_option_ = app.add_option("-u,--username", username, "User name");
  password_option_ = app.add_option("-P,--pw", password, "Password");
  app.add_option("-V,--protocol-version", version,
                 "MQTT version: mqttv5 (5, default) or mqttv311 (311)");
  app.add_option("-k,--keepalive", keep_alive, "Keep-alive in seconds (0: none; default 60)")
      ->check(CLI::Range(0, 65535));
  app.add_option("-x,--session-expiry-interval", session_expiry,
                 "MQTT v5 session expiry in seconds, or -1 for never (default: never with -c, "
                 "else 0)");
  app.add_option("-q,--qos", qos, "Quality of service: 0, 1 or 2 (default 0)")
      ->check(CLI::Range(0, 2));
  app.add_option("--will-topic", will_topic, "Topic of the last will, sent if the client dies");
  app.add_option("--will-payload", will_payload, "Payload of the last will");
  app.add_option("--will-qos", will_qos, "QoS of the last will")->check(CLI::Range(0, 2));
  app.add_flag("--will-retain", will_retain, "Retain the last will");
  app.add_option("--cafile", cafile, "PEM file of CAs to trust (turns on TLS: mqtts://)");
  app.add_option("--cert", cert, "PEM client certificate (turns on TLS)");
  app.add_option("--key", key, "PEM private key of --cert");
  app.add_flag("--insecure", insecure,
               "Do not verify the broker's certificate or host name (tests only)");
  app.add_flag("-d,--debug", debug, "Print debug messages on stderr");
}

std::string ClientFlags::make_options(client::ClientOptions& out) const {
  std::string text = broker;
  if (text.empty()) {
    const char* env = std::getenv("PSOS_BROKER");
    text = env != nullptr && *env != '\0' ? env : "mqtt://127.0.0.1:1883";
  }
  net::UrlResult parsed = net::parse_url(text);
  if (!parsed.ok()) return parsed.error;
  net::Url url = std::move(parsed.url);
  const bool tls_asked = !cafile.empty() || !cert.empty() || insecure;
  if (tls_asked && !url.uses_tls()) {
    // As with mosquitto_pub: giving a CA file means TLS, on 8883 unless a port is named.
    const bool default_port = url.port == net::default_port(url.scheme);
    url.scheme = url.scheme == net::Scheme::Ws ? net::Scheme::Wss : net::Scheme::Mqtts;
    if (default_port) url.port = net::default_port(url.scheme);
  }
  if (!host.empty()) url.host = host;
  if (port != 0) url.port = static_cast<std::uint16_t>(port);
  out.url = url;

  out.tls.ca_file = cafile;
  out.tls.certificate_file = cert;
  out.tls.key_file = key.empty() ? cert : key;
  out.tls.insecure = insecure;
  if (!key.empty() && cert.empty()) return "--key needs --cert";

  client::SessionOptions& s = out.session;
  if (version == "5" || version == "mqttv5") {
    s.version = mqtt::Version::v5;
  } else if (version == "311" || version == "mqttv311") {
    s.version = mqtt::Version::v311;
  } else if (version == "31" || version == "mqttv31") {
    return "MQTT 3.1 (-V " + version + ") is not supported: use mqttv311 or mqttv5";
  } else {
    return "unknown protocol version '" + version + "': use mqttv5 (5) or mqttv311 (311)";
  }
  s.client_id = id;
  s.clean_start = !keep_session;
  if (keep_session && id.empty())
    return "a persistent session (-c) needs a client id (-i): the session is found by it";
  s.keep_alive = static_cast<std::uint16_t>(keep_alive);
  s.session_expiry_interval = keep_session ? std::numeric_limits<std::uint32_t>::max() : 0;
  if (!session_expiry.empty()) {
    if (session_expiry == "-1" || session_expiry == "inf" || session_expiry == "∞") {
      s.session_expiry_interval = std::numeric_limits<std::uint32_t>::max();
    } else {
      char* end = nullptr;
      const unsigned long long v = std::strtoull(session_expiry.c_str(), &end, 10);
      if (end == session_expiry.c_str() || *end != '\0' || session_expiry[0] == '-' ||
          v > std::numeric_limits<std::uint32_t>::max())
        return "-x: expected seconds (0 to 4294967295) or -1 for never, not '" + session_expiry +
               "'";
      s.session_expiry_interval = static_cast<std::uint32_t>(v);
    }
  }
  if (username_option_ != nullptr && username_option_->count() > 0) {
    s.username = username;
  } else if (url.username) {
    s.username = url.username;
  }
  if (password_option_ != nullptr && password_option_->count() > 0) {
    s.password = password;
  } else if (url.password) {
    s.password = url.password;
  }
  if (s.password && !s.username && s.version == mqtt::Version::v311)
    return "MQTT 3.1.1 does not allow a password (-P) without a user name (-u)";
  if (!will_topic.empty()) {
    client::Will will;
    will.message.topic = will_topic;
    will.message.payload = will_payload;
    will.message.qos = static_cast<mqtt::QoS>(will_qos);
    will.message.retain = will_retain;
    s.will = std::move(will);
  } else if (!will_payload.empty()) {
    return "--will-payload needs --will-topic";
  }
  // As mosquitto_pub and mosquitto_sub: a first connection that fails is reported, not retried.
  out.reconnect.retry_first_connect = false;
  out.reconnect.retry_on_refusal = false;
  out.reconnect.initial_delay = std::chrono::milliseconds(100);
  out.reconnect.max_delay = std::chrono::milliseconds(5'000);
  return {};
}

void setup_client_logging(bool debug) {
  spdlog::set_default_logger(spdlog::stderr_color_mt("psos"));
  spdlog::set_level(debug ? spdlog::level::debug : spdlog::level::warn);
}

std::string describe_url(const client::ClientOptions& options) {
  return options.url.to_string();
}

}  // namespace psos::cli
