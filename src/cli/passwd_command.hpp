// `psos passwd`: adds, updates or deletes a user in a broker password file, like
// mosquitto_passwd. The file format is in docs/security.md.
#pragma once

#include <cstdint>
#include <string>

namespace CLI {
class App;
}

namespace psos::cli {

class PasswdCommand {
 public:
  // Registers `passwd` as a subcommand of `parent`; the options are parsed into this object.
  explicit PasswdCommand(CLI::App& parent);
  PasswdCommand(const PasswdCommand&) = delete;
  PasswdCommand& operator=(const PasswdCommand&) = delete;

  // Did the command line name `passwd` (even if parsing then failed)?
  bool selected() const;
  // Does the work; 0 when done, 1 on any error (explained on stderr).
  int run() const;

 private:
  CLI::App* app_;
  std::string file_;
  std::string user_;
  std::string password_;
  bool batch_ = false;
  bool create_ = false;
  bool delete_ = false;
  std::uint32_t iterations_;
};

}  // namespace psos::cli
