// Client benchmarks against a real broker (scripts/bench_client starts it and prints the tables):
//
//   client_bench throughput --port P [--host H] [--count0 N] [--count1 N] [--count2 N]
//                [--window W] [--size B] [--repetitions R] [--libs psos,libmosquitto,paho]
//     Publish throughput of the psos client, libmosquitto and Paho C (MQTTAsync), MQTT 5, one
//     connection at a time, runs interleaved (repetition, QoS, library; the library order rotates
//     each repetition). A run counts from the first publish to the completion of the last:
//     QoS 1 at its PUBACK, QoS 2 at its PUBCOMP. QoS 0 has no acknowledgement, so a QoS 0 run
//     ends with one QoS 1 "fence" publish and counts until its PUBACK: the broker has then read
//     every QoS 0 message before it (same TCP stream), whatever each library calls completion.
//     Each library keeps at most W publishes outstanding (not yet completed by the library).
//     A run publishes N messages or stops publishing after --max-seconds (default 3), then waits
//     for the outstanding ones: msg/s = completed / elapsed, either way.
//     Paho leaves Nagle's algorithm on and has no option for it: TCP_NODELAY is set on its socket
//     here (psos and libmosquitto set it; --paho-nodelay 0 leaves Paho as it is).
//     CPU: getrusage(RUSAGE_SELF) (all threads of this process) over the same span.
//
//   client_bench restart --port P --lib psos|libmosquitto [--trials T] [--down-ms D]
//                [--interval-ms I] [--log FILE] -- BROKER-COMMAND...
//     Time to resumed traffic after a broker restart. Per trial: start the broker, a fresh
//     client publishing QoS 1 every I ms, after 1 s of traffic SIGKILL the broker, wait D ms,
//     start it again; then measure from the moment its port accepts again (probed every
//     0.2 ms) to the first PUBACK the client reports after that.
//
// One JSON object per line on stdout per run or trial; progress on stderr.
#include <arpa/inet.h>
#include <fcntl.h>
#include <mosquitto.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <MQTTAsync.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "client/client.hpp"

extern char** environ;

namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out + "\"";
}

// TCP_NODELAY of this process's connections to `port` (-1: none found), to report each library's
// setting rather than assume it; with `set`, first turns it on.
int nodelay_to_port(std::uint16_t port, bool set = false) {
  for (int fd = 0; fd < 1024; ++fd) {
    sockaddr_in peer{};
    socklen_t len = sizeof peer;
    if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &len) != 0) continue;
    if (peer.sin_family != AF_INET || ntohs(peer.sin_port) != port) continue;
    int value = 1;
    if (set) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &value, sizeof value);
    value = 0;
    socklen_t vlen = sizeof value;
    if (getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &value, &vlen) == 0) return value != 0 ? 1 : 0;
  }
  return -1;
}

struct Options {
  std::string mode;
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
  long counts[3] = {200'000, 50'000, 50'000};
  long window = 100;
  std::size_t size = 64;
  int repetitions = 3;
  std::vector<std::string> libs = {"psos", "libmosquitto", "paho"};
  double timeout = 60;      // seconds per run, then it fails
  double max_seconds = 3;   // publishing stops after this, the run counts what completed
  bool paho_nodelay = true;
  // restart mode
  std::string lib = "psos";
  int trials = 5;
  int down_ms = 500;
  int interval_ms = 1;
  std::string log = "/dev/null";
  std::vector<std::string> broker_command;
};

struct RunResult {
  double seconds = 0;
  double cpu = 0;
  long completed = 0;
  int nodelay = -1;
  std::string error;
};

// ---- a window of outstanding publishes for the threaded C libraries ----
// The application thread publishes while fewer than `window` are outstanding; the libraries'
// callbacks (on their own threads) count completions.
struct Window {
  std::mutex mutex;
  std::condition_variable cv;
  long done = 0;
  long failed = 0;
  bool waiting = false;
  std::string error;

