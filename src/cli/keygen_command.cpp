// `psos keygen`: where the key goes, the refusal to replace one, and what is printed.
#include "keygen_command.hpp"

#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <stdexcept>
#include <system_error>

#include "control/keys.hpp"

namespace psos::cli {
namespace {

namespace fs = std::filesystem;

constexpr const char* kFooter = R"(
Creates a new Ed25519 key pair for signing control commands: the private key
in FILE (PEM PKCS#8, mode 0600) and its public key in FILE.pub (FILE's '.key'
becomes '.pub'), one line 'ed25519:BASE64 user@host'. Prints that line.

Without --out, FILE is the user's admin key, $XDG_CONFIG_HOME/psos/admin.key
(else ~/.config/psos/admin.key), with admin.pub beside it: the key the fleet
commands (psos call, conf, eval, ...) sign with and that `psos run` trusts
when the definition has no "admins" and no --trust is given. `psos run`
creates it when missing, so on one machine nothing needs setting up.

To let a node on another machine accept your commands, add the printed line
to the file its `psos run --trust FILE` reads, or the key to the definition's
"admins": {"you": "ed25519:BASE64"}.

An existing key is never replaced without --force: nodes that trust it would
refuse commands signed with the new one.

Exit status: 0 done, 1 error, 2 usage.

Examples:
  psos keygen
  psos keygen --out ops.key && cat ops.pub >> /etc/psos/trusted)";

int fail(const std::string& message) {
  std::fprintf(stderr, "psos keygen: %s\n", message.c_str());
  return 1;
}

}  // namespace

KeygenCommand::KeygenCommand(CLI::App& parent)
    : app_(parent.add_subcommand("keygen", "Create a key pair for signing control commands")) {
  app_->footer(kFooter);
  app_->add_option("--out", out_, "The private key file (default: the user's admin.key)")
      ->option_text("FILE");
  app_->add_flag("--force", force_, "Replace FILE and FILE.pub if they exist");
}

bool KeygenCommand::selected() const {
  return app_->parsed();
}

int KeygenCommand::run() const {
  try {
    fs::path key_path = out_;
    if (out_.empty()) {
      const fs::path dir = control::default_key_dir();
      control::create_key_dir(dir);
      key_path = control::private_key_path(dir);
    }
    const fs::path pub_path = control::public_key_path(key_path);
    std::error_code error;
    if (!force_) {
      for (const fs::path& path : {key_path, pub_path})
        if (fs::exists(fs::symlink_status(path, error)))
          return fail(path.string() +
                      " already exists: use --force to replace it (nodes that trust its key "
                      "will then refuse commands signed with the new one)");
    }

    const control::PrivateKey key = control::PrivateKey::generate();
    const std::string name = control::default_key_name();
    if (force_) {
      key.save(key_path);
    } else if (!key.save_new(key_path)) {
      return fail(key_path.string() + " appeared while the key was made: nothing written");
    }
    control::save_public_key(pub_path, key.public_key(), name);
    std::fputs(control::public_key_line(key.public_key(), name).c_str(), stdout);
    std::fprintf(stderr, "psos keygen: wrote %s (private, mode 0600) and %s\n", key_path.c_str(),
                 pub_path.c_str());
    return 0;
  } catch (const std::exception& error) {
    return fail(error.what());
  }
}

}  // namespace psos::cli
