// Filling per-message templates (see message_template.hpp).
#include "modules/message_template.hpp"

#include <nlohmann/json.hpp>

namespace psos::modules {

struct MessageNames::Json {
  nlohmann::json value;
};

std::optional<std::string> fill_template(std::string_view format, const TemplateLookup& lookup,
                                         std::string* missing) {
  std::string out;
  out.reserve(format.size() + 16);
  for (std::size_t i = 0; i < format.size(); ++i) {
    const char c = format[i];
    if ((c == '{' || c == '}') && i + 1 < format.size() && format[i + 1] == c) {
      out += c;
      ++i;
      continue;
    }
    if (c != '{') {
      out += c;
      continue;
    }
    const std::size_t close = format.find('}', i + 1);
    if (close == std::string_view::npos) {  // checked at definition time; keep it as text
      out.append(format.substr(i));
      break;
    }
    const std::string_view name = format.substr(i + 1, close - i - 1);
    std::optional<std::string> value = lookup(name);
    if (!value) {
      if (missing != nullptr) *missing = std::string(name);
      return std::nullopt;
    }
    out += *value;
    i = close;
  }
  return out;
}

std::optional<std::string> MessageNames::operator()(std::string_view name) {
  if (name == "payload") return message_.payload;
  if (name == "topic") return message_.topic;
  if (name.starts_with("topic.")) {
    std::size_t index = 0;
    for (char c : name.substr(6)) {
      if (c < '0' || c > '9') return std::nullopt;
      index = index * 10 + static_cast<std::size_t>(c - '0');
    }
    std::size_t start = 0;
    for (std::size_t level = 0; level < index; ++level) {
      start = message_.topic.find('/', start);
      if (start == std::string::npos) return std::nullopt;
      ++start;
    }
    const std::size_t end = message_.topic.find('/', start);
    return message_.topic.substr(start, end == std::string::npos ? std::string::npos : end - start);
  }
  if (!parsed_) {
    parsed_ = true;
    auto parsed = nlohmann::json::parse(message_.payload, nullptr, /*allow_exceptions=*/false);
    if (parsed.is_object()) json_ = std::make_shared<Json>(Json{std::move(parsed)});
  }
  if (!json_) return std::nullopt;
  const nlohmann::json* node = &json_->value;
  std::size_t start = 0;
  while (true) {
    const std::size_t dot = name.find('.', start);
    const std::string key(name.substr(start, dot == std::string_view::npos ? dot : dot - start));
    if (!node->is_object()) return std::nullopt;
    const auto it = node->find(key);
    if (it == node->end()) return std::nullopt;
    node = &*it;
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  if (node->is_string()) return node->get<std::string>();
  return node->dump();
}

}  // namespace psos::modules
