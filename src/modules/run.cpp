// The table of built-in modules' code: one line per module (its spec is in registry.cpp).
#include "modules/builtin.hpp"
#include "modules/context.hpp"

namespace psos::modules {

Run find_run(std::string_view module) {
  struct Entry {
    std::string_view name;
    Run run;
  };
  static constexpr Entry kRuns[] = {
      {"function", run_function}, {"aggregate", run_aggregate}, {"bridge", run_bridge},
      {"delay", run_delay},       {"exec", run_exec},           {"filter", run_filter},
      {"log", run_log},           {"pipe", run_pipe},           {"store", run_store},
      {"sysinfo", run_sysinfo},   {"sim.dht", run_sim_dht},     {"sim.sensor", run_sim_sensor},
      {"switch", run_switch},     {"timer", run_timer},
  };
  for (const Entry& e : kRuns)
    if (e.name == module) return e.run;
  return nullptr;
}

}  // namespace psos::modules
