#include "system/secrets.hpp"

#include <cctype>
#include <cstdlib>

#include "system/definition_file.hpp"

namespace psos::system {

Secrets Secrets::load(const std::filesystem::path& file, Diagnostics& errors) {
  const std::string text = read_text_file(file.string(), "the secrets file");
  Secrets secrets(file.string());
  const JsonReadResult read = read_json(text, JsonReadOptions{.redact = true});
  for (const JsonProblem& problem : read.problems)
    errors.push_back({file.string(), problem.at, problem.path, problem.message});
  if (!read.document) return secrets;
  const JsonDocument& document = *read.document;
  if (!document.root().is_object()) {
    errors.push_back({file.string(), document.at(""), "",
                      "a secrets file holds one JSON object of names to strings"});
    return secrets;
  }
  for (const auto& [name, value] : document.root().items()) {
    const std::string path = child_path("", name);
    if (!valid_name(name)) {
      errors.push_back({file.string(), document.key_at(path), path,
                        "a secret's name has only letters, digits and '_'"});
    } else if (!value.is_string()) {
      errors.push_back(
          {file.string(), document.at(path), path, "a secret's value must be a string"});
    } else {
      secrets.values_[name] = value.get<std::string>();
    }
  }
  return secrets;
}

void Secrets::set(std::string name, std::string value) {
  values_[std::move(name)] = std::move(value);
}

std::optional<std::string> Secrets::find(std::string_view name) const {
  if (const char* value = std::getenv(environment_name(name).c_str())) return std::string(value);
  const auto it = values_.find(name);
  if (it == values_.end()) return std::nullopt;
  return it->second;
}

std::string Secrets::how_to_set(std::string_view name) const {
  std::string hint = "define " + environment_name(name);
  if (!file_.empty()) hint += " or add " + in_quotes(name) + " to " + file_;
  return hint;
}

std::string Secrets::environment_name(std::string_view name) {
  std::string env = "PSOS_SECRET_";
  for (const char c : name)
    env += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return env;
}

bool Secrets::valid_name(std::string_view name) {
  if (name.empty()) return false;
  for (const char c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
  return true;
}

std::filesystem::path default_secrets_path(const std::filesystem::path& definition) {
  std::filesystem::path path = definition;
  path.replace_extension(".secrets.json");
  return path;
}

}  // namespace psos::system
