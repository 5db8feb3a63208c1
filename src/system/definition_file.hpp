// Reading a definition file and its secrets, as `psos check`, `psos run`, `psos deploy` and the
// dashboard's deploy view do.
#pragma once

#include <string>
#include <string_view>

#include "system/diagnostic.hpp"
#include "system/secrets.hpp"

namespace psos::system {

// The file's text. Throws UnreadableFile ("cannot read PATH: No such file or directory"); `kind`
// names the file in that message ("the secrets file").
std::string read_text_file(const std::string& path, std::string_view kind = {});

// The secrets for `definition_file`: from `secrets_file` when given, else from the definition's
// default secrets file when it exists, else the environment only. Throws UnreadableFile when a
// secrets file cannot be read; problems inside it go to `errors`.
Secrets load_secrets(const std::string& definition_file, const std::string& secrets_file,
                     Diagnostics& errors);

}  // namespace psos::system
