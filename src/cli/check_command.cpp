// `psos check`: reads the definition and its secrets, checks every node (or one), reports.
#include "check_command.hpp"

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>

#include "modules/module.hpp"
#include "system/definition.hpp"
#include "system/definition_file.hpp"
#include "system/secrets.hpp"

namespace psos::cli {
namespace {

constexpr const char* kFooter = R"(
Checks FILE as `psos run` would: JSON syntax, the format version, keys, module
parameters (types, durations, topics, allowed values), templates, secrets,
broker names and duplicate service names. Every problem is one line on
standard error:
  FILE:LINE:COL: PATH: message
where PATH is the JSON path of the value ("nodes/e01/services/1/every").
The format is in docs/definition.md.

Secrets (${secret:NAME}) come from PSOS_SECRET_<NAME> in the environment or
from the secrets file: --secrets, or else FILE with .secrets.json in place of
.json when that file exists. Their values are never printed.

Exit status: 0 valid, 1 problems found, 2 FILE or the secrets file unreadable.

Examples:
  psos check examples/hello.json
  psos check greenhouse.json --node gw --secrets /etc/psos/secrets.json)";

std::string plural(std::size_t n, const char* word) {
  return std::to_string(n) + " " + word + (n == 1 ? "" : "s");
}

}  // namespace

CheckCommand::CheckCommand(CLI::App& parent)
    : app_(parent.add_subcommand("check", "Check a system definition and report its problems")) {
  app_->footer(kFooter);
  app_->add_option("FILE", file_, "The definition (JSON)")->required();
  app_->add_option("--secrets", secrets_, "The secrets file (a JSON object of names to strings)")
      ->option_text("FILE");
  app_->add_option("--node", node_, "Check only this node (and what the whole file shares)")
      ->option_text("NAME");
}

bool CheckCommand::selected() const {
  return app_->parsed();
}

int CheckCommand::run() const {
  std::string text;
  system::Diagnostics errors;
  std::optional<system::Secrets> secrets;
  try {
    text = system::read_text_file(file_);
    secrets = system::load_secrets(file_, secrets_, errors);
  } catch (const system::UnreadableFile& e) {
    std::fprintf(stderr, "psos check: %s\n", e.what());
    return 2;
  }

  std::size_t nodes = 0;
  std::size_t services = 0;
  std::string system_name;
  if (node_.empty()) {
    system::CheckResult result =
        system::check_definition(text, file_, *secrets, modules::builtin_catalog());
    errors.insert(errors.end(), result.errors.begin(), result.errors.end());
    nodes = result.nodes.size();
    for (const system::NodeDefinition& node : result.nodes)
      services += node.services.size();
    if (result.definition) system_name = result.definition->system();
  } else {
    const std::optional<system::Definition> definition =
        system::parse_definition(text, file_, errors);
    if (definition) {
      system_name = definition->system();
      if (const std::optional<system::NodeDefinition> node =
              system::expand(*definition, node_, *secrets, modules::builtin_catalog(), errors)) {
        nodes = 1;
        services = node->services.size();
      }
    }
  }
  system::sort_and_deduplicate(errors);

  for (const system::Diagnostic& diagnostic : errors)
    std::fprintf(stderr, "%s\n", system::to_string(diagnostic).c_str());
  if (!errors.empty()) {
    std::fprintf(stderr, "%s: %s\n", file_.c_str(), plural(errors.size(), "problem").c_str());
    return 1;
  }
  std::printf("%s: valid: system %s, %s, %s\n", file_.c_str(), system_name.c_str(),
              plural(nodes, "node").c_str(), plural(services, "service").c_str());
  return 0;
}

}  // namespace psos::cli
