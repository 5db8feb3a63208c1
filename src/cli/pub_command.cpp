// `psos pub`: option parsing, the message sources (-m -f -n -s -l) and the publishing loop.
#include "pub_command.hpp"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cerrno>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>
#include <thread>

#include "mqtt/topic.hpp"

namespace psos::cli {
namespace {

namespace asio = boost::asio;
using client::Client;
using client::error_code;

constexpr const char* kFooter = R"(
Publishes to the broker at --broker (default $PSOS_BROKER, else
mqtt://127.0.0.1:1883); -h and -p replace its host and port. --cafile, --cert
or --insecure turn on TLS (mqtts://, port 8883 unless one is given).

The message is one of: -m TEXT, -f FILE (whole file), -s (standard input, whole),
-n (empty message) or -l (one message per line of standard input). With -l the
connection is kept and re-established if the broker goes away: QoS 1 and 2
messages are kept and sent again until the broker has them; at the end of the
input psos pub waits until every message is acknowledged, then disconnects.

The first connection is not retried: if it fails, psos pub says why and exits.
Protocol: MQTT v5 by default (-V mqttv311 for 3.1.1 brokers).

Exit status: 0 published, 1 error (connection, authentication, TLS, refusal,
bad usage).

Examples:
  psos pub -t greenhouse/fan -m on -q 1
  psos pub --broker mqtts://alice:secret@broker.example -t a/b -f reading.json
  psos pub -t status/gw -m online -r
  sensor-reader | psos pub -t sensors/raw -l -q 1)";

int fail(const std::string& message) {
  std::fprintf(stderr, "psos pub: %s\n", message.c_str());
  return 1;
}

std::string connect_failure(const Client& client, const client::ClientOptions& options) {
  std::string text = client.last_error();
  if (text.empty()) text = "could not connect to " + describe_url(options);
  // The client's words are about its options; name the flag.
  if (text.ends_with("as the CA file")) text += " (--cafile FILE)";
  return text;
}

std::string publish_failure(const error_code& ec, const Client& client) {
  if (ec.category() == client::mqtt_category())
    return "the broker refused the message: " + ec.message();
  if (ec == client::Errc::Stopped)
    return "the connection ended before the message was acknowledged: " + client.last_error();
  return "cannot publish: " + ec.message();
}

// Shared between the thread that reads standard input (-l) and the event loop.
struct LineFeed {
  std::mutex mutex;
  std::condition_variable space;
  std::size_t outstanding = 0;  // publishes started and not completed
  bool closed = false;          // the loop is finishing: post nothing more
};
constexpr std::size_t kWindow = 1000;  // publishes outstanding at most (backpressure on stdin)

}  // namespace

PubCommand::PubCommand(CLI::App& parent)
    : app_(
          parent.add_subcommand("pub", "Publish messages to an MQTT broker (like mosquitto_pub)")) {
  app_->footer(kFooter);
  flags_.add_to(*app_);
  app_->add_option("-t,--topic", topic_, "Topic to publish to")->required();
  app_->add_option("-m,--message", message_, "The message to send");
  app_->add_option("-f,--file", file_, "Send the contents of a file as the message");
  app_->add_flag("-l,--stdin-line", lines_, "Send each line of standard input as a message");
  app_->add_flag("-n,--null-message", null_message_, "Send an empty message");
  app_->add_flag("-s,--stdin-file", stdin_whole_, "Send all of standard input as one message");
  app_->add_flag("-r,--retain", retain_, "Ask the broker to retain the message");
}

bool PubCommand::selected() const {
  return app_->parsed();
}

int PubCommand::run() {
  setup_client_logging(flags_.debug);
  client::ClientOptions options;
  if (std::string error = flags_.make_options(options); !error.empty()) return fail(error);
  const bool have_message = app_->get_option("-m")->count() > 0;
  const int sources = int(have_message) + int(!file_.empty()) + int(lines_) + int(null_message_) +
                      int(stdin_whole_);
  if (sources != 1)
    return fail(sources == 0 ? "give the message: -m, -f, -l, -n or -s (see psos help pub)"
                             : "give only one of -m, -f, -l, -n and -s");
  if (mqtt::Error e = mqtt::validate_topic_name(topic_); e)
    return fail("invalid topic '" + topic_ + "': " + e.message);

  std::string payload = message_;
  if (!file_.empty()) {
    std::ifstream in(file_, std::ios::binary);
    if (!in) return fail("cannot read '" + file_ + "': " + std::strerror(errno));
    std::ostringstream all;
    all << in.rdbuf();
    payload = all.str();
  } else if (stdin_whole_) {
    payload.clear();
    char buffer[65536];
    for (;;) {
      const ssize_t n = ::read(STDIN_FILENO, buffer, sizeof buffer);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return fail(std::string("cannot read standard input: ") + std::strerror(errno));
      if (n == 0) break;
      payload.append(buffer, static_cast<std::size_t>(n));
    }
  }
  const auto qos = static_cast<mqtt::QoS>(flags_.qos);
  auto make_message = [&](std::string body) {
    client::Message m;
    m.topic = topic_;
    m.payload = std::move(body);
    m.qos = qos;
    m.retain = retain_;
    return m;
  };

  asio::io_context io;
  Client client(io.get_executor(), options);
  if (flags_.debug) {
    client.on_state([](client::State state, const std::string& reason) {
      std::fprintf(stderr, "psos pub: %s%s%s\n", std::string(client::to_string(state)).c_str(),
                   reason.empty() ? "" : ": ", reason.c_str());
    });
  }
  asio::steady_timer done(io, asio::steady_timer::time_point::max());
  asio::signal_set signals(io, SIGINT, SIGTERM);
  bool interrupted = false;
  signals.async_wait([&](const error_code& ec, int) {
    if (ec) return;
    interrupted = true;
    done.cancel();
    asio::co_spawn(io, client.stop(), asio::detached);
  });
  auto feed = std::make_shared<LineFeed>();
  std::string error;  // the first failure
  int status = 1;
  // -l: state the reader thread and the publishes' completions share with the loop. It lives
  // here, not in the coroutine, as completions may still run after the coroutine has ended.
  bool eof = false;
  auto finished = [&] {
    std::lock_guard lock(feed->mutex);
    return eof && feed->outstanding == 0;
  };
  // Completions run on the loop: count down, remember the first error, wake the reader.
  auto completed = [&, feed](error_code ec) {
    {
      std::lock_guard lock(feed->mutex);
      --feed->outstanding;
    }
    feed->space.notify_one();
    if (ec && error.empty() && !interrupted) {
      error = publish_failure(ec, client);
      done.cancel();
    }
    if (finished()) done.cancel();
  };

  auto body = [&]() -> asio::awaitable<int> {
    client.start();
    if (co_await client.wait_connected()) {
      if (interrupted) co_return 0;
      co_return fail(connect_failure(client, options));
    }
    if (!lines_) {
      auto [ec] = co_await client.publish(make_message(std::move(payload)),
                                          asio::as_tuple(asio::use_awaitable));
      if (ec && !interrupted) error = publish_failure(ec, client);
    } else {
      std::thread reader([&io, &client, feed, &eof, &done, &completed, &make_message]() {
        // Posts one line's publish; false once the loop is finishing.
        auto post_line = [&](std::string line) {
          std::unique_lock lock(feed->mutex);
          feed->space.wait(lock, [&] { return feed->closed || feed->outstanding < kWindow; });
          if (feed->closed) return false;
          ++feed->outstanding;
          asio::post(io, [&client, &completed, m = make_message(std::move(line))]() mutable {
            client.publish(std::move(m), completed);
          });
          return true;
        };
        std::string pending;
        char buffer[65536];
        for (;;) {
          const ssize_t n = ::read(STDIN_FILENO, buffer, sizeof buffer);
          if (n < 0 && errno == EINTR) continue;
          if (n <= 0) break;
          pending.append(buffer, static_cast<std::size_t>(n));
          std::size_t start = 0;
          for (std::size_t nl; (nl = pending.find('\n', start)) != std::string::npos;
               start = nl + 1) {
            if (!post_line(pending.substr(start, nl - start))) return;
          }
          pending.erase(0, start);
        }
        if (!pending.empty() && !post_line(std::move(pending))) return;
        std::lock_guard lock(feed->mutex);
        if (feed->closed) return;
        asio::post(io, [&eof, &done] {
          eof = true;
          done.cancel();
        });
      });
      reader.detach();
      while (error.empty() && !interrupted && !finished()) {
        done.expires_at(asio::steady_timer::time_point::max());
        co_await done.async_wait(asio::as_tuple(asio::use_awaitable));
      }
      {
        std::lock_guard lock(feed->mutex);
        feed->closed = true;
      }
      feed->space.notify_all();
    }
    co_await client.stop();
    if (!error.empty()) co_return fail(error);
    co_return 0;
  };
  asio::co_spawn(io, body(), [&](std::exception_ptr e, int result) {
    signals.cancel();
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
  {
    std::lock_guard lock(feed->mutex);
    feed->closed = true;
  }
  feed->space.notify_all();
  return status;
}

}  // namespace psos::cli
