// `psos passwd`: option parsing, password input (no echo on a terminal) and the file update.
#include "passwd_command.hpp"

#include <termios.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <optional>
#include <stdexcept>

#include "router/security/password_file.hpp"
#include "router/security/security_file.hpp"

namespace psos::cli {
namespace {

using router::PasswordFile;

constexpr const char* kFooter = R"(
Adds USER to the password file FILE, or gives USER a new password, hashed with
PBKDF2-HMAC-SHA512 and a random salt. FILE is created when missing and always
rewritten atomically with mode 0600; its comments and blank lines are kept.
The broker reads it with: psos broker --passwd FILE (format: docs/security.md).

The password is asked twice, without echo, when standard input is a terminal;
otherwise it is the first line of standard input. With -b it is the third
argument, which other local users can see in the process list: in scripts,
prefer standard input.

Exit status: 0 done, 1 error (bad usage included).

Examples:
  psos passwd /etc/psos/passwd alice
  printf '%s\n' "$PASSWORD" | psos passwd /etc/psos/passwd alice
  psos passwd -b passwd alice 's3cret'
  psos passwd -D passwd alice)";

int fail(const std::string& message) {
  std::fprintf(stderr, "psos passwd: %s\n", message.c_str());
  return 1;
}

// The terminal's settings while echo is off, restored if a signal ends the process at the prompt.
termios g_saved_terminal;

extern "C" void restore_terminal_and_reraise(int signal_number) {
  ::tcsetattr(STDIN_FILENO, TCSANOW, &g_saved_terminal);
  std::signal(signal_number, SIG_DFL);
  std::raise(signal_number);
}

// Prompts on stderr and reads one line from the terminal without echoing it.
// Echo goes off before the prompt appears, so nothing typed after the prompt is ever shown.
std::optional<std::string> read_hidden(const char* prompt) {
  if (::tcgetattr(STDIN_FILENO, &g_saved_terminal) != 0) return std::nullopt;
  termios quiet = g_saved_terminal;
  quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
  quiet.c_lflag |= ECHONL;
  const auto old_int = std::signal(SIGINT, restore_terminal_and_reraise);
  const auto old_term = std::signal(SIGTERM, restore_terminal_and_reraise);
  ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
  std::fputs(prompt, stderr);
  std::fflush(stderr);
  std::string line;
  const bool ok = static_cast<bool>(std::getline(std::cin, line));
  ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &g_saved_terminal);
  std::signal(SIGINT, old_int);
  std::signal(SIGTERM, old_term);
  if (!ok) return std::nullopt;
  return line;
}

// The new password from -b, the terminal (twice) or the first line of standard input; an error
// message when there is none.
std::optional<std::string> read_password(bool batch, const std::string& argument,
                                         std::string& error) {
  if (batch) return argument;
  if (::isatty(STDIN_FILENO)) {
    std::optional<std::string> first = read_hidden("Password: ");
    if (!first) {
      error = "no password entered";
      return std::nullopt;
    }
    const std::optional<std::string> second = read_hidden("Reenter password: ");
    if (!second || *first != *second) {
      error = "the passwords do not match; nothing changed";
      return std::nullopt;
    }
    return first;
  }
  std::string line;
  if (!std::getline(std::cin, line)) {
    error = "no password on standard input (expected one line)";
    return std::nullopt;
  }
  if (line.ends_with('\r')) line.pop_back();
  return line;
}

}  // namespace

PasswdCommand::PasswdCommand(CLI::App& parent)
    : app_(parent.add_subcommand("passwd",
                                 "Add, update or delete a user in a broker password file")),
      iterations_(PasswordFile::kDefaultIterations) {
  app_->footer(kFooter);
  app_->add_flag("-b", batch_, "Batch mode: take the password from the command line");
  app_->add_flag("-c", create_, "Create a new FILE, replacing an existing one and its users");
  app_->add_flag("-D", delete_, "Delete USER from FILE");
  app_->add_option("-I,--iterations", iterations_, "PBKDF2 iterations for the new hash")
      ->check(CLI::Range(PasswordFile::kMinIterations, PasswordFile::kMaxIterations))
      ->option_text("N (100000..10000000, default 210000)");
  app_->add_option("FILE", file_, "The password file")->required();
  app_->add_option("USER", user_, "The user name")->required();
  app_->add_option("PASSWORD", password_, "The password (only with -b)");
}

bool PasswdCommand::selected() const {
  return app_->parsed();
}

int PasswdCommand::run() const {
  if (create_ && delete_) return fail("-c and -D cannot be used together");
  if (delete_ && batch_) return fail("-D and -b cannot be used together");
  const bool has_password = app_->count("PASSWORD") > 0;
  if (batch_ && !has_password) return fail("-b needs the password as third argument");
  if (!batch_ && has_password)
    return fail("a password on the command line needs -b (or leave it out to be asked)");
  if (const char* problem = router::user_name_problem(user_))
    return fail(std::string(problem) + ": '" + user_ + "'");

  const std::filesystem::path path(file_);
  PasswordFile passwords;
  try {
    std::error_code ignored;
    if (!create_ && std::filesystem::exists(path, ignored)) {
      passwords = PasswordFile::load(path);
    } else if (delete_) {
      return fail(file_ + " does not exist");
    }
  } catch (const router::SecurityFileError& error) {
    for (const std::string& problem : error.problems())
      fail(problem);
    return fail("nothing changed: correct " + file_ + " first");
  }

  try {
    if (delete_) {
      if (!passwords.remove(user_)) return fail("user '" + user_ + "' is not in " + file_);
    } else {
      std::string error;
      const std::optional<std::string> password = read_password(batch_, password_, error);
      if (!password) return fail(error);
      passwords.set(user_, *password, iterations_);
    }
    passwords.save(path);
  } catch (const std::exception& error) {
    return fail(error.what());
  }
  return 0;
}

}  // namespace psos::cli
