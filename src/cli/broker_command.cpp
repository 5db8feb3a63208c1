// `psos broker`: parses the options, opens the listeners and runs the router until a signal.
#include "broker_command.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>

#include "listeners/listener_set.hpp"
#include "net/url.hpp"
#include "router/persistence.hpp"
#include "router/router.hpp"
#include "router/security/acl.hpp"
#include "router/security/password_file.hpp"
#include "router/security/security_file.hpp"

namespace psos::cli {

namespace asio = boost::asio;

BrokerCommand::BrokerCommand(CLI::App& parent) {
  app_ =
      parent.add_subcommand("broker", "Run an MQTT broker: a router with listeners, no services");
  app_->footer(
      "Listeners are URLs: mqtt://HOST:PORT, mqtts://HOST:PORT, ws://HOST:PORT/PATH, "
      "wss://HOST:PORT/PATH\n(IPv6: mqtt://[::]:1883; port 0 picks a free port). Without "
      "--listen: mqtt://127.0.0.1:1883.\n"
      "Limits: QoS 1/2 messages for an offline or slow session beyond --max-queued are refused\n"
      "(the oldest are kept; an MQTT 5 publisher gets PUBACK 0x97 Quota exceeded) and counted\n"
      "in $SYS/broker/messages/dropped; a publisher whose subscribers cannot keep up is not\n"
      "read from until they catch up.\n"
      "Keep alive: an MQTT 5 client that asks for more than --max-keepalive, or for 0 (none), is\n"
      "told the limit in CONNACK (Server Keep Alive) and disconnected after 1.5 times it without\n"
      "a packet; an MQTT 3.1.1 client cannot be told and keeps its own (as with Mosquitto).\n"
      "Ctrl-C (SIGINT) or SIGTERM stops the broker cleanly.");
  app_->add_option("-c,--config", config_,
                   "JSON file with any of the settings below, named as the long options without "
                   "'--' (\"listen\" is a list); the command line wins")
      ->check(CLI::ExistingFile);
  app_->add_option("-l,--listen", listen_, "Listener URL (repeatable)");
  app_->add_option("--passwd", passwd_, "Password file (see psos passwd); clients must log in")
      ->check(CLI::ExistingFile);
  app_->add_flag("--allow-anonymous", allow_anonymous_,
                 "With --passwd, also accept clients that send no user name");
  app_->add_option("--acl", acl_, "ACL file (docs/security.md); without one, all is allowed")
      ->check(CLI::ExistingFile);
  app_->add_option("--data", data_,
                   "Directory for retained messages and persistent sessions (SQLite); without "
                   "it they live in memory only");
  app_->add_option("--cert", tls_cert_, "TLS certificate chain (PEM) for mqtts:// and wss://");
  app_->add_option("--key", tls_key_, "TLS private key (PEM) for mqtts:// and wss://");
  app_->add_option("--cafile", tls_ca_, "CA certificates (PEM) that issue client certificates");
  app_->add_flag("--require-certificate", require_certificate_,
                 "Refuse TLS clients without a certificate issued by --cafile");
  app_->add_option("--sys-interval", sys_interval_, "Seconds between $SYS updates (0: none)")
      ->capture_default_str();
  app_->add_option("--max-connections", max_connections_, "Most clients connected at once")
      ->capture_default_str();
  app_->add_option("--max-packet-size", max_packet_size_, "Largest packet accepted, in bytes")
      ->capture_default_str();
  app_->add_option("--max-queued", max_queued_, "QoS 1/2 messages queued per session")
      ->capture_default_str();
  app_->add_option("--max-keepalive", max_keep_alive_,
                   "Longest keep alive, in seconds, for MQTT 5 clients (0: no limit); see below")
      ->capture_default_str();
  app_->add_option("--log-level", log_level_, "trace, debug, info, warn, error")
      ->capture_default_str()
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));
}

bool BrokerCommand::selected() const {
  return app_->parsed();
}

namespace {

// Reads the --config file into the settings the command line did not give. Paths in it are
// relative to the file. Returns an error message, empty on success.
std::string apply_config(
    const std::string& path, const CLI::App& app,
    const std::function<std::string(const std::string&, const nlohmann::json&)>& set) {
  std::ifstream in(path);
  nlohmann::json config;
  try {
    config = nlohmann::json::parse(in, nullptr, true, /*ignore_comments=*/true);
  } catch (const nlohmann::json::parse_error& e) {
    return path + ": not valid JSON: " + e.what();
  }
  if (!config.is_object()) return path + ": expected a JSON object of settings";
  for (const auto& [key, value] : config.items()) {
    const CLI::Option* option = nullptr;
    try {
      option = app.get_option("--" + key);
    } catch (const CLI::OptionNotFound&) {
      return path + ": unknown setting \"" + key + "\" (see psos help broker)";
    }
    if (option->count() > 0) continue;  // given on the command line
    if (std::string error = set(key, value); !error.empty())
      return path + ": \"" + key + "\": " + error;
  }
  return {};
}

}  // namespace

