// `sim.dht`: a simulated DHT temperature and humidity sensor (a random walk), for examples and
// tests.
#include <cmath>
#include <nlohmann/json.hpp>
#include <random>

#include "modules/builtin.hpp"
#include "modules/context.hpp"

namespace psos::modules {

ModuleSpec sim_dht_spec() {
  return {
      .name = "sim.dht",
      .summary = "Simulates a temperature and humidity sensor",
      .description =
          "Publishes {\"temp\": 21.3, \"hum\": 50.1} (degrees Celsius, percent): "
          "each reading moves from the last by at most step, humidity kept within "
          "0..100.",
      .params =
          {
              pub_param("The topic the readings are published to"),
              {.name = "every",
               .type = ParamType::Duration,
               .default_value = "10s",
               .description = "Publish a reading at this interval",
               .minimum = 1},
              {.name = "temp",
               .type = ParamType::Number,
               .default_value = 21,
               .description = "The first temperature"},
              {.name = "hum",
               .type = ParamType::Number,
               .default_value = 50,
               .description = "The first humidity",
               .minimum = 0,
               .maximum = 100},
              {.name = "step",
               .type = ParamType::Number,
               .default_value = 0.2,
               .description = "The largest change from one reading to the next",
               .minimum = 0},
              {.name = "seed",
               .type = ParamType::Integer,
               .description = "Seed of the random walk, for repeatable runs; left out, random"},
          },
  };
}

namespace {

// Two decimals: finer than a real DHT22 (0.1), coarse enough to read.
double rounded(double x) {
  return std::round(x * 100) / 100;
}

}  // namespace

boost::asio::awaitable<void> run_sim_dht(Context& ctx) {
  const Params& p = ctx.params();
  const std::string& pub = p.text("pub");
  const auto every = p.duration("every");
  const double step = p.number("step");
  double temp = p.number("temp");
  double hum = p.number("hum");
  std::mt19937_64 random(p.has("seed") ? static_cast<std::uint64_t>(p.integer("seed"))
                                       : std::random_device{}());
  std::uniform_real_distribution<double> change(-step, step);
  // Readings keep to the interval set at start, like timer's every.
  auto next = std::chrono::system_clock::now();
  while (true) {
    nlohmann::json reading = {{"temp", rounded(temp)}, {"hum", rounded(hum)}};
    ctx.publish(pub, reading.dump());
    temp += change(random);
    hum = std::clamp(hum + change(random), 0.0, 100.0);
    next += every;
    co_await ctx.sleep_until(next);
  }
}

Module sim_dht_module() {
  return {.spec = sim_dht_spec(), .run = run_sim_dht};
}

}  // namespace psos::modules
