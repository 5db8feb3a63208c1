// The fleet commands, which manage running nodes over the broker they meet at (docs/control.md):
// psos nodes, call, cmd, conf, eval, repl, logs, restart and crashes. Each is registered by a
// function of its own file; FleetCommands holds them for main().
#pragma once

#include <functional>
#include <vector>

namespace CLI {
class App;
}

namespace psos::cli {

// One fleet command: its subcommand, and what runs it once the command line is parsed (its
// exit status).
struct FleetCommand {
  CLI::App* app = nullptr;
  std::function<int()> run;
};

FleetCommand nodes_command(CLI::App& parent);      // nodes_command.cpp
FleetCommand call_command(CLI::App& parent);       // request_commands.cpp
FleetCommand cmd_command(CLI::App& parent);        // request_commands.cpp
FleetCommand eval_command(CLI::App& parent);       // request_commands.cpp
FleetCommand restart_command(CLI::App& parent);    // request_commands.cpp
FleetCommand conf_command(CLI::App& parent);       // conf_command.cpp
FleetCommand repl_command(CLI::App& parent);       // repl_command.cpp
FleetCommand logs_command(CLI::App& parent);       // logs_command.cpp
FleetCommand crashes_command(CLI::App& parent);    // crashes_command.cpp
FleetCommand dashboard_command(CLI::App& parent);  // dashboard_command.cpp
FleetCommand deploy_command(CLI::App& parent);     // deploy_command.cpp
FleetCommand rollback_command(CLI::App& parent);   // deploy_command.cpp

class FleetCommands {
 public:
  explicit FleetCommands(CLI::App& parent);

  // Did the command line name one of them (even if parsing then failed)?
  bool selected() const;
  // Runs the one selected: 0 success, 1 the node answered with an error, 2 usage, 3 no answer.
  int run() const;

 private:
  std::vector<FleetCommand> commands_;
};

}  // namespace psos::cli
