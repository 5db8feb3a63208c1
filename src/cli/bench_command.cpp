// `psos bench`: the options, the live progress line on stderr and the final table (or JSON).
#include "bench_command.hpp"

#include <fmt/core.h>
#include <sys/resource.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

namespace psos::cli {
namespace {

constexpr const char* kFooter = R"(
Each publisher sends --size byte messages to its topic, --rate messages per second or as fast
as it can; at QoS 1 and 2 it keeps up to --inflight messages unacknowledged (fewer if the broker's
Receive Maximum says so). Each subscriber subscribes to --sub-topic (default: --topic) at --qos.
In both, %i is the client's number: 1..N among publishers, 1..M among subscribers.

With --session-expiry, publishers and subscribers use persistent sessions (a broker with
persistence stores their subscriptions and queued QoS 1/2 messages); client ids are then worth
keeping apart from earlier runs' (--client-id), or a resumed session brings old messages (they
are counted as "not from this run").

Every message carries its publisher, a sequence number and its send time (steady clock) in its
first 24 bytes, so subscribers measure latency (p50, p90, p99, p99.9: from the write that sends
a message to the read that brings it) and count lost, duplicate and out-of-order messages; a
shared subscription ($share/GROUP/FILTER) counts as one receiver. After --duration, publishing
stops and the run waits up to --drain seconds for late messages and acknowledgements; msg/s
figures cover the publishing time only. Progress goes to stderr once per second, the result to
stdout: a table, or with --json one JSON object.

Loads:
  fan-in   psos bench --pub 16 --sub 1 --topic 'bench/%i' --sub-topic 'bench/#'
  fan-out  psos bench --pub 1 --sub 16 --topic bench/all
  pairs    psos bench --pub 16 --sub 16 --topic 'bench/%i'
  idle     psos bench --pub 0 --sub 0 --idle 1000 --duration 10

Exit status: 0 the run completed (losses are in the figures), 1 a connection failed or was
closed by the broker, or the options are unusable.)";

std::string milliseconds(std::uint64_t ns) {
  return fmt::format("{:.3f}", static_cast<double>(ns) / 1e6);
}

double per_second(std::uint64_t count, double seconds) {
  return seconds > 0 ? static_cast<double>(count) / seconds : 0.0;
}

void print_progress(const bench::Progress& p, bool has_publishers) {
  if (!has_publishers) {
    fmt::print(stderr, "psos bench: {:5.1f} s  {} connections open\n", p.elapsed, p.connected);
    return;
  }
  fmt::print(stderr,
             "psos bench: {:5.1f} s  sent {:>9.0f}/s  received {:>9.0f}/s  in flight {:>5}  "
             "p50 {} ms  p99 {} ms (so far)\n",
             p.elapsed, per_second(p.sent, p.interval), per_second(p.received, p.interval),
             p.in_flight, milliseconds(p.p50_ns), milliseconds(p.p99_ns));
}

std::string describe_rate(double rate) {
  return rate > 0 ? fmt::format("{:g} msg/s per publisher", rate) : "as fast as possible";
}

// The first ten: a broker that refuses a thousand connections need not fill the screen.
void print_errors(std::FILE* out, const char* prefix, const std::vector<std::string>& errors) {
  constexpr std::size_t kShown = 10;
  for (std::size_t i = 0; i < errors.size() && i < kShown; ++i)
    fmt::print(out, "{}{}\n", prefix, errors[i]);
  if (errors.size() > kShown)
    fmt::print(out, "{}... and {} more\n", prefix, errors.size() - kShown);
}

