// The local bus, in process: a generator publishes timestamped messages that reach a counting
// sink through (a) the router alone, (b) a `function` (Lua) service or (c) a `pipe` service, the
// services running as in a node: runtime::Node keeps its router to itself, so this builds what
// Node::start builds around a service (a router with a node's options, a runtime::Service running
// the module's own code, expanded from a definition). scripts/bench_runtime runs it beside
// Node-RED (tools/bench/node_red_bench.js) and prints the table; one JSON line per run on stdout.
//
// runtime_bench [--variants router,function,pipe] [--seconds S] [--repetitions N]
//               [--window W] [--batch B] [--rate R] [--paced-seconds S]
// A "max" run publishes as fast as the loop allows: up to B messages at a time while fewer than W
// are on their way, then it yields to the loop (a posted continuation), for S seconds. A "paced"
// run publishes R messages per second on a 1 ms timer, for latency without queueing. Latency:
// sink time minus the generator's steady_clock time carried in the payload (nanoseconds as text).
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "modules/module.hpp"
#include "router/local_client.hpp"
#include "router/router.hpp"
#include "runtime/service.hpp"
#include "system/definition.hpp"

namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

struct Options {
  std::vector<std::string> variants{"router", "function", "pipe"};
  double seconds = 2.0;
  int repetitions = 3;
  std::uint64_t window = 1000;
  std::uint64_t batch = 100;
  std::uint64_t rate = 5000;
  double paced_seconds = 1.5;
};

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(SteadyClock::now().time_since_epoch())
      .count();
}

double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// The service of a variant, expanded from a one-node definition as `psos run` would (its
// parameters checked and given their defaults).
psos::system::ServiceDefinition service_definition(const std::string& module) {
  nlohmann::json service = {
      {"name", module}, {"module", module}, {"sub", "bench/in"}, {"pub", "bench/out"}};
  if (module == "function") service["code"] = "return {payload = msg.payload}";
  const nlohmann::json definition = {
      {"psos", 1},
      {"system", "bench"},
      {"nodes",
       {{"bench", {{"listen", {"mqtt://127.0.0.1:0"}}, {"services", {std::move(service)}}}}}}};
  psos::system::Diagnostics errors;
  const auto parsed = psos::system::parse_definition(definition.dump(), "bench.json", errors);
  std::optional<psos::system::NodeDefinition> node;
  if (parsed)
    node = psos::system::expand(*parsed, "bench", psos::system::Secrets(),
                                psos::modules::builtin_catalog(), errors);
  if (!node || !errors.empty()) {
    std::string text;
    for (const auto& e : errors)
      text += "\n  " + psos::system::to_string(e);
    throw std::runtime_error("runtime_bench: the " + module + " definition is invalid:" + text);
  }
  return node->services.front();
}

struct Run {
  std::uint64_t sent = 0;
  std::uint64_t received = 0;
  std::vector<std::uint32_t> latency_ns;  // saturated at ~4.3 s
  double seconds = 0;
  std::string error;
};

double percentile(std::vector<std::uint32_t>& values, double p) {
  if (values.empty()) return 0;
  const auto k = static_cast<std::size_t>(p * static_cast<double>(values.size() - 1));
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(k), values.end());
  return values[k] / 1000.0;
}

