// `sim.dht`: a simulated DHT temperature and humidity sensor (a random walk), for examples and
// tests.
#include "modules/builtin.hpp"

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

}  // namespace psos::modules
