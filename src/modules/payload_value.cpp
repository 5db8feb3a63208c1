// The value a module looks at in a message (see payload_value.hpp).
#include "modules/payload_value.hpp"

#include <charconv>
#include <string>

namespace psos::modules {

std::optional<nlohmann::json> payload_value(std::string_view payload, std::string_view property) {
  nlohmann::json value = nlohmann::json::parse(payload, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) value = std::string(payload);
  std::size_t start = 0;
  while (!property.empty() && start <= property.size()) {
    const std::size_t dot = property.find('.', start);
    const std::string key(property.substr(start, dot - start));
    if (value.is_object()) {
      const auto it = value.find(key);
      if (it == value.end()) return std::nullopt;
      nlohmann::json inner = std::move(*it);
      value = std::move(inner);
    } else if (value.is_array()) {
      std::size_t index = 0;
      const auto [end, error] = std::from_chars(key.data(), key.data() + key.size(), index);
      if (error != std::errc() || end != key.data() + key.size() || index >= value.size())
        return std::nullopt;
      nlohmann::json inner = std::move(value[index]);
      value = std::move(inner);
    } else {
      return std::nullopt;
    }
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return value;
}

std::optional<double> as_number(const nlohmann::json& value) {
  if (value.is_number()) return value.get<double>();
  if (!value.is_string()) return std::nullopt;
  const std::string& text = value.get_ref<const std::string&>();
  double number = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), number);
  if (text.empty() || error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return number;
}

}  // namespace psos::modules
