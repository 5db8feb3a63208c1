// Definition-time templates: `{name}` from the system, node, service and defaults, `${secret:NAME}`
// from the secrets, `{{` and `}}` for literal braces. Rules: docs/definition.md.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "system/secrets.hpp"

namespace psos::system {

using TemplateNames = std::map<std::string, std::string, std::less<>>;

struct TemplateResult {
  std::string text;
  bool used_secret = false;  // the text holds a secret: do not quote it in messages
  std::optional<std::string> error;
  std::size_t error_offset = 0;  // byte offset in the input of what the error is about
};

// Expands `text`. A runtime template (a parameter the module fills per message) keeps the names
// the definition does not know and its `{{` `}}` for the module, and gets the definition's values
// with their braces doubled so that the module prints them as they are.
TemplateResult expand_template(std::string_view text, const TemplateNames& names,
                               const Secrets& secrets, bool runtime);

}  // namespace psos::system