void print_table(const bench::LoadOptions& o, const bench::LoadReport& r) {
  const auto qos = static_cast<unsigned>(o.qos);
  fmt::print("psos bench: {} (MQTT {}), {} publisher(s) -> {} subscriber(s), {} idle\n",
             o.broker.to_string(), o.version == mqtt::Version::v5 ? "5" : "3.1.1", o.publishers,
             o.subscribers, o.idle);
  const bool messages = o.publishers > 0 || o.subscribers > 0;
  if (messages) {
    fmt::print("  topic {}, subscription {}, {} B, QoS {}, {}", o.topic,
               o.filter.empty() ? o.topic : o.filter, o.payload_size, qos, describe_rate(o.rate));
    if (qos > 0) {
      fmt::print(", window {}", r.window);
      if (r.broker_receive_maximum != 0)
        fmt::print(" (--inflight {}, broker Receive Maximum {})", o.inflight,
                   r.broker_receive_maximum);
    }
    fmt::print("\n");
  }
  if (o.session_expiry != 0) {
    fmt::print("  persistent sessions (Clean Start 0, Session Expiry Interval {} s)\n",
               o.session_expiry);
  }
  fmt::print("  {} connections ready in {:.2f} s; measured over {:.2f} s\n", r.connected,
             r.connect_seconds, r.seconds);
  if (messages) {
    fmt::print("\n");
    fmt::print("  {:<22}{:>14}{:>14}\n", "", "messages", "msg/s");
    fmt::print("  {:<22}{:>14}{:>14.0f}\n", "sent", r.sent, per_second(r.sent, r.seconds));
    if (qos > 0) fmt::print("  {:<22}{:>14}\n", "acknowledged", r.acknowledged);
    if (r.refused > 0) fmt::print("  {:<22}{:>14}\n", "refused by the broker", r.refused);
    fmt::print("  {:<22}{:>14}{:>14.0f}\n", "received", r.received,
               per_second(r.received_in_window, r.seconds));
    fmt::print("  {:<22}{:>14}\n", "expected", r.expected);
    fmt::print("  {:<22}{:>14}\n", "lost", r.lost);
    fmt::print("  {:<22}{:>14}\n", "duplicates", r.duplicates);
    fmt::print("  {:<22}{:>14}\n", "out of order", r.out_of_order);
    if (r.foreign > 0) fmt::print("  {:<22}{:>14}\n", "not from this run", r.foreign);
    const auto& l = r.latency;
    fmt::print("\n  latency (ms) {:>9}{:>9}{:>9}{:>9}{:>9}{:>9}{:>9}\n", "min", "p50", "p90", "p99",
               "p99.9", "max", "mean");
    fmt::print("  {:<13}{:>9}{:>9}{:>9}{:>9}{:>9}{:>9}{:>9.3f}\n", "", milliseconds(l.min()),
               milliseconds(l.percentile(50)), milliseconds(l.percentile(90)),
               milliseconds(l.percentile(99)), milliseconds(l.percentile(99.9)),
               milliseconds(l.max()), l.mean() / 1e6);
  }
  print_errors(stdout, "  error: ", r.errors);
}

void print_json(const bench::LoadOptions& o, const bench::LoadReport& r) {
  const auto& l = r.latency;
  const auto us = [](std::uint64_t ns) { return static_cast<double>(ns) / 1e3; };
  nlohmann::ordered_json out = {
      {"broker", o.broker.to_string()},
      {"protocol", o.version == mqtt::Version::v5 ? "5" : "3.1.1"},
      {"publishers", o.publishers},
      {"subscribers", o.subscribers},
      {"idle", o.idle},
      {"topic", o.topic},
      {"subscription", o.filter.empty() ? o.topic : o.filter},
      {"size", o.payload_size},
      {"qos", static_cast<unsigned>(o.qos)},
      {"rate", o.rate},
      {"inflight", o.inflight},
      {"session_expiry", o.session_expiry},
      {"window", r.window},
      {"broker_receive_maximum", r.broker_receive_maximum},
      {"ran", r.ran},
      {"connected", r.connected},
      {"connect_seconds", r.connect_seconds},
      {"seconds", r.seconds},
      {"sent", r.sent},
      {"acknowledged", r.acknowledged},
      {"refused", r.refused},
      {"received", r.received},
      {"expected", r.expected},
      {"unique", r.unique},
      {"lost", r.lost},
      {"duplicates", r.duplicates},
      {"out_of_order", r.out_of_order},
      {"foreign", r.foreign},
      {"sent_per_second", per_second(r.sent, r.seconds)},
      {"received_per_second", per_second(r.received_in_window, r.seconds)},
      {"latency_us",
       {{"count", l.count()},
        {"min", us(l.min())},
        {"p50", us(l.percentile(50))},
        {"p90", us(l.percentile(90))},
        {"p99", us(l.percentile(99))},
        {"p99_9", us(l.percentile(99.9))},
        {"max", us(l.max())},
        {"mean", l.mean() / 1e3}}},
      {"errors", r.errors},
  };
  fmt::print("{}\n", out.dump(2));
}

// 1,000 idle connections need more descriptors than the usual soft limit of 1024.
void raise_descriptor_limit(std::size_t needed) {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= needed) return;
  limit.rlim_cur = std::min<rlim_t>(limit.rlim_max, needed);
  ::setrlimit(RLIMIT_NOFILE, &limit);
}

}  // namespace