  void complete(bool ok, const char* why = nullptr) {
    std::lock_guard lock(mutex);
    ++done;
    if (!ok) {
      ++failed;
      if (error.empty() && why) error = why;
    }
    if (waiting) cv.notify_one();
  }
  // Waits until done >= target; false at the deadline.
  bool wait_done(long target, Clock::time_point deadline) {
    std::unique_lock lock(mutex);
    waiting = true;
    const bool ok = cv.wait_until(lock, deadline, [&] { return done >= target; });
    waiting = false;
    return ok;
  }
  long snapshot() {
    std::lock_guard lock(mutex);
    return done;
  }
};

// A connected/disconnected flag the C libraries' callbacks set.
struct Flag {
  std::mutex mutex;
  std::condition_variable cv;
  int state = 0;  // 0 pending, 1 ok, -1 failed
  std::string why;
  void set(int s, std::string reason = {}) {
    std::lock_guard lock(mutex);
    state = s;
    why = std::move(reason);
    cv.notify_all();
  }
  int wait(std::chrono::milliseconds limit) {
    std::unique_lock lock(mutex);
    cv.wait_for(lock, limit, [&] { return state != 0; });
    return state;
  }
};

// The publish loop shared by libmosquitto and Paho: `publish(qos)` returns an error text or
// empty. Returns the measured span.
RunResult windowed_run(const Options& o, int qos, Window& w,
                       const std::function<std::string(int qos)>& publish) {
  RunResult r;
  const long n = o.counts[qos];
  const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                           std::chrono::duration<double>(o.timeout));
  const double cpu0 = cpu_seconds();
  const auto t0 = Clock::now();
  const auto stop_at = t0 + std::chrono::duration_cast<Clock::duration>(
                                std::chrono::duration<double>(o.max_seconds));
  long sent = 0;
  while (sent < n && Clock::now() < stop_at) {
    if (sent - w.snapshot() >= o.window && !w.wait_done(sent - o.window + 1, deadline)) {
      r.error = "timeout";
      break;
    }
    if (auto e = publish(qos); !e.empty()) {
      r.error = e;
      break;
    }
    ++sent;
  }
  if (r.error.empty() && !w.wait_done(sent, deadline)) r.error = "timeout";
  if (r.error.empty() && qos == 0) {  // the fence
    if (auto e = publish(1); !e.empty())
      r.error = e;
    else if (!w.wait_done(sent + 1, deadline))
      r.error = "timeout (fence)";
  }
  r.seconds = seconds_between(t0, Clock::now());
  r.cpu = cpu_seconds() - cpu0;
  r.completed = std::min(w.snapshot(), sent) - w.failed;
  if (r.error.empty() && w.failed) r.error = w.error.empty() ? "publish failed" : w.error;
  return r;
}

// ---- psos ----
psos::client::ClientOptions psos_options(const Options& o, const std::string& id) {
  psos::client::ClientOptions c;
  c.url = psos::net::parse_url("mqtt://" + o.host + ":" + std::to_string(o.port)).url;
  c.session.client_id = id;
  return c;
}

psos::client::Message psos_message(const std::string& topic, const std::string& payload, int qos) {
  psos::client::Message m;
  m.topic = topic;
  m.payload = payload;
  m.qos = static_cast<psos::mqtt::QoS>(qos);
  return m;
}

RunResult run_psos(const Options& o, int qos, const std::string& id) {
  RunResult r;
  asio::io_context io;
  auto client = std::make_unique<psos::client::Client>(io.get_executor(), psos_options(o, id));
  const std::string topic = "bench/client/" + id;
  const std::string payload(o.size, 'x');
  const long n = o.counts[qos];
  bool finished = false;
  auto body = [&]() -> asio::awaitable<void> {
    client->start();
    if (auto ec = co_await client->wait_connected(); ec) {
      r.error = "connect: " + client->last_error();
      co_return;
    }
    r.nodelay = nodelay_to_port(o.port);
    long next = 0, failed = 0;
    std::string first_error;
    const double cpu0 = cpu_seconds();
    const auto t0 = Clock::now();
    const auto stop_at = t0 + std::chrono::duration_cast<Clock::duration>(
                                  std::chrono::duration<double>(o.max_seconds));
    // `window` publishers, each awaiting its publish's completion before the next.
    long running = 0;
    asio::steady_timer all_done(io, Clock::time_point::max());
    auto worker = [&]() -> asio::awaitable<void> {
      while (next < n && Clock::now() < stop_at) {
        ++next;
        auto [ec] = co_await client->publish(psos_message(topic, payload, qos), use_tuple);
        if (ec) {
          if (failed++ == 0) first_error = ec.message();
        }
      }
      if (--running == 0) all_done.cancel();
    };
    const long workers = std::min(o.window, n);
    running = workers;
    for (long i = 0; i < workers; ++i) asio::co_spawn(io, worker(), asio::detached);
    co_await all_done.async_wait(use_tuple);
    if (qos == 0) {
      auto [ec] = co_await client->publish(psos_message(topic, payload, 1), use_tuple);
      if (ec && failed++ == 0) first_error = "fence: " + ec.message();
    }
    r.seconds = seconds_between(t0, Clock::now());
    r.cpu = cpu_seconds() - cpu0;
    r.completed = next - std::min(failed, next);
    if (failed) r.error = first_error;
    co_await client->stop();
  };
  asio::co_spawn(io, body(), [&](std::exception_ptr e) {
    finished = true;
    if (e) r.error = "exception";
    io.stop();
  });
  io.run_for(std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.timeout)));
  if (!finished && r.error.empty()) r.error = "timeout";
  return r;
}

