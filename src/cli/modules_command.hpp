// `psos modules [NAME]`: the built-in modules and their parameters, generated from the same
// specifications that check definitions.
#pragma once

#include <string>

namespace CLI {
class App;
}

namespace psos::cli {

class ModulesCommand {
 public:
  explicit ModulesCommand(CLI::App& parent);
  ModulesCommand(const ModulesCommand&) = delete;
  ModulesCommand& operator=(const ModulesCommand&) = delete;

  bool selected() const;
  // 0, or 1 when NAME is not a module.
  int run() const;

 private:
  CLI::App* app_;
  std::string name_;
};

}  // namespace psos::cli
