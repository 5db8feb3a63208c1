// `sysinfo`: the node's memory, CPU, load, disk and uptime, on an interval and on request.
#include "modules/builtin.hpp"

namespace psos::modules {

ModuleSpec sysinfo_spec() {
  return {
      .name = "sysinfo",
      .summary = "Publishes memory, CPU, load, disk and uptime",
      .description =
          "Publishes a JSON object: mem_total, mem_available (bytes), cpu (percent "
          "since the last report), load (1, 5 and 15 minutes), disk_total, disk_free "
          "(bytes) and uptime (seconds).",
      .params =
          {
              {.name = "pub",
               .type = ParamType::Topic,
               .default_value = "{node}/sysinfo",
               .description = "The topic the reports are published to"},
              {.name = "every",
               .type = ParamType::Duration,
               .default_value = "60s",
               .description = "Publish a report at this interval",
               .minimum = 1000},
              {.name = "request",
               .type = ParamType::Topic,
               .description = "Publish a report at once when any message arrives on this topic"},
              {.name = "disk",
               .type = ParamType::String,
               .default_value = "/",
               .description = "A path on the file system whose size and free space are reported"},
              qos_param(),
              retain_param(),
          },
  };
}

}  // namespace psos::modules