// One run of one variant; `paced`: R messages per second instead of as fast as possible.
Run run_once(const Options& o, const std::string& variant, bool paced) {
  asio::io_context io;  // as `psos run` makes it
  auto ex = io.get_executor();
  psos::router::RouterOptions ro;
  ro.local_prefix = "local/";
  ro.sys_prefix = "$SYS/psos/bench";
  psos::router::Router router(ex, ro);
  Run r;
  r.latency_ns.reserve(static_cast<std::size_t>(o.seconds * 4e6));

  psos::router::LocalClient sink(
      router, ex, "sink", [&r](const psos::router::MessagePtr& m, const psos::router::Delivery&) {
        std::int64_t sent_at = 0;
        std::from_chars(m->payload.data(), m->payload.data() + m->payload.size(), sent_at);
        const std::int64_t age = now_ns() - sent_at;
        r.latency_ns.push_back(static_cast<std::uint32_t>(
            std::clamp<std::int64_t>(age, 0, std::numeric_limits<std::uint32_t>::max())));
        ++r.received;
      });
  sink.subscribe(variant == "router" ? "bench/in" : "bench/out");
  psos::router::LocalClient generator(
      router, ex, "generator",
      [](const psos::router::MessagePtr&, const psos::router::Delivery&) {});

  // The router's own timers keep the loop running: it is stopped once the generator and the
  // service are done (or a second after the generator, should the service not stop).
  std::unique_ptr<psos::runtime::Service> service;
  bool service_done = variant == "router";
  bool generator_done = false;
  asio::steady_timer give_up(ex);
  const auto finish = [&] {
    if (generator_done && service_done) io.stop();
  };
  if (!service_done) {
    const psos::modules::Module* module = psos::modules::find_builtin(variant);
    service = std::make_unique<psos::runtime::Service>(
        router, ex, "bench", "bench", service_definition(variant), module->spec,
        std::filesystem::temp_directory_path() / "psos-runtime-bench");
    const psos::modules::Run code = module->run;
    asio::co_spawn(ex, code(*service), [&](std::exception_ptr e) {
      service_done = true;
      if (e && !service->stopping()) {
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& x) {
          r.error = x.what();
        }
      }
      finish();
    });
  }

  const double seconds = paced ? o.paced_seconds : o.seconds;
  asio::co_spawn(
      ex,
      [&]() -> asio::awaitable<void> {
        // Let the service subscribe before the first message.
        co_await asio::post(ex, asio::use_awaitable);
        const auto start = SteadyClock::now();
        const auto end = start + std::chrono::duration<double>(seconds);
        asio::steady_timer tick(ex);
        auto publish = [&](std::uint64_t n) {
          for (std::uint64_t i = 0; i < n; ++i) {
            generator.publish("bench/in", std::to_string(now_ns()));
            ++r.sent;
          }
        };
        while (SteadyClock::now() < end && r.error.empty()) {
          if (paced) {
            const double elapsed =
                std::chrono::duration<double>(SteadyClock::now() - start).count();
            const auto due = static_cast<std::uint64_t>(elapsed * static_cast<double>(o.rate));
            if (due > r.sent) publish(due - r.sent);
            tick.expires_after(1ms);
            co_await tick.async_wait(asio::as_tuple(asio::use_awaitable));
          } else {
            const std::uint64_t on_the_way = r.sent - r.received;
            if (on_the_way < o.window) publish(std::min(o.batch, o.window - on_the_way));
            co_await asio::post(ex, asio::use_awaitable);
          }
        }
        // What is on its way still arrives (a bounded wait), then the count stops.
        const auto drain_end = SteadyClock::now() + 1s;
        while (r.received < r.sent && SteadyClock::now() < drain_end)
          co_await asio::post(ex, asio::use_awaitable);
        r.seconds = std::chrono::duration<double>(SteadyClock::now() - start).count();
      },
      [&](std::exception_ptr e) {
        if (e) r.error = "generator failed";
        generator_done = true;
        if (service) service->request_stop();
        give_up.expires_after(1s);
        give_up.async_wait([&](boost::system::error_code) { io.stop(); });
        finish();
      });
  io.run();
  if (!service_done && r.error.empty()) r.error = "the service did not stop";
  return r;
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) throw std::runtime_error("runtime_bench: " + flag + " needs a value");
    const std::string value = argv[++i];
    if (flag == "--variants") {
      o.variants.clear();
      std::stringstream list(value);
      for (std::string v; std::getline(list, v, ',');)
        o.variants.push_back(v);
    } else if (flag == "--seconds") {
      o.seconds = std::stod(value);
    } else if (flag == "--repetitions") {
      o.repetitions = std::stoi(value);
    } else if (flag == "--window") {
      o.window = std::stoull(value);
    } else if (flag == "--batch") {
      o.batch = std::stoull(value);
    } else if (flag == "--rate") {
      o.rate = std::stoull(value);
    } else if (flag == "--paced-seconds") {
      o.paced_seconds = std::stod(value);
    } else {
      throw std::runtime_error("runtime_bench: unknown flag " + flag +
                               " (--variants --seconds --repetitions --window --batch --rate "
                               "--paced-seconds)");
    }
  }
  for (const std::string& v : o.variants)
    if (v != "router" && v != "function" && v != "pipe")
      throw std::runtime_error("runtime_bench: unknown variant " + v +
                               " (router, function or pipe)");
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Options o = parse(argc, argv);
    spdlog::set_level(spdlog::level::warn);
    for (const std::string& variant : o.variants) {
      for (int mode = 0; mode < 2; ++mode) {
        const bool paced = mode == 1;
        for (int rep = 0; rep < (paced ? 1 : o.repetitions); ++rep) {
          const double cpu_before = cpu_seconds();
          Run r = run_once(o, variant, paced);
          const double cpu = cpu_seconds() - cpu_before;
          const double rate = r.seconds > 0 ? static_cast<double>(r.received) / r.seconds : 0;
          nlohmann::json row = {{"system", "psos"},
                                {"variant", variant},
                                {"mode", paced ? "paced" : "max"},
                                {"repetition", rep},
                                {"window", o.window},
                                {"batch", o.batch},
                                {"rate", paced ? o.rate : 0},
                                {"sent", r.sent},
                                {"received", r.received},
                                {"seconds", r.seconds},
                                {"msg_per_second", rate},
                                {"cpu_seconds", cpu},
                                {"latency_us",
                                 {{"p50", percentile(r.latency_ns, 0.50)},
                                  {"p99", percentile(r.latency_ns, 0.99)},
                                  {"max", percentile(r.latency_ns, 1.0)}}},
                                {"error", r.error}};
          std::printf("%s\n", row.dump().c_str());
          std::fflush(stdout);
          std::fprintf(stderr, "   psos %-8s %-5s %12.0f msg/s  p50 %8.1f us  p99 %8.1f us%s%s\n",
                       variant.c_str(), paced ? "paced" : "max", rate,
                       row["latency_us"]["p50"].get<double>(),
                       row["latency_us"]["p99"].get<double>(),
                       r.error.empty() ? "" : "  ERROR: ", r.error.c_str());
        }
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  return 0;
}
