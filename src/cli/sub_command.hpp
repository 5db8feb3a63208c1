// `psos sub`: subscribes and prints the messages received, like mosquitto_sub.
#pragma once

#include <string>
#include <vector>

#include "client_flags.hpp"

namespace CLI {
class App;
}

namespace psos::cli {

class SubCommand {
 public:
  // Registers `sub` as a subcommand of `parent`; the options are parsed into this object.
  explicit SubCommand(CLI::App& parent);
  SubCommand(const SubCommand&) = delete;
  SubCommand& operator=(const SubCommand&) = delete;

  bool selected() const;
  // Does the work; the exit status (0 done, 1 error explained on stderr, 27 -W timed out).
  int run();

 private:
  // The text printed for one message (-v, -F, -N).
  std::string render(const client::Message& message) const;

  CLI::App* app_;
  ClientFlags flags_;
  std::vector<std::string> topics_;
  std::vector<std::string> filter_out_;
  std::vector<std::string> unsubscribe_;
  bool verbose_ = false;
  int count_ = 0;
  int timeout_ = 0;
  bool no_retained_ = false;
  bool no_newline_ = false;
  std::string format_;
  bool exit_after_subscribe_ = false;
};

}  // namespace psos::cli
