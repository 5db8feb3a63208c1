// Entry point of the `psos` command: parses the command line and dispatches to subcommands.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>

#include "bench_command.hpp"
#include "broker_command.hpp"
#include "passwd_command.hpp"

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
  psos::cli::BrokerCommand broker{app};
  psos::cli::PasswdCommand passwd{app};
  psos::cli::BenchCommand bench{app};

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int status = app.exit(e);
    // `psos passwd` promises exit status 1 for every error, bad usage included.
    return status != 0 && passwd.selected() ? 1 : status;
  }
  if (passwd.selected()) return passwd.run();
  if (broker.selected()) return broker.run();
  if (bench.selected()) return bench.run();

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
