// `delay`: delays, throttles (rate limits) or debounces messages.
#include "modules/builtin.hpp"

namespace psos::modules {

ModuleSpec delay_spec() {
  return {
      .name = "delay",
      .summary = "Delays, throttles or debounces messages",
      .description = "Messages keep their payload; they are published on pub in arrival order.",
      .params =
          {
              sub_param("The messages to delay"),
              pub_param("The topic the messages are published to when their time comes"),
              {.name = "mode",
               .type = ParamType::String,
               .default_value = "delay",
               .description = "delay: hold each message for time; throttle: at most one "
                              "message per time; debounce: pass the last message once no other "
                              "arrived for time",
               .allowed = {"delay", "throttle", "debounce"}},
              {.name = "time",
               .type = ParamType::Duration,
               .required = true,
               .description = "The delay, the least time between two messages (throttle) or "
                              "the quiet time (debounce)"},
              {.name = "drop",
               .type = ParamType::Boolean,
               .default_value = false,
               .description = "throttle: drop the messages that come too soon instead of "
                              "holding them"},
              {.name = "queue",
               .type = ParamType::Integer,
               .default_value = 1000,
               .description = "The most messages held; beyond it the oldest are dropped and "
                              "counted",
               .minimum = 1},
              qos_param(),
              retain_param(),
          },
  };
}

}  // namespace psos::modules
