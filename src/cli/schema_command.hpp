// `psos schema`: prints the JSON Schema of system definitions, generated from the module specs
// (schema/psos-definition.schema.json is its committed copy).
#pragma once

namespace CLI {
class App;
}

namespace psos::cli {

class SchemaCommand {
 public:
  explicit SchemaCommand(CLI::App& parent);
  SchemaCommand(const SchemaCommand&) = delete;
  SchemaCommand& operator=(const SchemaCommand&) = delete;

  bool selected() const;
  int run() const;

 private:
  CLI::App* app_;
};

}  // namespace psos::cli
