// `psos keygen`: creates the Ed25519 key pair that signs control commands (docs/control.md):
// the private key (mode 0600) and its public key file, by default the user's admin.key and
// admin.pub, which `psos run` trusts and the fleet commands sign with.
#pragma once

#include <string>

namespace CLI {
class App;
}

namespace psos::cli {

class KeygenCommand {
 public:
  // Registers `keygen` as a subcommand of `parent`; the options are parsed into this object.
  explicit KeygenCommand(CLI::App& parent);
  KeygenCommand(const KeygenCommand&) = delete;
  KeygenCommand& operator=(const KeygenCommand&) = delete;

  // Did the command line name `keygen` (even if parsing then failed)?
  bool selected() const;
  // Does the work; 0 when done, 1 on any error (explained on stderr).
  int run() const;

 private:
  CLI::App* app_;
  std::string out_;
  bool force_ = false;
};

}  // namespace psos::cli
