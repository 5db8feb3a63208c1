#include "system/duration.hpp"

#include <array>
#include <cstdint>

namespace psos::system {
namespace {

struct Unit {
  std::string_view name;
  std::int64_t ms;
};
// Longest names first where one is a prefix of another ("ms" before "m").
constexpr std::array<Unit, 5> kUnits{
    {{"ms", 1}, {"s", 1000}, {"m", 60'000}, {"h", 3'600'000}, {"d", 86'400'000}}};
constexpr std::int64_t kMax = 100LL * 365 * 86'400'000;
constexpr std::string_view kExpected = "expected a number followed by ms, s, m, h or d";

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

}  // namespace

DurationResult parse_duration(std::string_view text) {
  if (text.empty()) return {std::nullopt, std::string(kExpected)};
  // Exact arithmetic: each part is whole digits plus a fraction of at most 9 digits, scaled by
  // the unit's milliseconds; the fraction must come out whole.
  std::int64_t total = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    std::int64_t whole = 0;
    const std::size_t start = i;
    while (i < text.size() && is_digit(text[i])) {
      if (whole > kMax) return {std::nullopt, "longer than 100 years"};
      whole = whole * 10 + (text[i++] - '0');
    }
    if (i == start) return {std::nullopt, std::string(kExpected)};
    std::int64_t fraction = 0;
    std::int64_t scale = 1;
    if (i < text.size() && text[i] == '.') {
      ++i;
      const std::size_t fraction_start = i;
      while (i < text.size() && is_digit(text[i])) {
        if (scale >= 1'000'000'000) return {std::nullopt, "too many decimal places"};
        fraction = fraction * 10 + (text[i++] - '0');
        scale *= 10;
      }
      if (i == fraction_start) return {std::nullopt, std::string(kExpected)};
    }
    const Unit* unit = nullptr;
    for (const Unit& u : kUnits) {
      if (text.substr(i, u.name.size()) == u.name) {
        unit = &u;
        break;
      }
    }
    if (!unit) return {std::nullopt, std::string(kExpected)};
    i += unit->name.size();
    if (whole > kMax / unit->ms) return {std::nullopt, "longer than 100 years"};
    if ((fraction * unit->ms) % scale != 0)
      return {std::nullopt, "finer than a millisecond: durations count whole milliseconds"};
    total += whole * unit->ms + fraction * unit->ms / scale;
    if (total > kMax) return {std::nullopt, "longer than 100 years"};
  }
  return {std::chrono::milliseconds(total), ""};
}

std::string format_duration(std::chrono::milliseconds duration) {
  std::int64_t left = duration.count();
  if (left == 0) return "0s";
  std::string text;
  for (auto it = kUnits.rbegin(); it != kUnits.rend(); ++it) {
    if (left >= it->ms) {
      text += std::to_string(left / it->ms) + std::string(it->name);
      left %= it->ms;
    }
  }
  return text;
}

}  // namespace psos::system
