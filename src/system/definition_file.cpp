// Reading definitions and their secrets (see definition_file.hpp).
#include "system/definition_file.hpp"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "system/definition.hpp"

namespace psos::system {

std::string read_text_file(const std::string& path, std::string_view kind) {
  // A directory opens, and reads as an empty file.
  std::error_code ignored;
  if (std::filesystem::is_directory(path, ignored))
    throw UnreadableFile(path, std::strerror(EISDIR), kind);
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UnreadableFile(path, std::strerror(errno), kind);
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw UnreadableFile(path, "read error", kind);
  return text.str();
}

Secrets load_secrets(const std::string& definition_file, const std::string& secrets_file,
                     Diagnostics& errors) {
  if (!secrets_file.empty()) return Secrets::load(secrets_file, errors);
  std::error_code ignored;
  const std::filesystem::path fallback = default_secrets_path(definition_file);
  if (std::filesystem::exists(fallback, ignored)) return Secrets::load(fallback, errors);
  return Secrets(fallback.string());
}

}  // namespace psos::system
