// `filter`: report by exception and deadband: passes a message on only when its value changed.
#include "modules/builtin.hpp"

namespace psos::modules {

ModuleSpec filter_spec() {
  return {
      .name = "filter",
      .summary = "Passes a message on only when its value changed (report by exception)",
      .description =
          "Each topic is tracked on its own: the first message always passes, later ones are "
          "compared with the last message passed on the same topic.",
      .params =
          {
              sub_param("The messages to filter"),
              pub_param("The topic the messages that pass are published to"),
              {.name = "mode",
               .type = ParamType::String,
               .default_value = "change",
               .description = "change: pass a value that differs from the last one passed; "
                              "deadband: pass a number that moved at least band away from it",
               .allowed = {"change", "deadband"}},
              {.name = "band",
               .type = ParamType::Number,
               .default_value = 0,
               .description = "deadband: the least change that passes",
               .minimum = 0},
              property_param(),
              qos_param(),
              retain_param(),
          },
  };
}

}  // namespace psos::modules
