// `bridge`: forwards topics between this node and a second named broker, without loops.
#include "modules/builtin.hpp"

namespace psos::modules {

ModuleSpec bridge_spec() {
  return {
      .name = "bridge",
      .summary = "Forwards topics between this node and a second broker",
      .description =
          "The bridge keeps its own resilient connection to broker. A message it brought in is "
          "never sent back out, and the reverse, so two bridges cannot loop a message. local/ "
          "topics are never forwarded.",
      .params =
          {
              {.name = "broker",
               .type = ParamType::Broker,
               .required = true,
               .description = "The second broker: a name from the definition's \"brokers\""},
              {.name = "topics",
               .type = ParamType::Filters,
               .default_value = nlohmann::json::array(),
               .description = "Forwarded from this node to the broker"},
              {.name = "topics_in",
               .type = ParamType::Filters,
               .default_value = nlohmann::json::array(),
               .description = "Forwarded from the broker to this node"},
              {.name = "remote_prefix",
               .type = ParamType::String,
               .default_value = "",
               .description = "Put before a topic going to the broker and taken off one coming "
                              "from it, so that several systems can share a broker (\"site1/\")"},
              {.name = "client_id",
               .type = ParamType::String,
               .default_value = "psos-{system}-{node}-{service}",
               .description = "The client id at the broker"},
              {.name = "qos",
               .type = ParamType::Integer,
               .default_value = 1,
               .description = "The QoS of forwarded messages (and of the bridge's subscriptions)",
               .minimum = 0,
               .maximum = 2},
          },
  };
}

}  // namespace psos::modules
