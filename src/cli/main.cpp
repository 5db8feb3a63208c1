// Entry point of the `psos` command: parses the command line and dispatches to subcommands.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>

#include "bench_command.hpp"
#include "broker_command.hpp"
#include "check_command.hpp"
#include "fleet_commands.hpp"
#include "keygen_command.hpp"
#include "modules_command.hpp"
#include "passwd_command.hpp"
#include "pub_command.hpp"
#include "run_command.hpp"
#include "schema_command.hpp"
#include "sub_command.hpp"

namespace {

constexpr const char* kAbout =
    "psos " PSOS_VERSION
    " - a Publish/Subscribe OS: systems of small services that talk through MQTT topics.";

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{kAbout, "psos"};
  app.set_version_flag("-V,--version", "psos " PSOS_VERSION);
  app.require_subcommand(0, 1);

  auto* help = app.add_subcommand("help", "Show help for psos or for one command");
  std::string help_topic;
  help->add_option("command", help_topic, "The command to describe");
  psos::cli::RunCommand run{app};
  psos::cli::BrokerCommand broker{app};
  psos::cli::PasswdCommand passwd{app};
  psos::cli::BenchCommand bench{app};
  psos::cli::PubCommand pub{app};
  psos::cli::SubCommand sub{app};
  psos::cli::CheckCommand check{app};
  psos::cli::ModulesCommand modules{app};
  psos::cli::SchemaCommand schema{app};
  psos::cli::KeygenCommand keygen{app};
  psos::cli::FleetCommands fleet{app};

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int status = app.exit(e);
    // `psos check` promises 2 when it cannot get at the definition, bad usage included.
    if (status != 0 && check.selected()) return 2;
    // So does `psos keygen`, like the fleet commands.
    if (status != 0 && keygen.selected()) return 2;
    // The fleet commands: 2 is usage, 1 and 3 say what the node did.
    if (status != 0 && fleet.selected()) return 2;
    // `psos passwd` promises exit status 1 for every error, bad usage included.
    // So does `psos pub` / `psos sub`, like mosquitto_pub and mosquitto_sub.
    return status != 0 && (passwd.selected() || pub.selected() || sub.selected()) ? 1 : status;
  }
  if (run.selected()) return run.run();
  if (passwd.selected()) return passwd.run();
  if (broker.selected()) return broker.run();
  if (bench.selected()) return bench.run();
  if (pub.selected()) return pub.run();
  if (sub.selected()) return sub.run();
  if (check.selected()) return check.run();
  if (modules.selected()) return modules.run();
  if (schema.selected()) return schema.run();
  if (keygen.selected()) return keygen.run();
  if (fleet.selected()) return fleet.run();

  if (app.got_subcommand(help) || app.get_subcommands().empty()) {
    if (help_topic.empty() || help_topic == "help") {
      // The top level's help: help() of a parsed app describes the subcommand that was used.
      app.clear();
      std::fputs(app.help().c_str(), stdout);
      return 0;
    }
    CLI::App* target = nullptr;
    try {
      target = app.get_subcommand(help_topic);
    } catch (const CLI::OptionNotFound&) {
      std::fprintf(stderr, "psos help: unknown command '%s'; run 'psos help' for the list\n",
                   help_topic.c_str());
      return 2;
    }
    std::fputs(target->help().c_str(), stdout);
    return 0;
  }
  return 0;
}