// ---- libmosquitto ----
struct MosqContext {
  Window window;
  Flag connected;
  std::function<void(int mid)> on_publish;  // restart mode
};

struct mosquitto* mosq_connect(const Options& o, const std::string& id, MosqContext& ctx,
                               std::string& error) {
  struct mosquitto* m = mosquitto_new(id.c_str(), true, &ctx);
  if (!m) {
    error = "mosquitto_new failed";
    return nullptr;
  }
  mosquitto_int_option(m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
  mosquitto_int_option(m, MOSQ_OPT_SEND_MAXIMUM, 65535);  // the broker's Receive Maximum decides
  mosquitto_int_option(m, MOSQ_OPT_TCP_NODELAY, 1);       // as psos sets it
  // libmosquitto's defaults, spelled out: retry every second, no backoff. (With its exponential
  // backoff, (1, 30, true), a retry that fails right after the restart costs 4 s more.)
  mosquitto_reconnect_delay_set(m, 1, 1, false);
  mosquitto_connect_callback_set(m, [](struct mosquitto*, void* p, int rc) {
    static_cast<MosqContext*>(p)->connected.set(rc == 0 ? 1 : -1, mosquitto_connack_string(rc));
  });
  mosquitto_publish_v5_callback_set(
      m, [](struct mosquitto*, void* p, int mid, int reason, const mosquitto_property*) {
        auto* c = static_cast<MosqContext*>(p);
        if (c->on_publish)
          c->on_publish(mid);
        else
          c->window.complete(reason < 0x80, "refused by the broker");
      });
  if (std::getenv("CLIENT_BENCH_DEBUG")) {  // libmosquitto's own log on stderr
    mosquitto_log_callback_set(m, [](struct mosquitto*, void*, int, const char* line) {
      const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          Clock::now().time_since_epoch()).count();
      std::fprintf(stderr, "libmosquitto %lld: %s\n", static_cast<long long>(ms % 100000), line);
    });
  }
  int rc = mosquitto_connect(m, o.host.c_str(), o.port, 60);
  if (rc == MOSQ_ERR_SUCCESS) rc = mosquitto_loop_start(m);
  if (rc != MOSQ_ERR_SUCCESS) {
    error = std::string("connect: ") + mosquitto_strerror(rc);
    mosquitto_destroy(m);
    return nullptr;
  }
  if (ctx.connected.wait(10s) != 1) {
    error = "connect: " + ctx.connected.why;
    mosquitto_disconnect(m);
    mosquitto_loop_stop(m, true);
    mosquitto_destroy(m);
    return nullptr;
  }
  return m;
}

void mosq_close(struct mosquitto* m) {
  mosquitto_disconnect(m);
  mosquitto_loop_stop(m, false);
  mosquitto_destroy(m);
}

RunResult run_libmosquitto(const Options& o, int qos, const std::string& id) {
  RunResult r;
  MosqContext ctx;
  struct mosquitto* m = mosq_connect(o, id, ctx, r.error);
  if (!m) return r;
  r.nodelay = nodelay_to_port(o.port);
  const std::string topic = "bench/client/" + id;
  const std::string payload(o.size, 'x');
  r = windowed_run(o, qos, ctx.window, [&](int q) -> std::string {
    const int rc = mosquitto_publish(m, nullptr, topic.c_str(), static_cast<int>(payload.size()),
                                     payload.data(), q, false);
    return rc == MOSQ_ERR_SUCCESS ? std::string() : mosquitto_strerror(rc);
  });
  r.nodelay = nodelay_to_port(o.port);
  mosq_close(m);
  return r;
}

// ---- Paho C, MQTTAsync ----
struct PahoContext {
  Window window;
  Flag connected;
  Flag disconnected;
};

