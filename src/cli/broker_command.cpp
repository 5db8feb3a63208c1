// `psos broker`: parses the options, opens the listeners and runs the router until a signal.
#include "broker_command.hpp"

#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdio>

#include "listeners/listener_set.hpp"
#include "net/url.hpp"
#include "router/persist.hpp"
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
      "Limits: QoS 1/2 messages for an offline or slow session beyond --max-queued are dropped\n"
      "and counted in $SYS/broker/messages/dropped (the oldest are kept); a publisher whose\n"
      "subscribers cannot keep up is not read from until they catch up.\n"
      "Ctrl-C (SIGINT) or SIGTERM stops the broker cleanly.");
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
  app_->add_option("--log-level", log_level_, "trace, debug, info, warn, error")
      ->capture_default_str()
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));
}

bool BrokerCommand::selected() const {
  return app_->parsed();
}

int BrokerCommand::run() const {
  spdlog::set_level(spdlog::level::from_str(log_level_));
  router::RouterOptions options;
  options.sys_interval_seconds = sys_interval_;
  options.limits.max_connections = max_connections_;
  options.limits.max_packet_size = max_packet_size_;
  options.limits.max_queued_messages = max_queued_;
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
    options.store = router::Store::open(data_, error);
    if (!options.store) {
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
  listeners.start();
  for (const net::Url& url : listeners.urls())
    std::printf("psos broker listening on %s\n", url.to_string().c_str());
  std::fflush(stdout);

  asio::signal_set signals(io, SIGINT, SIGTERM);
  asio::steady_timer deadline(io);
  signals.async_wait([&](const boost::system::error_code& ec, int signal) {
    if (ec) return;
    spdlog::info("{}: stopping", signal == SIGINT ? "SIGINT" : "SIGTERM");
    listeners.stop();
    router.close_all(mqtt::ReasonCode::ServerShuttingDown);
    router.shutdown();
    // Connections get a moment to flush their DISCONNECT; then the loop stops regardless.
    deadline.expires_after(std::chrono::seconds(2));
    deadline.async_wait([&](const boost::system::error_code&) { io.stop(); });
  });
  io.run();
  std::printf("psos broker stopped\n");
  return 0;
}

}  // namespace psos::cli
