// `psos check FILE`: validates a system definition and prints one line per problem,
// `FILE:LINE:COL: PATH: message`. Exit status 0 valid, 1 invalid, 2 unreadable.
#pragma once

#include <string>

namespace CLI {
class App;
}

namespace psos::cli {

class CheckCommand {
 public:
  // Registers `check` as a subcommand of `parent`.
  explicit CheckCommand(CLI::App& parent);
  CheckCommand(const CheckCommand&) = delete;
  CheckCommand& operator=(const CheckCommand&) = delete;

  bool selected() const;
  int run() const;

 private:
  CLI::App* app_;
  std::string file_;
  std::string secrets_;
  std::string node_;
};

}  // namespace psos::cli
