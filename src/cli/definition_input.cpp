// Reading definitions and secrets for the commands (see definition_input.hpp).
#include "definition_input.hpp"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "system/definition.hpp"

namespace psos::cli {

std::optional<std::string> read_text_file(const std::string& path, std::string& error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error = std::strerror(errno);
    return std::nullopt;
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    error = "read error";
    return std::nullopt;
  }
  return text.str();
}

system::Secrets load_secrets(const std::string& definition_file, const std::string& secrets_file,
                             system::Diagnostics& errors) {
  if (!secrets_file.empty()) return system::Secrets::load(secrets_file, errors);
  std::error_code ignored;
  const std::filesystem::path fallback = system::default_secrets_path(definition_file);
  if (std::filesystem::exists(fallback, ignored)) return system::Secrets::load(fallback, errors);
  return system::Secrets(fallback.string());
}

}  // namespace psos::cli
