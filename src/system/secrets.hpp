// Where `${secret:NAME}` values come from: PSOS_SECRET_<NAME> in the environment, then the node's
// secrets file (a JSON object of names to strings). Values never appear in messages.
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "system/diagnostic.hpp"

namespace psos::system {

class Secrets {
 public:
  // The environment only; `file` (which need not exist) is named in hints about missing secrets.
  explicit Secrets(std::string file = {}) : file_(std::move(file)) {}

  // Reads a secrets file: {"cloud_user": "alice", "cloud_password": "..."}. Problems go to
  // `errors` with the file's name, line and column and never with a value; the file's readable
  // entries are kept. Throws UnreadableFile when the file cannot be read.
  static Secrets load(const std::filesystem::path& file, Diagnostics& errors);

  // Adds or replaces one value (tests, and callers that get secrets elsewhere).
  void set(std::string name, std::string value);

  // The environment wins over the file, so that one secret can be overridden for one run.
  std::optional<std::string> find(std::string_view name) const;
  // "define PSOS_SECRET_CLOUD_USER or add \"cloud_user\" to greenhouse.secrets.json"
  std::string how_to_set(std::string_view name) const;

  // "cloud_user" -> "PSOS_SECRET_CLOUD_USER".
  static std::string environment_name(std::string_view name);
  // A secret's name: letters, digits and '_'.
  static bool valid_name(std::string_view name);

 private:
  std::string file_;
  std::map<std::string, std::string, std::less<>> values_;
};

// The secrets file a definition uses when none is named: next to it, with ".secrets.json" in
// place of ".json" (greenhouse.json -> greenhouse.secrets.json).
std::filesystem::path default_secrets_path(const std::filesystem::path& definition);

}  // namespace psos::system
