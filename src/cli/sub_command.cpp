// `psos sub`: option parsing, subscribing and printing what arrives.
#include "sub_command.hpp"

#include <CLI/CLI.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <csignal>
#include <cstdio>

#include "mqtt/topic.hpp"

namespace psos::cli {
namespace {

namespace asio = boost::asio;
using client::Client;
using client::error_code;

constexpr int kTimedOut = 27;  // mosquitto_sub's exit status for -W (ETIMEDOUT)

constexpr const char* kFooter = R"(
Subscribes to each -t filter at the broker at --broker (default $PSOS_BROKER,
else mqtt://127.0.0.1:1883; -h and -p replace its host and port; --cafile,
--cert or --insecure turn on TLS) and prints every message received, one per
line: the payload, or "topic payload" with -v.

-F FORMAT prints each message as FORMAT says: %t topic, %p payload, %q QoS,
%r retained (0 or 1), %l payload length, %x payload in hex, %% a '%';
\n \t \r \\ as in C.

-c -i ID keeps a persistent session (MQTT v5 session expiry: never unless -x):
messages published to its subscriptions while psos sub is away are delivered
when it comes back. -U FILTER removes such a subscription.

The first connection is not retried: if it fails, psos sub says why and exits.
Once connected, it reconnects after a lost connection.

Exit status: 0 done (-C count reached, -E, interrupted), 1 error (connection,
authentication, TLS, every subscription refused, bad usage), 27 -W timed out.

Examples:
  psos sub -t 'greenhouse/#' -v
  psos sub -t sensors/raw -C 1 -W 10
  psos sub -c -i archive -q 1 -t 'sensors/#'
  psos sub -t '+/dht' -F '%t: %p')";

int fail(const std::string& message) {
  std::fprintf(stderr, "psos sub: %s\n", message.c_str());
  return 1;
}

std::string connect_failure(const Client& client, const client::ClientOptions& options) {
  std::string text = client.last_error();
  if (text.empty()) text = "could not connect to " + describe_url(options);
  // The client's words are about its options; name the flag.
  if (text.ends_with("as the CA file")) text += " (--cafile FILE)";
  return text;
}

// -F's escapes: \n \t \r \\ (anything else after '\' is kept as it is).
std::string unescape(const std::string& format) {
  std::string out;
  for (std::size_t i = 0; i < format.size(); ++i) {
    if (format[i] != '\\' || i + 1 == format.size()) {
      out += format[i];
      continue;
    }
    switch (format[++i]) {
      case 'n':
        out += '\n';
        break;
      case 't':
        out += '\t';
        break;
      case 'r':
        out += '\r';
        break;
      case '\\':
        out += '\\';
        break;
      default:
        out += '\\';
        out += format[i];
    }
  }
  return out;
}

}  // namespace

SubCommand::SubCommand(CLI::App& parent)
    : app_(parent.add_subcommand(
          "sub", "Subscribe and print the messages received (like mosquitto_sub)")) {
  app_->footer(kFooter);
  flags_.add_to(*app_);
  app_->add_option("-t,--topic", topics_, "Topic filter to subscribe to (repeatable)");
  app_->add_option("-T,--filter-out", filter_out_,
                   "Do not print messages whose topic matches this filter (repeatable)");
  app_->add_option("-U,--unsubscribe", unsubscribe_,
                   "Unsubscribe from this filter first (for a persistent session; repeatable)");
  app_->add_flag("-v,--verbose", verbose_, "Print the topic before each payload");
  app_->add_option("-C,--count", count_, "Exit after this many messages")
      ->check(CLI::PositiveNumber);
  app_->add_option("-W,--timeout", timeout_,
                   "Exit with status 27 after this many seconds (from connecting)")
      ->check(CLI::PositiveNumber);
  app_->add_flag("-R", no_retained_, "Do not print stale (retained) messages");
  app_->add_flag("-N", no_newline_, "Do not end each message with a newline");
  app_->add_option("-F", format_, "Output format (see below)");
  app_->add_flag("-E", exit_after_subscribe_, "Exit once subscribed");
}

bool SubCommand::selected() const {
  return app_->parsed();
}

std::string SubCommand::render(const client::Message& m) const {
  std::string out;
  if (!format_.empty()) {
    static constexpr char kHex[] = "0123456789abcdef";
    const std::string format = unescape(format_);
    for (std::size_t i = 0; i < format.size(); ++i) {
      if (format[i] != '%' || i + 1 == format.size()) {
        out += format[i];
        continue;
      }
      switch (format[++i]) {
        case 't':
          out += m.topic;
          break;
        case 'p':
          out += m.payload;
          break;
        case 'q':
          out += std::to_string(static_cast<int>(m.qos));
          break;
        case 'r':
          out += m.retain ? '1' : '0';
          break;
        case 'l':
          out += std::to_string(m.payload.size());
          break;
        case 'x':
          for (const unsigned char c : m.payload) {
            out += kHex[c >> 4];
            out += kHex[c & 0xF];
          }
          break;
        case '%':
          out += '%';
          break;
        default:
          out += '%';
          out += format[i];
      }
    }
  } else if (verbose_) {
    out = m.topic + " " + (m.payload.empty() ? std::string("(null)") : m.payload);
  } else {
    out = m.payload;
  }
  if (!no_newline_) out += '\n';
  return out;
}

