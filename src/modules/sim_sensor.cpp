// `sim.sensor`: a simulated sensor of one value (a random walk), for examples and tests.
#include "modules/builtin.hpp"

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

}  // namespace psos::modules
