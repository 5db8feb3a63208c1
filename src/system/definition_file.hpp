// Reading a definition file and its secrets, as `psos check`, `psos run`, `psos deploy` and the
// dashboard's deploy view do.
#pragma once

#include <optional>
#include <string>

#include "system/diagnostic.hpp"
#include "system/secrets.hpp"

namespace psos::system {

// The file's text; nullopt with `error` set ("No such file or directory") when unreadable.
std::optional<std::string> read_text_file(const std::string& path, std::string& error);

// The secrets for `definition_file`: from `secrets_file` when given, else from the definition's
// default secrets file when it exists, else the environment only. Throws std::runtime_error when
// a secrets file cannot be read; problems inside it go to `errors`.
Secrets load_secrets(const std::string& definition_file, const std::string& secrets_file,
                     Diagnostics& errors);

}  // namespace psos::system
