// `sim.sensor`: a simulated sensor of one value (a random walk), for examples and tests.
#include <algorithm>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <random>
#include <stdexcept>

#include "modules/builtin.hpp"
#include "modules/context.hpp"

namespace psos::modules {

ModuleSpec sim_sensor_spec() {
  return {
      .name = "sim.sensor",
      .summary = "Simulates a sensor of one value",
      .description =
          "Publishes {\"value\": 3.2} (the field named by field, with \"unit\" when "
          "one is given) or, with an empty field, the bare number.",
      .params =
          {
              pub_param("The topic the readings are published to"),
              {.name = "every",
               .type = ParamType::Duration,
               .default_value = "10s",
               .description = "Publish a reading at this interval",
               .minimum = 1},
              {.name = "start",
               .type = ParamType::Number,
               .default_value = 0,
               .description = "The first value"},
              {.name = "step",
               .type = ParamType::Number,
               .default_value = 1,
               .description = "The largest change from one reading to the next",
               .minimum = 0},
              {.name = "min",
               .type = ParamType::Number,
               .description = "The value never goes below this"},
              {.name = "max",
               .type = ParamType::Number,
               .description = "The value never goes above this"},
              {.name = "field",
               .type = ParamType::String,
               .default_value = "value",
               .description = "The JSON field of the reading; empty: the payload is the bare "
                              "number"},
              {.name = "unit",
               .type = ParamType::String,
               .description = "Added to the payload as \"unit\" (\"lx\", \"%\")"},
              {.name = "seed",
               .type = ParamType::Integer,
               .description = "Seed of the random walk, for repeatable runs; left out, random"},
          },
  };
}

boost::asio::awaitable<void> run_sim_sensor(Context& ctx) {
  const Params& p = ctx.params();
  const std::string& pub = p.text("pub");
  const auto every = p.duration("every");
  const double step = p.number("step");
  const double low = p.has("min") ? p.number("min") : -std::numeric_limits<double>::infinity();
  const double high = p.has("max") ? p.number("max") : std::numeric_limits<double>::infinity();
  const std::string& field = p.text("field");
  if (low > high)
    throw std::runtime_error("sim.sensor: parameter \"min\" (" + std::to_string(low) +
                             ") is above \"max\" (" + std::to_string(high) + ")");
  if (field.empty() && p.has("unit"))
    throw std::runtime_error(
        "sim.sensor: parameter \"unit\" needs a field: a bare number has no room for it");
  double value = std::clamp(p.number("start"), low, high);
  std::mt19937_64 random(p.has("seed") ? static_cast<std::uint64_t>(p.integer("seed"))
                                       : std::random_device{}());
  std::uniform_real_distribution<double> change(-step, step);
  // Readings keep to the interval set at start, like timer's every.
  auto next = std::chrono::system_clock::now();
  while (true) {
    // Two decimals: as precise as a reading needs to look, and short to read.
    const double shown = std::round(value * 100) / 100;
    if (field.empty()) {
      ctx.publish(pub, nlohmann::json(shown).dump());
    } else {
      nlohmann::json reading = {{field, shown}};
      if (p.has("unit")) reading["unit"] = p.text("unit");
      ctx.publish(pub, reading.dump());
    }
    value = std::clamp(value + change(random), low, high);
    next += every;
    co_await ctx.sleep_until(next);
  }
}

Module sim_sensor_module() {
  return {.spec = sim_sensor_spec(), .run = run_sim_sensor};
}

}  // namespace psos::modules
