// Durations as definitions write them: "500ms", "10s", "1.5m", "2h", "1d", "1h30m".
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace psos::system {

struct DurationResult {
  std::optional<std::chrono::milliseconds> value;
  std::string problem;  // when no value: "expected a number followed by ms, s, m, h or d"
};

// One or more parts, each a decimal number and a unit (ms, s, m, h, d), no spaces; the total must
// be a whole number of milliseconds, at most 100 years.
DurationResult parse_duration(std::string_view text);

// The shortest exact spelling: "1h30m", "250ms", "0s".
std::string format_duration(std::chrono::milliseconds duration);

}  // namespace psos::system
