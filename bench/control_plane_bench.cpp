// What the control plane costs a node: a whole runtime::Node (router, listener, a `pipe` service)
// with and without control::Agent ($state, $info, $metrics every second, $log, the loop probe,
// the command subscription), a generator and a counting sink on its router; the local bus's
// msg/s in each case, alternating runs so that the machine's drift hits both alike. Then the
// node idle for a while, with and without the control plane: CPU seconds used.
// scripts/bench_control runs it and prints the table; one JSON line per run on stdout.
//
// control_plane_bench [--seconds S] [--repetitions N] [--idle S] [--window W] [--batch B]
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "control/agent.hpp"
#include "modules/module.hpp"
#include "router/local_client.hpp"
#include "runtime/node.hpp"
#include "system/definition.hpp"

namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

struct Options {
  double seconds = 2.0;
  int repetitions = 3;
  double idle = 5.0;
  std::uint64_t window = 1000;
  std::uint64_t batch = 100;
};

double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

psos::system::NodeDefinition node_definition() {
  const nlohmann::json definition = {{"psos", 1},
                                     {"system", "bench"},
                                     {"nodes",
                                      {{"bench",
                                        {{"listen", {"mqtt://127.0.0.1:0"}},
                                         {"metrics", "1s"},
                                         {"log", {{"level", "info"}}},
                                         {"services",
                                          {{{"name", "relay"},
                                            {"module", "pipe"},
                                            {"sub", "bench/in"},
                                            {"pub", "bench/out"}}}}}}}}};
  psos::system::Diagnostics errors;
  const auto parsed = psos::system::parse_definition(definition.dump(), "bench.json", errors);
  auto node = psos::system::expand(*parsed, "bench", psos::system::Secrets(),
                                   psos::modules::builtin_catalog(), errors);
  if (!node) throw std::runtime_error("control_plane_bench: the definition is invalid");
  return *node;
}

struct Run {
  std::uint64_t sent = 0;
  std::uint64_t received = 0;
  double seconds = 0;
  double cpu = 0;
};

// One node, with or without its control plane; `busy`: the generator runs for o.seconds,
// otherwise the node idles for o.idle seconds.
Run run_once(const Options& o, bool control, bool busy) {
  asio::io_context io;
  auto ex = io.get_executor();
  const auto state = std::filesystem::temp_directory_path() / "psos-control-plane-bench";
  psos::runtime::NodeOptions options;
  options.definition = node_definition();
  options.data_dir = state;
  psos::runtime::Node node(ex, std::move(options));
  if (const std::string failure = node.start(); !failure.empty())
    throw std::runtime_error("control_plane_bench: " + failure);
  std::unique_ptr<psos::control::Agent> agent;
  if (control) {
    psos::control::AgentOptions agent_options;
    agent = std::make_unique<psos::control::Agent>(node, std::move(agent_options));
    agent->start();
  }
  Run r;
  psos::router::LocalClient sink(
      node.router(), ex, "sink",
      [&r](const psos::router::MessagePtr&, const psos::router::Delivery&) { ++r.received; });
  sink.subscribe("bench/out");
  psos::router::LocalClient generator(
      node.router(), ex, "generator",
      [](const psos::router::MessagePtr&, const psos::router::Delivery&) {});
  const double cpu_before = cpu_seconds();
  asio::co_spawn(
      ex,
      [&]() -> asio::awaitable<void> {
        co_await asio::post(ex, asio::use_awaitable);  // the service subscribes
        const auto start = SteadyClock::now();
        if (busy) {
          const auto end = start + std::chrono::duration<double>(o.seconds);
          while (SteadyClock::now() < end) {
            const std::uint64_t on_the_way = r.sent - r.received;
            for (std::uint64_t i = 0; on_the_way < o.window && i < o.batch; ++i, ++r.sent)
              generator.publish("bench/in", "21.5");
            co_await asio::post(ex, asio::use_awaitable);
          }
          const auto drain_end = SteadyClock::now() + 1s;
          while (r.received < r.sent && SteadyClock::now() < drain_end)
            co_await asio::post(ex, asio::use_awaitable);
        } else {
          asio::steady_timer wait(
              ex, std::chrono::milliseconds(static_cast<std::int64_t>(o.idle * 1000)));
          co_await wait.async_wait(asio::use_awaitable);
        }
        r.seconds = std::chrono::duration<double>(SteadyClock::now() - start).count();
        r.cpu = cpu_seconds() - cpu_before;
        if (agent)
          co_await agent->stop();
        else
          co_await node.stop();
        io.stop();
      },
      [](std::exception_ptr e) {
        if (e) std::rethrow_exception(e);
      });
  io.run();
  return r;
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--seconds")
      o.seconds = std::stod(value);
    else if (flag == "--repetitions")
      o.repetitions = std::stoi(value);
    else if (flag == "--idle")
      o.idle = std::stod(value);
    else if (flag == "--window")
      o.window = std::stoull(value);
    else if (flag == "--batch")
      o.batch = std::stoull(value);
    else
      throw std::runtime_error("control_plane_bench: unknown flag " + flag);
  }
  return o;
}

void report(const char* what, bool control, int repetition, const Run& r) {
  const double rate = r.seconds > 0 ? static_cast<double>(r.received) / r.seconds : 0;
  const nlohmann::json row = {
      {"case", what},           {"control", control},     {"repetition", repetition},
      {"sent", r.sent},         {"received", r.received}, {"seconds", r.seconds},
      {"msg_per_second", rate}, {"cpu_seconds", r.cpu}};
  std::printf("%s\n", row.dump().c_str());
  std::fflush(stdout);
  std::fprintf(stderr, "   %-5s control %-3s %12.0f msg/s  %.3f CPU s in %.1f s\n", what,
               control ? "on" : "off", rate, r.cpu, r.seconds);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Options o = parse(argc, argv);
    spdlog::set_level(spdlog::level::warn);
    for (int rep = 0; rep < o.repetitions; ++rep)
      for (const bool control : {false, true})
        report("bus", control, rep, run_once(o, control, true));
    for (const bool control : {false, true})
      report("idle", control, 0, run_once(o, control, false));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  return 0;
}