RunResult run_paho(const Options& o, int qos, const std::string& id) {
  RunResult r;
  PahoContext ctx;
  MQTTAsync client = nullptr;
  const std::string uri = "tcp://" + o.host + ":" + std::to_string(o.port);
  MQTTAsync_createOptions create = MQTTAsync_createOptions_initializer5;
  // Commands not yet written count against maxBufferedMessages even while connected (default
  // 100): room for the whole window.
  create.maxBufferedMessages = 65535;
  int rc = MQTTAsync_createWithOptions(&client, uri.c_str(), id.c_str(), MQTTCLIENT_PERSISTENCE_NONE,
                                       nullptr, &create);
  if (rc != MQTTASYNC_SUCCESS) {
    r.error = "MQTTAsync_create: " + std::to_string(rc);
    return r;
  }
  MQTTAsync_connectOptions conn = MQTTAsync_connectOptions_initializer5;
  conn.cleanstart = 1;
  conn.keepAliveInterval = 60;
  conn.maxInflight = 65535;
  conn.context = &ctx;
  conn.onSuccess5 = [](void* p, MQTTAsync_successData5*) {
    static_cast<PahoContext*>(p)->connected.set(1);
  };
  conn.onFailure5 = [](void* p, MQTTAsync_failureData5* f) {
    static_cast<PahoContext*>(p)->connected.set(-1, f && f->message ? f->message : "failed");
  };
  rc = MQTTAsync_connect(client, &conn);
  if (rc != MQTTASYNC_SUCCESS || ctx.connected.wait(10s) != 1) {
    r.error = "connect: " + (rc != MQTTASYNC_SUCCESS ? std::to_string(rc) : ctx.connected.why);
    MQTTAsync_destroy(&client);
    return r;
  }
  const std::string topic = "bench/client/" + id;
  const std::string payload(o.size, 'x');
  // Paho has no option for TCP_NODELAY (and leaves Nagle's algorithm on): set here on its socket
  // unless --paho-nodelay 0, so that all three clients send alike.
  int nodelay = nodelay_to_port(o.port, o.paho_nodelay);
  r = windowed_run(o, qos, ctx.window, [&](int q) -> std::string {
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    ro.context = &ctx;
    ro.onSuccess5 = [](void* p, MQTTAsync_successData5*) {
      static_cast<PahoContext*>(p)->window.complete(true);
    };
    ro.onFailure5 = [](void* p, MQTTAsync_failureData5*) {
      static_cast<PahoContext*>(p)->window.complete(false, "publish failed");
    };
    MQTTAsync_message msg = MQTTAsync_message_initializer;
    msg.payload = const_cast<char*>(payload.data());
    msg.payloadlen = static_cast<int>(payload.size());
    msg.qos = q;
    msg.retained = 0;
    const int src = MQTTAsync_sendMessage(client, topic.c_str(), &msg, &ro);
    return src == MQTTASYNC_SUCCESS ? std::string() : "MQTTAsync_sendMessage: " + std::to_string(src);
  });
  r.nodelay = nodelay;
  MQTTAsync_disconnectOptions disc = MQTTAsync_disconnectOptions_initializer;
  disc.timeout = 1000;
  disc.context = &ctx;
  disc.onSuccess = [](void* p, MQTTAsync_successData*) {
    static_cast<PahoContext*>(p)->disconnected.set(1);
  };
  disc.onFailure = [](void* p, MQTTAsync_failureData*) {
    static_cast<PahoContext*>(p)->disconnected.set(-1);
  };
  if (MQTTAsync_disconnect(client, &disc) == MQTTASYNC_SUCCESS) ctx.disconnected.wait(2s);
  MQTTAsync_destroy(&client);
  return r;
}

