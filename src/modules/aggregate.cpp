// `aggregate`: min, max, mean, count and sum over the last N messages or the last T.
#include "modules/builtin.hpp"

namespace psos::modules {

ModuleSpec aggregate_spec() {
  return {
      .name = "aggregate",
      .summary = "Computes min, max, mean, count or sum over a window of messages",
      .description =
          "Publishes a JSON object with one field per "
          "operation ({\"mean\": 21.4, \"max\": 22}). Payloads that are not numbers (or lack the "
          "property) are skipped and counted.",
      .params =
          {
              sub_param("The messages to aggregate"),
              pub_param("The topic the results are published to"),
              {.name = "ops",
               .type = ParamType::Strings,
               .default_value = nlohmann::json::array({"mean"}),
               .description = "The operations to compute",
               .allowed = {"min", "max", "mean", "count", "sum"}},
              {.name = "count",
               .type = ParamType::Integer,
               .description = "The window is the last count messages",
               .minimum = 1},
              {.name = "window",
               .type = ParamType::Duration,
               .description = "The window is the messages of the last window of time",
               .minimum = 1},
              {.name = "emit",
               .type = ParamType::String,
               .default_value = "each",
               .description = "each: publish after every message, over the sliding window; "
                              "window: publish once per full window, then start a new one",
               .allowed = {"each", "window"}},
              property_param(),
              qos_param(),
              retain_param(),
          },
      .one_of = {{"count", "window"}},
  };
}

}  // namespace psos::modules
