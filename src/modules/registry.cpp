// The list of built-in modules and the parameter specs several of them share.
#include "modules/builtin.hpp"

namespace psos::modules {

const std::vector<ModuleSpec>& registry() {
  static const std::vector<ModuleSpec> modules = {
      timer_spec(),       // publishes on an interval or a schedule
      pipe_spec(),        // reformats messages with a template
      function_spec(),    // Lua code per message
      switch_spec(),      // routes by rules
      filter_spec(),      // report by exception, deadband
      delay_spec(),       // delay, throttle, debounce
      aggregate_spec(),   // min, max, mean, count, sum over a window
      log_spec(),         // messages to the node's log
      store_spec(),       // messages into SQLite, queries over MQTT
      sysinfo_spec(),     // memory, CPU, load, disk, uptime
      sim_dht_spec(),     // a simulated temperature and humidity sensor
      sim_sensor_spec(),  // a simulated sensor of one value
      bridge_spec(),      // topics to and from a second broker
      exec_spec(),        // runs a command, publishes its output
  };
  return modules;
}

ParamSpec sub_param(std::string description) {
  return {.name = "sub",
          .type = ParamType::Filters,
          .required = true,
          .description = std::move(description)};
}

ParamSpec pub_param(std::string description) {
  return {.name = "pub",
          .type = ParamType::Topic,
          .required = true,
          .description = std::move(description)};
}

ParamSpec qos_param() {
  return {.name = "qos",
          .type = ParamType::Integer,
          .default_value = 0,
          .description = "The QoS of the messages this service publishes",
          .minimum = 0,
          .maximum = 2};
}

ParamSpec retain_param() {
  return {.name = "retain",
          .type = ParamType::Boolean,
          .default_value = false,
          .description = "Publish retained, so that a late subscriber gets the last message"};
}

ParamSpec property_param() {
  return {.name = "property",
          .type = ParamType::String,
          .default_value = "",
          .description =
              "The field of a JSON payload to use, dotted for nested fields "
              "(\"temp\", \"env.temp\"); empty: the whole payload"};
}

}  // namespace psos::modules
