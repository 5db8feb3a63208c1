#include "system/template.hpp"

#include <vector>

namespace psos::system {
namespace {

constexpr std::string_view kSecret = "${secret:";

// For a runtime template: the module must print the value as it is.
std::string escape_braces(std::string_view value) {
  std::string out;
  for (const char c : value) {
    out += c;
    if (c == '{' || c == '}') out += c;
  }
  return out;
}

std::string known_names(const TemplateNames& names) {
  std::string list;
  for (const auto& [name, value] : names)
    list += (list.empty() ? "" : ", ") + name;
  return list;
}

}  // namespace

TemplateResult expand_template(std::string_view text, const TemplateNames& names,
                               const Secrets& secrets, bool runtime) {
  TemplateResult result;
  auto fail = [&](std::size_t at, std::string message) {
    result.error = std::move(message);
    result.error_offset = at;
    return result;
  };
  auto insert = [&](std::string_view value) {
    result.text += runtime ? escape_braces(value) : std::string(value);
  };
  std::size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    const char next = i + 1 < text.size() ? text[i + 1] : '\0';
    if (c == '$' && text.substr(i, kSecret.size()) == kSecret) {
      const std::size_t end = text.find('}', i);
      if (end == std::string_view::npos)
        return fail(i, "unclosed ${secret:...}: write ${secret:NAME}");
      const std::string_view name = text.substr(i + kSecret.size(), end - i - kSecret.size());
      if (!Secrets::valid_name(name))
        return fail(i, "bad secret name " + in_quotes(name) + ": use letters, digits and '_'");
      const std::optional<std::string> value = secrets.find(name);
      if (!value)
        return fail(i, "secret " + in_quotes(name) + " is not set: " + secrets.how_to_set(name));
      insert(*value);
      result.used_secret = true;
      i = end + 1;
    } else if (c == '{' && next == '{') {
      result.text += runtime ? "{{" : "{";
      i += 2;
    } else if (c == '}' && next == '}') {
      result.text += runtime ? "}}" : "}";
      i += 2;
    } else if (c == '}') {
      return fail(i, "single '}' in a template: write }} for a literal brace");
    } else if (c == '{') {
      const std::size_t end = text.find_first_of("{}", i + 1);
      if (end == std::string_view::npos || text[end] == '{')
        return fail(i,
                    "unclosed '{' in a template: close it with '}', or write {{ for a literal "
                    "brace");
      const std::string_view name = text.substr(i + 1, end - i - 1);
      if (name.empty()) return fail(i, "empty {} in a template: write {{}} for literal braces");
      if (const auto it = names.find(name); it != names.end()) {
        insert(it->second);
      } else if (runtime) {
        result.text += text.substr(i, end - i + 1);
      } else {
        std::vector<std::string_view> candidates;
        for (const auto& [known, value] : names)
          candidates.push_back(known);
        const std::string_view best = closest(name, candidates);
        return fail(i, "unknown name {" + std::string(name) + "} in a template" +
                           (best.empty() ? "" : "; did you mean {" + std::string(best) + "}?") +
                           " (names: " + known_names(names) + "; {{ for a literal brace)");
      }
      i = end + 1;
    } else {
      result.text += c;
      ++i;
    }
  }
  return result;
}

}  // namespace psos::system
