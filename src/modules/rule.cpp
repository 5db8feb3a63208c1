// switch's rules (see rule.hpp).
#include "modules/rule.hpp"

#include <algorithm>
#include <iterator>
#include <stdexcept>

#include "modules/payload_value.hpp"

namespace psos::modules {

namespace {

// Text as a rule compares it: a string's own characters, anything else as JSON.
std::string as_text(const nlohmann::json& value) {
  return value.is_string() ? value.get<std::string>() : value.dump();
}

// <0, 0 or >0: numbers as numbers when both sides are numbers, otherwise as text.
int compare(const nlohmann::json& a, const nlohmann::json& b) {
  const auto x = as_number(a);
  const auto y = as_number(b);
  if (x && y) return *x < *y ? -1 : (*x > *y ? 1 : 0);
  return as_text(a).compare(as_text(b));
}

}  // namespace

Rule::Rule(const nlohmann::json& rule)
    : property_(rule.value("property", "")),
      op_(rule.at("op").get<std::string>()),
      value_(rule.value("value", nlohmann::json())),
      to_(rule.value("to", nlohmann::json())),
      pub_(rule.at("pub").get<std::string>()) {
  static constexpr std::string_view kOps[] = {"==", "!=",      "<",     "<=", ">",
                                              ">=", "between", "regex", "has"};
  if (std::find(std::begin(kOps), std::end(kOps), op_) == std::end(kOps))
    throw std::invalid_argument("op \"" + op_ +
                                "\" is not one of == != < <= > >= between regex has");
  if (op_ != "has" && !rule.contains("value"))
    throw std::invalid_argument("op " + op_ + " needs a value");
  if (op_ == "between" && !rule.contains("to"))
    throw std::invalid_argument("op between needs to (the upper bound)");
  if (op_ == "regex") {
    if (!value_.is_string()) throw std::invalid_argument("op regex needs value as a string");
    try {
      regex_.emplace(value_.get<std::string>(), std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      throw std::invalid_argument("value \"" + value_.get<std::string>() +
                                  "\" is not a regular expression: " + e.what());
    }
  }
}

bool Rule::matches(std::string_view payload) const {
  const auto x = payload_value(payload, property_);
  if (op_ == "has") return x.has_value();
  if (!x) return false;
  if (op_ == "regex") return std::regex_search(as_text(*x), *regex_);
  if (op_ == "between") return compare(value_, *x) <= 0 && compare(*x, to_) <= 0;
  const int c = compare(*x, value_);
  if (op_ == "==") return c == 0;
  if (op_ == "!=") return c != 0;
  if (op_ == "<") return c < 0;
  if (op_ == "<=") return c <= 0;
  if (op_ == ">") return c > 0;
  return c >= 0;  // ">=", the one op left
}

}  // namespace psos::modules
