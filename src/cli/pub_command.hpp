// `psos pub`: publishes one message, a file, or each line of standard input, like mosquitto_pub.
#pragma once

#include <string>

#include "client_flags.hpp"

namespace CLI {
class App;
}

namespace psos::cli {

class PubCommand {
 public:
  // Registers `pub` as a subcommand of `parent`; the options are parsed into this object.
  explicit PubCommand(CLI::App& parent);
  PubCommand(const PubCommand&) = delete;
  PubCommand& operator=(const PubCommand&) = delete;

  bool selected() const;
  // Does the work; the exit status (0 done, 1 error explained on stderr).
  int run();

 private:
  CLI::App* app_;
  ClientFlags flags_;
  std::string topic_;
  std::string message_;
  std::string file_;
  bool lines_ = false;
  bool null_message_ = false;
  bool stdin_whole_ = false;
  bool retain_ = false;
  bool message_given_ = false;
};

}  // namespace psos::cli
