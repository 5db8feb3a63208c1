// The list of built-in modules and the parameter specs several of them share.
#include <algorithm>

#include "modules/builtin.hpp"

namespace psos::modules {

// Each module file defines its entry.
Module aggregate_module();
Module bridge_module();
Module delay_module();
Module exec_module();
Module filter_module();
Module function_module();
Module log_module();
Module pipe_module();
Module sim_dht_module();
Module sim_sensor_module();
Module store_module();
Module switch_module();
Module sysinfo_module();
Module timer_module();

const std::vector<Module>& builtin_modules() {
  static const std::vector<Module> modules = {
      timer_module(),       // publishes on an interval or a schedule
      pipe_module(),        // reformats messages with a template
      function_module(),    // Lua code per message
      switch_module(),      // routes by rules
      filter_module(),      // report by exception, deadband
      delay_module(),       // delay, throttle, debounce
      aggregate_module(),   // min, max, mean, count, sum over a window
      log_module(),         // messages to the node's log
      store_module(),       // messages into SQLite, queries over MQTT
      sysinfo_module(),     // memory, CPU, load, disk, uptime
      sim_dht_module(),     // a simulated temperature and humidity sensor
      sim_sensor_module(),  // a simulated sensor of one value
      bridge_module(),      // topics to and from a second broker
      exec_module(),        // runs a command, publishes its output
  };
  return modules;
}

const Module* find_builtin(std::string_view name) {
  const std::vector<Module>& all = builtin_modules();
  const auto it =
      std::find_if(all.begin(), all.end(), [&](const Module& m) { return m.spec.name == name; });
  return it == all.end() ? nullptr : &*it;
}

const ModuleCatalog& builtin_catalog() {
  static const ModuleCatalog catalog = [] {
    std::vector<const ModuleSpec*> specs;
    for (const Module& m : builtin_modules())
      specs.push_back(&m.spec);
    return ModuleCatalog(std::move(specs));
  }();
  return catalog;
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
