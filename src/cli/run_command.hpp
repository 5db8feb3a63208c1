// `psos run [FILE] [--node NAME] [--uplink URL] [--listen URL]... [--data DIR] [--allow-exec]`:
// runs one node of a system definition until Ctrl-C or SIGTERM, in a child process that a small
// parent starts again when it dies (runtime/process_supervisor.hpp).
#pragma once

#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace psos::cli {

class RunCommand {
 public:
  explicit RunCommand(CLI::App& parent);
  RunCommand(const RunCommand&) = delete;
  RunCommand& operator=(const RunCommand&) = delete;

  bool selected() const;
  int run() const;

 private:
  CLI::App* app_;
  std::string file_ = "psos.json";
  std::string node_;
  std::string uplink_;
  std::vector<std::string> listen_;
  std::string data_;
  std::string secrets_;
  std::string trust_;
  std::string log_level_ = "info";
  bool allow_exec_ = false;
  bool from_file_ = false;
  bool no_supervisor_ = false;
};

}  // namespace psos::cli