int throughput(const Options& o) {
  std::fprintf(stderr, "client_bench: %zu B payloads, window %ld, %d repetitions, broker %s:%u\n",
               o.size, o.window, o.repetitions, o.host.c_str(), o.port);
  for (int rep = 0; rep < o.repetitions; ++rep) {
    for (int qos = 0; qos <= 2; ++qos) {
      if (o.counts[qos] <= 0) continue;
      for (std::size_t k = 0; k < o.libs.size(); ++k) {
        const std::string& lib = o.libs[(k + static_cast<std::size_t>(rep)) % o.libs.size()];
        const std::string id = "cb-" + lib + "-q" + std::to_string(qos) + "-" + std::to_string(rep);
        RunResult r;
        if (lib == "psos")
          r = run_psos(o, qos, id);
        else if (lib == "libmosquitto")
          r = run_libmosquitto(o, qos, id);
        else if (lib == "paho")
          r = run_paho(o, qos, id);
        else
          r.error = "unknown library";
        const double rate = r.seconds > 0 ? static_cast<double>(r.completed) / r.seconds : 0;
        std::fprintf(stderr, "  [%d/%d] QoS %d %-13s %9.0f msg/s  %6.2f us CPU/msg%s%s\n", rep + 1,
                     o.repetitions, qos, lib.c_str(), rate,
                     r.completed ? r.cpu * 1e6 / static_cast<double>(r.completed) : 0.0,
                     r.error.empty() ? "" : "  ERROR: ", r.error.c_str());
        std::printf(
            "{\"mode\": \"throughput\", \"lib\": \"%s\", \"qos\": %d, \"repetition\": %d, "
            "\"count\": %ld, \"completed\": %ld, \"seconds\": %.6f, \"cpu_seconds\": %.6f, "
            "\"window\": %ld, \"size\": %zu, \"max_seconds\": %g, \"nodelay\": %d, "
            "\"error\": %s}\n",
            lib.c_str(), qos, rep, o.counts[qos], r.completed, r.seconds, r.cpu, o.window, o.size,
            o.max_seconds, r.nodelay, json_string(r.error).c_str());
        std::fflush(stdout);
      }
    }
  }
  return 0;
}

// ---- restart ----
class Broker {
 public:
  Broker(std::vector<std::string> argv, std::string log) : argv_(std::move(argv)), log_(std::move(log)) {}
  ~Broker() { kill_now(); }
  bool start(std::string& error) {
    std::vector<char*> args;
    for (auto& a : argv_) args.push_back(a.data());
    args.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, log_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    const int rc = posix_spawnp(&pid_, args[0], &actions, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
      error = std::string("spawn ") + argv_[0] + ": " + std::strerror(rc);
      pid_ = -1;
      return false;
    }
    return true;
  }
  void kill_now() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
  }
  bool alive() {
    if (pid_ <= 0) return false;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return false;
    }
    return true;
  }

 private:
  std::vector<std::string> argv_;
  std::string log_;
  pid_t pid_ = -1;
};

bool accepts(const Options& o) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(o.port);
  inet_pton(AF_INET, o.host.c_str(), &a.sin_addr);
  const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  close(fd);
  return ok;
}

// Polls every 0.2 ms until the port accepts; the time it first did.
std::optional<Clock::time_point> wait_accepting(const Options& o, Broker& broker,
                                                std::chrono::milliseconds limit) {
  const auto end = Clock::now() + limit;
  while (Clock::now() < end) {
    if (accepts(o)) return Clock::now();
    if (!broker.alive()) return std::nullopt;
    std::this_thread::sleep_for(200us);
  }
  return std::nullopt;
}

// Completion times of the client's QoS 1 publishes, written by the client's thread.
struct Acks {
  std::mutex mutex;
  std::vector<Clock::time_point> times;
  long failed = 0;
  std::string first_error;
  void add(bool ok, const std::string& why = {}) {
    std::lock_guard lock(mutex);
    if (ok) {
      times.push_back(Clock::now());
    } else if (failed++ == 0) {
      first_error = why;
    }
  }
  std::optional<Clock::time_point> first_after(Clock::time_point t) {
    std::lock_guard lock(mutex);
    auto it = std::lower_bound(times.begin(), times.end(), t);
    if (it == times.end()) return std::nullopt;
    return *it;
  }
};

// A client publishing QoS 1 every `interval` on its own thread until stopped.
class Publisher {
 public:
  virtual ~Publisher() = default;
  virtual bool start(std::string& error) = 0;
  virtual void stop() = 0;
  Acks acks;
};