int BrokerCommand::run() {
  if (!config_.empty()) {
    const std::filesystem::path base = std::filesystem::path(config_).parent_path();
    const auto file = [&](const nlohmann::json& v, std::string& out) -> std::string {
      if (!v.is_string()) return "expected a file name (a string)";
      const std::filesystem::path p(v.get<std::string>());
      out = (p.is_absolute() ? p : base / p).string();
      return {};
    };
    const auto text = [](const nlohmann::json& v, std::string& out) -> std::string {
      if (!v.is_string()) return "expected a string";
      out = v.get<std::string>();
      return {};
    };
    const auto flag = [](const nlohmann::json& v, bool& out) -> std::string {
      if (!v.is_boolean()) return "expected true or false";
      out = v.get<bool>();
      return {};
    };
    const auto number = [](const nlohmann::json& v, auto& out) -> std::string {
      using T = std::remove_reference_t<decltype(out)>;
      if (!v.is_number_unsigned() || v.get<std::uint64_t>() > std::numeric_limits<T>::max())
        return "expected a whole number from 0 to " + std::to_string(std::numeric_limits<T>::max());
      out = v.get<T>();
      return {};
    };
    const std::string error = apply_config(
        config_, *app_, [&](const std::string& key, const nlohmann::json& v) -> std::string {
          if (key == "listen") {
            if (!v.is_array()) return "expected a list of listener URLs";
            listen_.clear();
            for (const auto& url : v) {
              if (!url.is_string()) return "expected a list of listener URLs (strings)";
              listen_.push_back(url.get<std::string>());
            }
            return {};
          }
          if (key == "passwd") return file(v, passwd_);
          if (key == "acl") return file(v, acl_);
          if (key == "data") return file(v, data_);
          if (key == "cert") return file(v, tls_cert_);
          if (key == "key") return file(v, tls_key_);
          if (key == "cafile") return file(v, tls_ca_);
          if (key == "allow-anonymous") return flag(v, allow_anonymous_);
          if (key == "require-certificate") return flag(v, require_certificate_);
          if (key == "sys-interval") return number(v, sys_interval_);
          if (key == "max-connections") return number(v, max_connections_);
          if (key == "max-packet-size") return number(v, max_packet_size_);
          if (key == "max-queued") return number(v, max_queued_);
          if (key == "max-keepalive") return number(v, max_keep_alive_);
          if (key == "log-level") {
            std::string level;
            if (std::string e = text(v, level); !e.empty()) return e;
            if (level != "trace" && level != "debug" && level != "info" && level != "warn" &&
                level != "error")
              return "expected one of trace, debug, info, warn, error";
            log_level_ = level;
            return {};
          }
          return "cannot be set in a config file";
        });
    if (!error.empty()) {
      std::fprintf(stderr, "psos broker: %s\n", error.c_str());
      return 1;
    }
  }
  // Logs go to standard error, line by line; standard output carries the listening URLs.
  spdlog::set_default_logger(spdlog::stderr_color_mt("psos"));
  spdlog::set_level(spdlog::level::from_str(log_level_));
  router::RouterOptions options;
  options.sys_interval_seconds = sys_interval_;
  options.limits.max_connections = max_connections_;
  options.limits.max_packet_size = max_packet_size_;
  options.limits.max_queued_messages = max_queued_;
  options.limits.max_keep_alive = max_keep_alive_;
  options.allow_anonymous = allow_anonymous_;
  try {
    if (!passwd_.empty())
      options.passwords =
          std::make_shared<router::PasswordFile>(router::PasswordFile::load(passwd_));
    if (!acl_.empty()) options.acl = std::make_shared<router::Acl>(router::Acl::load(acl_));
  } catch (const router::SecurityFileError& e) {
    std::fprintf(stderr, "psos broker: %s\n", e.what());
    return 1;
  }
  if (!data_.empty()) {
    std::string error;
    options.persistence = router::Persistence::open(data_, error);
    if (!options.persistence) {
      std::fprintf(stderr, "psos broker: %s\n", error.c_str());
      return 1;
    }
  }

  asio::io_context io(1);
  router::Router router(io.get_executor(), options);
  listeners::ListenerSet listeners(io.get_executor(), router);
  net::TlsServerOptions tls{tls_cert_, tls_key_, tls_ca_, require_certificate_};
  std::vector<std::string> urls = listen_;
  if (urls.empty()) urls.push_back("mqtt://127.0.0.1:1883");
  for (const std::string& text : urls) {
    const net::UrlResult parsed = net::parse_url(text, "listener URL");
    if (!parsed.ok()) {
      std::fprintf(stderr, "psos broker: %s\n", parsed.error.c_str());
      return 1;
    }
    if (parsed.url.uses_tls() && (tls_cert_.empty() || tls_key_.empty())) {
      std::fprintf(stderr, "psos broker: listener %s needs --cert and --key\n", text.c_str());
      return 1;
    }
    if (const std::string error = listeners.add(parsed.url, tls); !error.empty()) {
      std::fprintf(stderr, "psos broker: %s\n", error.c_str());
      return 1;
    }
  }
  // Before the "listening" line: whoever reads it may send a signal at once.
  asio::signal_set signals(io, SIGINT, SIGTERM);
  listeners.start();
  for (const net::Url& url : listeners.urls())
    std::printf("psos broker listening on %s\n", url.to_string().c_str());
  std::fflush(stdout);

  asio::steady_timer poll(io);
  std::chrono::steady_clock::time_point give_up;
  // Stops the loop once every connection is gone (each has flushed its DISCONNECT), or after
  // 2 s whatever remains (a client that does not read).
  std::function<void(const boost::system::error_code&)> stop_when_closed =
      [&](const boost::system::error_code&) {
        if (router.connected_count() == 0 || std::chrono::steady_clock::now() >= give_up)
          return io.stop();
        poll.expires_after(std::chrono::milliseconds(10));
        poll.async_wait(stop_when_closed);
      };
  signals.async_wait([&](const boost::system::error_code& ec, int signal) {
    if (ec) return;
    spdlog::info("{}: stopping", signal == SIGINT ? "SIGINT" : "SIGTERM");
    listeners.stop();
    router.close_all(mqtt::ReasonCode::ServerShuttingDown);
    router.shutdown();
    give_up = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    poll.expires_after(std::chrono::milliseconds(10));
    poll.async_wait(stop_when_closed);
  });
  io.run();
  std::printf("psos broker stopped\n");
  return 0;
}

}  // namespace psos::cli
