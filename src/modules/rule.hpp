// One rule of `switch`: a test over a message's payload (==, !=, <, <=, >, >=, between, regex,
// has), checked once when the service starts and then evaluated per message.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <string>
#include <string_view>

namespace psos::modules {

class Rule {
 public:
  // `rule` is one item of switch's `rules`. Throws std::invalid_argument naming the field that
  // cannot be used (between without to, regex that does not compile, ...).
  explicit Rule(const nlohmann::json& rule);

  bool matches(std::string_view payload) const;
  const std::string& pub() const { return pub_; }

 private:
  std::string property_;
  std::string op_;
  nlohmann::json value_;
  nlohmann::json to_;
  std::optional<std::regex> regex_;
  std::string pub_;
};

}  // namespace psos::modules