class PsosPublisher : public Publisher {
 public:
  PsosPublisher(const Options& o, std::string id) : o_(o), id_(std::move(id)) {}
  ~PsosPublisher() override { stop(); }
  bool start(std::string& error) override {
    client_ = std::make_unique<psos::client::Client>(io_.get_executor(), psos_options(o_, id_));
    std::promise<std::string> connected;
    auto connected_future = connected.get_future();
    asio::co_spawn(io_, body(std::move(connected)), asio::detached);
    thread_ = std::thread([this] { io_.run(); });
    if (connected_future.wait_for(10s) != std::future_status::ready) {
      error = "connect: timeout";
      return false;
    }
    error = connected_future.get();
    return error.empty();
  }
  void stop() override {
    if (!thread_.joinable()) return;
    asio::post(io_, [this] { stopping_ = true; });
    std::this_thread::sleep_for(20ms);
    asio::post(io_, [this] {
      asio::co_spawn(io_, client_->stop(), [this](std::exception_ptr) { io_.stop(); });
    });
    thread_.join();
    client_.reset();
  }

 private:
  asio::awaitable<void> body(std::promise<std::string> connected) {
    client_->start();
    if (auto ec = co_await client_->wait_connected(); ec) {
      connected.set_value("connect: " + client_->last_error());
      co_return;
    }
    connected.set_value({});
    const std::string topic = "bench/restart/" + id_;
    const std::string payload(o_.size, 'x');
    asio::steady_timer tick(io_);
    auto next = Clock::now();
    while (!stopping_) {
      client_->publish(psos_message(topic, payload, 1),
                       [this](boost::system::error_code ec) { acks.add(!ec, ec.message()); });
      next += std::chrono::milliseconds(o_.interval_ms);
      tick.expires_at(next);
      co_await tick.async_wait(use_tuple);
    }
  }

  const Options& o_;
  std::string id_;
  asio::io_context io_;
  std::unique_ptr<psos::client::Client> client_;
  std::thread thread_;
  bool stopping_ = false;
};

class MosqPublisher : public Publisher {
 public:
  MosqPublisher(const Options& o, std::string id) : o_(o), id_(std::move(id)) {}
  ~MosqPublisher() override { stop(); }
  bool start(std::string& error) override {
    ctx_.on_publish = [this](int) { acks.add(true); };
    m_ = mosq_connect(o_, id_, ctx_, error);
    if (!m_) return false;
    thread_ = std::thread([this] {
      const std::string topic = "bench/restart/" + id_;
      const std::string payload(o_.size, 'x');
      auto next = Clock::now();
      while (!stopping_) {
        // While the broker is away the message is queued (or refused with MOSQ_ERR_NO_CONN,
        // counted as a failure: the measure is the first PUBACK, whichever message it is for).
        if (mosquitto_publish(m_, nullptr, topic.c_str(), static_cast<int>(payload.size()),
                              payload.data(), 1, false) != MOSQ_ERR_SUCCESS)
          acks.add(false, "mosquitto_publish refused");
        next += std::chrono::milliseconds(o_.interval_ms);
        std::this_thread::sleep_until(next);
      }
    });
    return true;
  }
  void stop() override {
    if (!m_) return;
    stopping_ = true;
    if (thread_.joinable()) thread_.join();
    mosq_close(m_);
    m_ = nullptr;
  }

 private:
  const Options& o_;
  std::string id_;
  MosqContext ctx_;
  struct mosquitto* m_ = nullptr;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
};

