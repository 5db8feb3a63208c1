// `exec`: runs a configured command and publishes its output. Off unless the node allows it.
#include "modules/builtin.hpp"

namespace psos::modules {

ModuleSpec exec_spec() {
  return {
      .name = "exec",
      .summary = "Runs a command and publishes its output",
      .description =
          "Refused unless the node's own local configuration allows exec: a definition, or a "
          "remote deploy of one, cannot enable it by itself. The command runs on every, on each "
          "message on sub (the payload is its standard input), or, with neither, once when the "
          "service starts. Its standard output is the payload; a non-zero exit status is "
          "logged with the first line of its standard error.",
      .params =
          {
              {.name = "command",
               .type = ParamType::Strings,
               .required = true,
               .description = "The program and its arguments, run directly (no shell)"},
              pub_param("The topic the output is published to"),
              {.name = "every",
               .type = ParamType::Duration,
               .description = "Run at this interval",
               .minimum = 1000},
              {.name = "sub",
               .type = ParamType::Filters,
               .description = "Run on each message on these filters"},
              {.name = "timeout",
               .type = ParamType::Duration,
               .default_value = "10s",
               .description = "A run that takes longer is killed and reported",
               .minimum = 1},
              qos_param(),
              retain_param(),
          },
  };
}

}  // namespace psos::modules
