// A command's round trip in one connection: N sequential signed `call`s of a function of a
// running node (control::Caller, as the fleet commands send them), each timed from the request to
// its reply. tools/bench/control_round_trip.py runs it beside `psos call` and mosquitto_rr.
//
// control_round_trip_bench --broker URL --node SYSTEM/NODE --service S --function F
//                          --key FILE [--calls N]
// Prints one JSON object: {"calls", "failed", "latency_ms": {"p50", "p99", "max"}}.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "control/caller.hpp"
#include "net/url.hpp"

namespace {

namespace asio = boost::asio;

struct Options {
  std::string broker = "mqtt://127.0.0.1:1883";
  std::string node;
  std::string service;
  std::string function = "status";
  std::string key;
  int calls = 1000;
};

double percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  return values[std::min(values.size() - 1,
                         static_cast<std::size_t>(p * static_cast<double>(values.size())))];
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--broker")
      o.broker = value;
    else if (flag == "--node")
      o.node = value;
    else if (flag == "--service")
      o.service = value;
    else if (flag == "--function")
      o.function = value;
    else if (flag == "--key")
      o.key = value;
    else if (flag == "--calls")
      o.calls = std::stoi(value);
    else {
      std::fprintf(stderr, "control_round_trip_bench: unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  spdlog::set_level(spdlog::level::warn);
  try {
    asio::io_context io;
    psos::client::ClientOptions co;
    const psos::net::UrlResult url = psos::net::parse_url(o.broker, "broker URL");
    if (!url.ok()) throw std::runtime_error(url.error);
    co.url = url.url;
    psos::control::Caller caller(io.get_executor(), std::move(co),
                                 psos::control::PrivateKey::load(o.key));
    const psos::control::NodeAddress node = psos::control::parse_node_address(o.node);
    std::vector<double> latency;
    int failed = 0;
    std::string error;
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          if (std::string why = co_await caller.connect(); !why.empty()) {
            error = why;
            co_return;
          }
          const nlohmann::json args = {
              {"service", o.service}, {"function", o.function}, {"args", nlohmann::json::object()}};
          for (int i = 0; i < o.calls; ++i) {
            const auto start = std::chrono::steady_clock::now();
            const auto reply =
                co_await caller.request(node, "call", args, std::chrono::milliseconds(5000));
            latency.push_back(
                std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                    .count());
            if (!reply || !reply->ok) ++failed;
          }
          co_await caller.stop();
        },
        [&](std::exception_ptr e) {
          if (!e) return;
          try {
            std::rethrow_exception(e);
          } catch (const std::exception& x) {
            error = x.what();
          }
        });
    io.run();
    if (!error.empty()) throw std::runtime_error(error);
    const nlohmann::json out = {{"calls", latency.size()},
                                {"failed", failed},
                                {"latency_ms",
                                 {{"p50", percentile(latency, 0.50)},
                                  {"p99", percentile(latency, 0.99)},
                                  {"max", percentile(latency, 1.0)}}}};
    std::printf("%s\n", out.dump().c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "control_round_trip_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
