// The value a module looks at in a message: its payload as JSON (text when it is not JSON), or the
// field `property` names in it. switch, filter and aggregate share it, so `property` means the same
// everywhere.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string_view>

namespace psos::modules {

// The payload parsed as JSON (a payload that is not JSON is a string), then the dotted `property`
// followed through objects (and arrays, by index: "readings.0"); nullopt when a part is missing.
// An empty property is the whole payload.
std::optional<nlohmann::json> payload_value(std::string_view payload, std::string_view property);

// A number, or text that is exactly a decimal number ("21.5"): payloads often carry
// numbers as strings. nullopt for anything else.
std::optional<double> as_number(const nlohmann::json& value);

}  // namespace psos::modules