BenchCommand::BenchCommand(CLI::App& parent) {
  app_ = parent.add_subcommand("bench", "Load-test an MQTT broker: throughput, latency, losses");
  app_->footer(kFooter);
  app_->add_option("-b,--broker", broker_, "Broker URL (default: mqtt://127.0.0.1:1883)")
      ->envname("PSOS_BROKER");
  app_->add_option("--pub", load_.publishers, "Publishers")->capture_default_str();
  app_->add_option("--sub", load_.subscribers, "Subscribers")->capture_default_str();
  app_->add_option("--idle", load_.idle, "Extra connections that only connect and stay idle")
      ->capture_default_str();
  app_->add_option("-t,--topic", topic_, "Topic of publisher %i")->capture_default_str();
  app_->add_option("--sub-topic", filter_, "Filter of subscriber %i (default: --topic)");
  app_->add_option("-s,--size", load_.payload_size, "Payload bytes (at least 24: the stamp)")
      ->capture_default_str()
      ->check(CLI::Range(std::size_t{bench::kStampSize}, std::size_t{256} * 1024 * 1024));
  app_->add_option("-q,--qos", qos_, "QoS of publications and subscriptions")
      ->capture_default_str()
      ->check(CLI::Range(0u, 2u));
  app_->add_option("-r,--rate", load_.rate, "Messages/s per publisher (0: as fast as possible)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app_->add_option("-d,--duration", load_.duration, "Seconds of publishing")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app_->add_option("--inflight", load_.inflight,
                   "QoS 1/2 messages a publisher keeps unacknowledged (broker's limit permitting)")
      ->capture_default_str()
      ->check(CLI::Range(1u, 65535u));
  app_->add_option("--drain", load_.drain, "Seconds to wait for late messages at the end")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app_->add_option("--connect-timeout", load_.connect_timeout,
                   "Seconds for all connections to be ready")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app_->add_option("--protocol", protocol_, "MQTT version: 5 or 3.1.1")
      ->capture_default_str()
      ->check(CLI::IsMember({"5", "3.1.1"}));
  app_->add_option("--client-id", client_prefix_,
                   "Client id prefix (default: psos-bench-PID); ids are PREFIX-pub-%i, ...");
  app_->add_option("--session-expiry", load_.session_expiry,
                   "Persistent sessions: Clean Start 0 and this Session Expiry Interval in "
                   "seconds (MQTT 3.1.1: Clean Session 0); 0: clean sessions")
      ->capture_default_str();
  app_->add_option("--cafile", load_.ca_file, "CA certificates (PEM) for mqtts:// and wss://");
  app_->add_flag("--insecure", load_.insecure, "Do not verify the broker's certificate");
  app_->add_flag("--json", json_, "Print the result as JSON");
  app_->add_flag("--quiet", quiet_, "No progress on stderr");
}

bool BenchCommand::selected() const {
  return app_->parsed();
}

int BenchCommand::run() const {
  bench::LoadOptions options = load_;
  const std::string broker = broker_.empty() ? "mqtt://127.0.0.1:1883" : broker_;
  const net::UrlResult parsed = net::parse_url(broker);
  if (!parsed.ok()) {
    fmt::print(stderr, "psos bench: {}\n", parsed.error);
    return 1;
  }
  options.broker = parsed.url;
  options.topic = topic_;
  options.filter = filter_;
  options.qos = static_cast<mqtt::QoS>(qos_);
  options.version = protocol_ == "5" ? mqtt::Version::v5 : mqtt::Version::v311;
  options.client_prefix =
      client_prefix_.empty() ? "psos-bench-" + std::to_string(::getpid()) : client_prefix_;
  if (options.publishers + options.subscribers + options.idle == 0) {
    fmt::print(stderr, "psos bench: nothing to do: --pub, --sub and --idle are all 0\n");
    return 1;
  }
  raise_descriptor_limit(std::size_t{options.publishers} + options.subscribers + options.idle + 64);

  const bool has_publishers = options.publishers > 0;
  std::function<void(const bench::Progress&)> progress;
  if (!quiet_) {
    progress = [has_publishers](const bench::Progress& p) { print_progress(p, has_publishers); };
  }
  const bench::LoadReport report = bench::run_load(options, progress);
  if (json_) {
    print_json(options, report);
  } else if (report.ran) {
    print_table(options, report);
  }
  std::fflush(stdout);
  // Errors of a run that did not start are not in any table: stderr is where they go then.
  if (json_ || !report.ran) print_errors(stderr, "psos bench: ", report.errors);
  return report.errors.empty() ? 0 : 1;
}

}  // namespace psos::cli
