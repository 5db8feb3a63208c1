// The publisher of the durable-queue fault test: publishes QoS 1 messages "1".."N" to TOPIC with
// a durable queue in DATA_DIR, writing to PROGRESS the last number whose publish the client has
// accepted and stored (committed to the durable queue), and resuming after that number when
// started again. The test kills it with SIGKILL mid-stream; whatever was accepted must still
// reach the subscriber. Exits 0 once every message is acknowledged.
//
//   psos_client_durable_driver URL CLIENT_ID DATA_DIR N PROGRESS TOPIC
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "client/client.hpp"

namespace {

using namespace psos;
using namespace std::chrono_literals;
namespace asio = boost::asio;

void write_progress(const std::string& path, int n) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << n << '\n';
  }
  std::filesystem::rename(tmp, path);  // never a half-written number
}

int read_progress(const std::string& path) {
  std::ifstream in(path);
  int n = 0;
  in >> n;
  return n;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 7) {
    std::fprintf(stderr, "usage: %s URL CLIENT_ID DATA_DIR N PROGRESS TOPIC\n", argv[0]);
    return 2;
  }
  const std::string progress = argv[5];
  const std::string topic = argv[6];
  const int total = std::atoi(argv[4]);
  const int first = read_progress(progress) + 1;

  client::ClientOptions o;
  const auto parsed = net::parse_url(argv[1]);
  o.url = parsed.url;
  o.session.client_id = argv[2];
  o.session.clean_start = false;
  o.session.session_expiry_interval = 3600;
  o.data_dir = argv[3];
  o.reconnect.initial_delay = 50ms;
  o.reconnect.max_delay = 400ms;

  asio::io_context io;
  client::Client c(io.get_executor(), o);
  int outstanding = 0;
  int failures = 0;
  c.start();
  std::fprintf(stderr, "driver: resuming at %d of %d (%zu restored from the durable queue)\n",
               first, total, c.queued() + c.in_flight());
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        asio::steady_timer timer(ex);
        for (int n = first; n <= total; ++n) {
          while (outstanding >= 500) {  // accepted, not yet acknowledged
            timer.expires_after(1ms);
            co_await timer.async_wait(asio::use_awaitable);
          }
          ++outstanding;
          client::Message m;
          m.topic = topic;
          m.payload = std::to_string(n);
          m.qos = mqtt::QoS::AtLeastOnce;
          // With a callback the publish starts now: the message is added to the durable queue
          // and a commit is posted. Two turns of the loop later that commit has run.
          c.publish(std::move(m), [&](boost::system::error_code ec) {
            --outstanding;
            if (ec) {
              ++failures;
              std::fprintf(stderr, "driver: publish failed: %s\n", ec.message().c_str());
            }
          });
          co_await asio::post(ex, asio::use_awaitable);
          co_await asio::post(ex, asio::use_awaitable);
          write_progress(progress, n);
        }
        while (outstanding > 0) {
          timer.expires_after(5ms);
          co_await timer.async_wait(asio::use_awaitable);
        }
        co_await c.stop();
      },
      [&](std::exception_ptr e) {
        if (e) {
          ++failures;
          try {
            std::rethrow_exception(e);
          } catch (const std::exception& x) {
            std::fprintf(stderr, "driver: %s\n", x.what());
          }
        }
        io.stop();
      });
  io.run();
  std::fprintf(stderr, "driver: done, %d failures\n", failures);
  return failures == 0 ? 0 : 1;
}
