// FleetCommands: the fleet commands registered together, for main().
#include "fleet_commands.hpp"

#include <CLI/CLI.hpp>

namespace psos::cli {

FleetCommands::FleetCommands(CLI::App& parent)
    : commands_{nodes_command(parent),     call_command(parent),    cmd_command(parent),
                conf_command(parent),      eval_command(parent),    repl_command(parent),
                logs_command(parent),      restart_command(parent), crashes_command(parent),
                dashboard_command(parent), deploy_command(parent),  rollback_command(parent)} {}

bool FleetCommands::selected() const {
  for (const FleetCommand& c : commands_)
    if (c.app->parsed()) return true;
  return false;
}

int FleetCommands::run() const {
  for (const FleetCommand& c : commands_)
    if (c.app->parsed()) return c.run();
  return 2;
}

}  // namespace psos::cli