int restart(const Options& o) {
  if (o.broker_command.empty()) {
    std::fprintf(stderr, "client_bench restart: no broker command after --\n");
    return 2;
  }
  Broker broker(o.broker_command, o.log);
  for (int trial = 0; trial < o.trials; ++trial) {
    std::string error;
    double accept_to_ack = -1, kill_to_accept = -1, kill_to_ack = -1;
    long failed = 0;
    std::string failure;
    if (!broker.start(error) || !wait_accepting(o, broker, 10s)) {
      if (error.empty()) error = "broker did not start (see " + o.log + ")";
    }
    std::unique_ptr<Publisher> pub;
    if (error.empty()) {
      const std::string id = "cb-restart-" + o.lib + "-" + std::to_string(trial);
      if (o.lib == "psos")
        pub = std::make_unique<PsosPublisher>(o, id);
      else
        pub = std::make_unique<MosqPublisher>(o, id);
      if (pub->start(error)) {
        std::this_thread::sleep_for(1s);
        const auto before_kill = Clock::now();
        if (!pub->acks.first_after(before_kill - 500ms)) error = "no PUBACK before the restart";
        broker.kill_now();
        const auto killed = Clock::now();
        std::this_thread::sleep_for(std::chrono::milliseconds(o.down_ms));
        std::optional<Clock::time_point> accepting;
        if (error.empty() && broker.start(error)) accepting = wait_accepting(o, broker, 10s);
        if (!accepting) {
          if (error.empty()) error = "broker did not restart (see " + o.log + ")";
        } else {
          kill_to_accept = seconds_between(killed, *accepting) * 1e3;
          const auto end = Clock::now() + 30s;
          std::optional<Clock::time_point> ack;
          while (!(ack = pub->acks.first_after(*accepting)) && Clock::now() < end)
            std::this_thread::sleep_for(1ms);
          if (ack) {
            accept_to_ack = seconds_between(*accepting, *ack) * 1e3;
            kill_to_ack = seconds_between(killed, *ack) * 1e3;
          } else {
            error = "no PUBACK within 30 s of the restart";
          }
        }
      }
      {  // before stop(), which fails what is still pending (psos: Errc::Stopped)
        std::lock_guard lock(pub->acks.mutex);
        failed = pub->acks.failed;
        failure = pub->acks.first_error;
      }
      pub->stop();
    }
    broker.kill_now();
    std::fprintf(stderr, "  [%d/%d] %-13s port accepting -> first PUBACK %8.1f ms (kill -> accepting %.1f ms)%s%s\n",
                 trial + 1, o.trials, o.lib.c_str(), accept_to_ack, kill_to_accept,
                 error.empty() ? "" : "  ERROR: ", error.c_str());
    std::printf(
        "{\"mode\": \"restart\", \"lib\": \"%s\", \"trial\": %d, \"accept_to_ack_ms\": %.3f, "
        "\"kill_to_accept_ms\": %.3f, \"kill_to_ack_ms\": %.3f, \"down_ms\": %d, "
        "\"interval_ms\": %d, \"refused_publishes\": %ld, \"first_refusal\": %s, "
        "\"error\": %s}\n",
        o.lib.c_str(), trial, accept_to_ack, kill_to_accept, kill_to_ack, o.down_ms,
        o.interval_ms, failed, json_string(failure).c_str(), json_string(error).c_str());
    std::fflush(stdout);
  }
  return 0;
}

int usage() {
  std::fprintf(stderr,
               "usage: client_bench throughput --port P [--host H] [--count0 N] [--count1 N] "
               "[--count2 N] [--window W] [--size B] [--repetitions R] [--libs a,b,c] "
               "[--max-seconds S] [--timeout S] [--paho-nodelay 0|1]\n"
               "       client_bench restart --port P --lib psos|libmosquitto [--trials T] "
               "[--down-ms D] [--interval-ms I] [--log FILE] -- BROKER-COMMAND...\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage();
  Options o;
  o.mode = argv[1];
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--") {
      for (++i; i < argc; ++i) o.broker_command.emplace_back(argv[i]);
      break;
    }
    if (i + 1 >= argc) return usage();
    const std::string v = argv[++i];
    try {
      if (a == "--host") o.host = v;
      else if (a == "--port") o.port = static_cast<std::uint16_t>(std::stoul(v));
      else if (a == "--count0") o.counts[0] = std::stol(v);
      else if (a == "--count1") o.counts[1] = std::stol(v);
      else if (a == "--count2") o.counts[2] = std::stol(v);
      else if (a == "--window") o.window = std::max(1L, std::stol(v));
      else if (a == "--size") o.size = std::stoul(v);
      else if (a == "--repetitions") o.repetitions = std::stoi(v);
      else if (a == "--timeout") o.timeout = std::stod(v);
      else if (a == "--max-seconds") o.max_seconds = std::stod(v);
      else if (a == "--paho-nodelay") o.paho_nodelay = v != "0";
      else if (a == "--lib") o.lib = v;
      else if (a == "--trials") o.trials = std::stoi(v);
      else if (a == "--down-ms") o.down_ms = std::stoi(v);
      else if (a == "--interval-ms") o.interval_ms = std::max(1, std::stoi(v));
      else if (a == "--log") o.log = v;
      else if (a == "--libs") {
        o.libs.clear();
        std::stringstream in(v);
        for (std::string lib; std::getline(in, lib, ',');) o.libs.push_back(lib);
      } else return usage();
    } catch (const std::exception&) {
      return usage();
    }
  }
  if (o.port == 0) return usage();
  signal(SIGPIPE, SIG_IGN);
  mosquitto_lib_init();
  const int rc = o.mode == "throughput" ? throughput(o)
                 : o.mode == "restart"  ? restart(o)
                                        : usage();
  mosquitto_lib_cleanup();
  return rc;
}
