// Per-message templates of modules (pipe's format, timer's payload, log's line): `{name}` filled
// from the message, `{{` and `}}` literal braces. Names: {payload}, {topic}, {topic.N} (levels
// from 0), and a JSON object payload's fields ({temp}, {env.temp} for nested ones).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "router/message.hpp"

namespace psos::modules {

using TemplateLookup = std::function<std::optional<std::string>(std::string_view name)>;

// The filled text, or nullopt naming the first name `lookup` does not know in `missing`.
std::optional<std::string> fill_template(std::string_view format, const TemplateLookup& lookup,
                                         std::string* missing = nullptr);

// Looks names up in a message, parsing its payload as JSON once, on first use.
class MessageNames {
 public:
  explicit MessageNames(const router::Message& message) : message_(message) {}
  std::optional<std::string> operator()(std::string_view name);

 private:
  const router::Message& message_;
  bool parsed_ = false;
  std::optional<std::string> json_text_;  // the payload when it is a JSON object
  struct Json;
  std::shared_ptr<Json> json_;
};

}  // namespace psos::modules
