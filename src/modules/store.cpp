// `store`: keeps messages in SQLite and answers queries over MQTT (the seed's mod_ds, mod_ds_get).
#include "modules/builtin.hpp"

namespace psos::modules {

ModuleSpec store_spec() {
  return {
      .name = "store",
      .summary = "Keeps messages in SQLite and answers queries over MQTT",
      .description =
          "A query is a JSON object published to request: {\"filter\": \"+/dht\", \"from\": "
          "T1, \"to\": T2, \"limit\": N, \"after\": ID}, all optional (times in Unix "
          "milliseconds). The answer, a JSON object with the messages and the id to ask "
          "\"after\" for the next page, goes to the request's MQTT 5 response topic, or to the "
          "topic in its \"reply\" field.",
      .params =
          {
              sub_param("The messages to keep"),
              {.name = "path",
               .type = ParamType::String,
               .default_value = "store.db",
               .description = "The SQLite file, relative to the service's state directory"},
              {.name = "request",
               .type = ParamType::Topic,
               .default_value = "{node}/{service}/query",
               .description = "The topic queries arrive on"},
              {.name = "keep",
               .type = ParamType::Duration,
               .description = "Delete messages older than this; left out, keep them",
               .minimum = 1000},
              {.name = "max_messages",
               .type = ParamType::Integer,
               .description = "Keep at most this many messages, deleting the oldest",
               .minimum = 1},
              {.name = "page",
               .type = ParamType::Integer,
               .default_value = 100,
               .description = "The most messages one answer carries",
               .minimum = 1,
               .maximum = 10000},
          },
  };
}

}  // namespace psos::modules
