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
      {"log", run_log},
      {"pipe", run_pipe},
      {"timer", run_timer},
  };
  for (const Entry& e : kRuns)
    if (e.name == module) return e.run;
  return nullptr;
}

}  // namespace psos::modules