int SubCommand::run() {
  setup_client_logging(flags_.debug);
  client::ClientOptions options;
  if (std::string error = flags_.make_options(options); !error.empty()) return fail(error);
  if (topics_.empty() && unsubscribe_.empty())
    return fail("give a topic filter to subscribe to with -t (or -U to unsubscribe)");
  for (const auto* list : {&topics_, &filter_out_, &unsubscribe_}) {
    for (const std::string& f : *list) {
      if (mqtt::Error e = mqtt::validate_topic_filter(f); e)
        return fail("invalid topic filter '" + f + "': " + e.message);
    }
  }

  asio::io_context io;
  Client client(io.get_executor(), options);
  asio::steady_timer done(io, asio::steady_timer::time_point::max());
  asio::steady_timer timeout(io);
  bool finished = false;
  bool stopping = false;
  int status = 0;
  std::string error;
  int received = 0;

  auto finish = [&](int code, std::string why) {
    if (finished) return;
    finished = true;
    status = code;
    error = std::move(why);
    done.cancel();
  };
  client.on_state([&](client::State state, const std::string& reason) {
    if (flags_.debug) {
      std::fprintf(stderr, "psos sub: %s%s%s\n", std::string(client::to_string(state)).c_str(),
                   reason.empty() ? "" : ": ", reason.c_str());
    }
    if (state == client::State::Stopped && !stopping)
      finish(1, reason.empty() ? client.last_error() : reason);
  });
  client.on_message([&](const client::MessagePtr& message) {
    if (finished) return;
    if (no_retained_ && message->retain) return;
    for (const std::string& f : filter_out_) {
      if (mqtt::topic_matches(f, message->topic)) return;
    }
    const std::string text = render(*message);
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
    if (count_ > 0 && ++received >= count_) finish(0, {});
  });
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const error_code& ec, int) {
    if (ec) return;
    finish(0, {});
    // Not connected: the coroutine may be waiting for a connection that is not coming.
    if (client.state() != client::State::Connected && !stopping) {
      stopping = true;
      asio::co_spawn(io, client.stop(), asio::detached);
    }
  });

  auto body = [&]() -> asio::awaitable<int> {
    client.start();
    if (co_await client.wait_connected()) {
      if (finished && status == 0) co_return 0;  // interrupted while connecting
      co_return fail(connect_failure(client, options));
    }
    if (timeout_ > 0) {
      timeout.expires_after(std::chrono::seconds(timeout_));
      timeout.async_wait([&](const error_code& ec) {
        if (!ec) finish(kTimedOut, {});
      });
    }
    for (const std::string& f : unsubscribe_) {
      auto [ec] = co_await client.unsubscribe(f, asio::as_tuple(asio::use_awaitable));
      if (ec && !finished)
        std::fprintf(stderr, "psos sub: cannot unsubscribe from '%s': %s\n", f.c_str(),
                     ec.message().c_str());
    }
    int granted = 0;
    for (const std::string& f : topics_) {
      client::SubscribeOptions so;
      so.qos = static_cast<mqtt::QoS>(flags_.qos);
      auto [ec, subscription] =
          co_await client.subscribe(f, so, asio::as_tuple(asio::use_awaitable));
      if (!ec) {
        ++granted;
        if (flags_.debug)
          std::fprintf(stderr, "psos sub: subscribed to '%s' (QoS %d)\n", f.c_str(), flags_.qos);
        // Messages are printed by on_message (once each, whatever filters match them).
        subscription.close();
      } else if (!finished) {
        std::fprintf(stderr, "psos sub: the broker refused the subscription to '%s': %s\n",
                     f.c_str(), ec.message().c_str());
      }
    }
    if (!topics_.empty() && granted == 0) finish(1, "every subscription was refused");
    if (exit_after_subscribe_) finish(0, {});
    while (!finished) {
      done.expires_at(asio::steady_timer::time_point::max());
      co_await done.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    timeout.cancel();
    stopping = true;
    co_await client.stop();
    if (status == 1) co_return fail(error);
    co_return status;
  };
  asio::co_spawn(io, body(), [&](std::exception_ptr e, int result) {
    signals.cancel();
    timeout.cancel();
    if (e) {
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& x) {
        status = fail(x.what());
        return;
      }
    }
    status = result;
  });
  io.run();
  return status;
}

}  // namespace psos::cli
