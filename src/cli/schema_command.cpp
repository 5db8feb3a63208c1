#include "schema_command.hpp"

#include <CLI/CLI.hpp>
#include <cstdio>

#include "modules/module.hpp"
#include "system/schema.hpp"

namespace psos::cli {

SchemaCommand::SchemaCommand(CLI::App& parent)
    : app_(parent.add_subcommand("schema", "Print the JSON Schema of system definitions")) {
  app_->footer(R"(
Prints the JSON Schema (draft 2020-12) that editors use to check and complete
definitions; it is generated from the same module specifications that
`psos check` and `psos modules` use. The repository keeps a copy in
schema/psos-definition.schema.json; a definition names it with a path
relative to itself, as examples/hello.json does:
  "$schema": "../schema/psos-definition.schema.json")");
}

bool SchemaCommand::selected() const {
  return app_->parsed();
}

int SchemaCommand::run() const {
  std::fputs(system::definition_schema(modules::builtin_catalog()).c_str(), stdout);
  return 0;
}

}  // namespace psos::cli
