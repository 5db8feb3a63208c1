#include "system/checker.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <regex>

#include "mqtt/topic.hpp"
#include "system/duration.hpp"

namespace psos::system {

using modules::ParamType;
using nlohmann::json;

namespace {

// Values matched against a pattern are short (names, cron lines): a cap keeps std::regex, which
// recurses per character, away from hostile input.
constexpr std::size_t kMaxPatternInput = 256;

std::string expected(const ParamSpec& spec) {
  switch (spec.type) {
    case ParamType::String:
    case ParamType::Template:
      return "a string";
    case ParamType::Integer:
      return "an integer";
    case ParamType::Number:
      return "a number";
    case ParamType::Boolean:
      return "true or false";
    case ParamType::Duration:
      return "a duration such as \"10s\"";
    case ParamType::Topic:
      return "a topic (a string)";
    case ParamType::Filter:
      return "a topic filter (a string)";
    case ParamType::Filters:
      return "a topic filter or a list of them";
    case ParamType::Strings:
      return "a list of strings";
    case ParamType::Object:
      return "an object";
    case ParamType::ObjectList:
      return "a list of objects";
    case ParamType::Json:
      return "a JSON value";
    case ParamType::Broker:
      return "a broker name (a string)";
  }
  return "?";
}

std::string format_number(double value) {
  json number = value;
  if (std::floor(value) == value && std::abs(value) < 1e15)
    number = static_cast<std::int64_t>(value);
  return number.dump();
}

std::string list_names(const std::vector<std::string_view>& names) {
  std::string list;
  for (const std::string_view name : names)
    list += (list.empty() ? "" : ", ") + std::string(name);
  return list;
}

}  // namespace

std::string describe(const json& value) {
  switch (value.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::boolean:
      return value.get<bool>() ? "true" : "false";
    case json::value_t::string:
      return "a string";
    case json::value_t::array:
      return "a list";
    case json::value_t::object:
      return "an object";
    default:
      return "the number " + value.dump();
  }
}

bool Checker::valid_name(std::string_view name) {
  if (name.empty() || name.size() > modules::kMaxNameLength) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    if (!alnum && (i == 0 || (c != '_' && c != '-' && c != '.'))) return false;
  }
  return true;
}

void Checker::error(const std::string& path, std::string message) {
  errors_.push_back({file_, document_.at(path), path, std::move(message)});
}

void Checker::key_error(const std::string& path, std::string message) {
  errors_.push_back({file_, document_.key_at(path), path, std::move(message)});
}

void Checker::error_inside(const std::string& path, std::size_t offset, std::string message) {
  errors_.push_back({file_, document_.inside(path, offset), path, std::move(message)});
}

std::string Checker::shown(const std::string& path, const std::string& expanded) const {
  if (!holds_secret(path)) return expanded;
  const json* written = nullptr;
  try {
    written = &document_.root().at(json::json_pointer("/" + path));
  } catch (const json::exception&) {
  }
  return written && written->is_string() ? written->get<std::string>() : "(holds a secret)";
}

std::optional<std::string> Checker::text(const json& value, const std::string& path,
                                         const Scope& scope, bool runtime) {
  const std::string& written = value.get_ref<const std::string&>();
  if (!scope.names) return written;
  TemplateResult result = expand_template(written, *scope.names, secrets_, runtime);
  if (result.error) {
    error_inside(path, result.error_offset, *result.error);
    return std::nullopt;
  }
  if (result.used_secret) secret_paths_.insert(path);
  return std::move(result.text);
}

void Checker::wrong_type(const ParamSpec& spec, const json& value, const std::string& path) {
  std::string message = "expected " + expected(spec) + ", found " + describe(value);
  if (spec.type == ParamType::Duration && value.is_number())
    message += ": add a unit, as in \"" + value.dump() + "s\" (ms, s, m, h or d)";
  if ((spec.type == ParamType::Strings || spec.type == ParamType::ObjectList) &&
      (value.is_string() || value.is_object()))
    message += ": put it in [ ]";
  error(path, std::move(message));
}

bool Checker::allowed_and_matching(const ParamSpec& spec, const std::string& text,
                                   const std::string& path) {
  if (!spec.allowed.empty() &&
      std::find(spec.allowed.begin(), spec.allowed.end(), text) == spec.allowed.end()) {
    std::vector<std::string_view> allowed(spec.allowed.begin(), spec.allowed.end());
    std::string choices;
    for (std::size_t i = 0; i < allowed.size(); ++i)
      choices += (i ? ", " : "") + in_quotes(allowed[i]);
    error(path,
          in_quotes(shown(path, text)) + " is not one of " + choices + did_you_mean(text, allowed));
    return false;
  }
  if (spec.pattern.empty()) return true;
  if (text.size() > kMaxPatternInput) {
    error(path, "value longer than " + std::to_string(kMaxPatternInput) + " characters: expected " +
                    spec.pattern_help);
    return false;
  }
  // Compiling a std::regex costs more than checking a whole definition: once per pattern.
  thread_local std::map<std::string, std::regex> compiled;
  auto it = compiled.find(spec.pattern);
  if (it == compiled.end()) it = compiled.emplace(spec.pattern, std::regex(spec.pattern)).first;
  if (!std::regex_search(text, it->second)) {
    error(path, "bad value " + in_quotes(shown(path, text)) + ": expected " + spec.pattern_help);
    return false;
  }
  return true;
}

std::optional<json> Checker::string_value(const ParamSpec& spec, const json& value,
                                          const std::string& path, const Scope& scope) {
  if (!value.is_string()) {
    wrong_type(spec, value, path);
    return std::nullopt;
  }
  std::optional<std::string> expanded = text(value, path, scope, spec.type == ParamType::Template);
  if (!expanded || !allowed_and_matching(spec, *expanded, path)) return std::nullopt;
  return json(std::move(*expanded));
}

std::optional<json> Checker::number_value(const ParamSpec& spec, const json& value,
                                          const std::string& path) {
  if (!value.is_number()) {
    wrong_type(spec, value, path);
    return std::nullopt;
  }
  json result = value;
  if (spec.type == ParamType::Integer && value.is_number_float()) {
    const double d = value.get<double>();
    if (std::floor(d) != d || std::abs(d) >= 9.2e18) {
      error(path, "expected an integer, found " + value.dump());
      return std::nullopt;
    }
    result = static_cast<std::int64_t>(d);
  }
  if (spec.type == ParamType::Integer && value.is_number_unsigned() &&
      value.get<std::uint64_t>() > static_cast<std::uint64_t>(INT64_MAX)) {
    error(path, value.dump() + " is too large");
    return std::nullopt;
  }
  const double d = value.get<double>();
  if (spec.minimum && d < *spec.minimum) {
    error(path, value.dump() + " is below the minimum " + format_number(*spec.minimum));
    return std::nullopt;
  }
  if (spec.maximum && d > *spec.maximum) {
    error(path, value.dump() + " is above the maximum " + format_number(*spec.maximum));
    return std::nullopt;
  }
  return result;
}

std::optional<json> Checker::duration_value(const ParamSpec& spec, const json& value,
                                            const std::string& path, const Scope& scope) {
  if (!value.is_string()) {
    wrong_type(spec, value, path);
    return std::nullopt;
  }
  const std::optional<std::string> expanded = text(value, path, scope);
  if (!expanded) return std::nullopt;
  const DurationResult duration = parse_duration(*expanded);
  if (!duration.value) {
    error(path, "bad duration " + in_quotes(shown(path, *expanded)) + ": " + duration.problem);
    return std::nullopt;
  }
  const auto ms = duration.value->count();
  if (spec.minimum && static_cast<double>(ms) < *spec.minimum) {
    error(path,
          "duration " + in_quotes(shown(path, *expanded)) + " is shorter than the minimum " +
              format_duration(std::chrono::milliseconds(static_cast<std::int64_t>(*spec.minimum))));
    return std::nullopt;
  }
  if (spec.maximum && static_cast<double>(ms) > *spec.maximum) {
    error(path,
          "duration " + in_quotes(shown(path, *expanded)) + " is longer than the maximum " +
              format_duration(std::chrono::milliseconds(static_cast<std::int64_t>(*spec.maximum))));
    return std::nullopt;
  }
  return json(ms);
}

std::optional<json> Checker::topic_value(const ParamSpec& spec, const json& value,
                                         const std::string& path, const Scope& scope, bool filter) {
  if (!value.is_string()) {
    wrong_type(spec, value, path);
    return std::nullopt;
  }
  std::optional<std::string> expanded = text(value, path, scope);
  if (!expanded) return std::nullopt;
  const mqtt::Error problem =
      filter ? mqtt::validate_topic_filter(*expanded) : mqtt::validate_topic_name(*expanded);
  if (problem) {
    std::string message = std::string(filter ? "invalid topic filter " : "invalid topic ") +
                          in_quotes(shown(path, *expanded)) + ": " + problem.message;
    if (!filter && mqtt::has_wildcards(*expanded)) message += " (wildcards are for subscribing)";
    error(path, std::move(message));
    return std::nullopt;
  }
  return json(std::move(*expanded));
}

std::optional<json> Checker::list_value(const ParamSpec& spec, const json& value,
                                        const std::string& path, const Scope& scope) {
  // Filters takes a single filter as a list of one.
  if (spec.type == ParamType::Filters && value.is_string()) {
    std::optional<json> filter = topic_value(spec, value, path, scope, true);
    if (!filter) return std::nullopt;
    return json::array({std::move(*filter)});
  }
  if (!value.is_array()) {
    wrong_type(spec, value, path);
    return std::nullopt;
  }
  if (spec.required && value.empty()) {
    error(path, "expected at least one item");
    return std::nullopt;
  }
  ParamSpec item = spec;
  item.type = spec.type == ParamType::Filters   ? ParamType::Filter
              : spec.type == ParamType::Strings ? ParamType::String
                                                : ParamType::Object;
  json result = json::array();
  bool ok = true;
  for (std::size_t i = 0; i < value.size(); ++i) {
    const std::string item_path = child_path(path, i);
    std::optional<json> checked;
    if (item.type == ParamType::Object && !value[i].is_object()) {
      error(item_path, "expected an object, found " + describe(value[i]));
    } else {
      checked = this->value(item, value[i], item_path, scope);
    }
    if (checked) {
      result.push_back(std::move(*checked));
    } else {
      ok = false;
    }
  }
  if (!ok) return std::nullopt;
  return result;
}

std::optional<json> Checker::any_value(const json& value, const std::string& path,
                                       const Scope& scope) {
  if (value.is_string()) {
    std::optional<std::string> expanded = text(value, path, scope);
    if (!expanded) return std::nullopt;
    return json(std::move(*expanded));
  }
  if (!value.is_structured()) return value;
  json result = value.is_array() ? json::array() : json::object();
  bool ok = true;
  for (const auto& [key, item] : value.items()) {
    std::optional<json> checked = any_value(item, child_path(path, key), scope);
    if (!checked) {
      ok = false;
    } else if (value.is_array()) {
      result.push_back(std::move(*checked));
    } else {
      result[key] = std::move(*checked);
    }
  }
  if (!ok) return std::nullopt;
  return result;
}

std::optional<json> Checker::value(const ParamSpec& spec, const json& value,
                                   const std::string& path, const Scope& scope) {
  switch (spec.type) {
    case ParamType::String:
    case ParamType::Template:
      return string_value(spec, value, path, scope);
    case ParamType::Integer:
    case ParamType::Number:
      return number_value(spec, value, path);
    case ParamType::Boolean:
      if (!value.is_boolean()) {
        wrong_type(spec, value, path);
        return std::nullopt;
      }
      return value;
    case ParamType::Duration:
      return duration_value(spec, value, path, scope);
    case ParamType::Topic:
      return topic_value(spec, value, path, scope, false);
    case ParamType::Filter:
      return topic_value(spec, value, path, scope, true);
    case ParamType::Filters:
    case ParamType::Strings:
    case ParamType::ObjectList:
      return list_value(spec, value, path, scope);
    case ParamType::Object:
      if (!value.is_object()) {
        wrong_type(spec, value, path);
        return std::nullopt;
      }
      if (spec.fields.empty()) return any_value(value, path, scope);
      return object(spec.fields, value, path, scope, {.words = {"key", " of " + spec.name}});
    case ParamType::Json:
      return any_value(value, path, scope);
    case ParamType::Broker: {
      if (!value.is_string()) {
        wrong_type(spec, value, path);
        return std::nullopt;
      }
      const std::optional<std::string> name = text(value, path, scope);
      if (!name || !scope.broker) return std::nullopt;
      return scope.broker(*name, path);
    }
  }
  return std::nullopt;
}

std::optional<json> Checker::object(const std::vector<ParamSpec>& fields, const json& value,
                                    const std::string& path, const Scope& scope,
                                    const ObjectRules& rules) {
  if (!value.is_object()) return std::nullopt;
  std::vector<std::string_view> names;
  for (const ParamSpec& field : fields)
    names.push_back(field.name);
  const Scope literal_scope{nullptr, scope.broker};

  json result = json::object();
  for (const auto& [key, item] : value.items()) {
    const std::string item_path = child_path(path, key);
    const std::string& name = key;  // clang 14 cannot capture a structured binding
    const auto field = std::find_if(fields.begin(), fields.end(),
                                    [&](const ParamSpec& f) { return f.name == name; });
    if (field != fields.end() && rules.skip.count(key)) continue;
    if (field == fields.end()) {
      if (!rules.report_unknown) continue;
      const std::string suggestion = did_you_mean(key, names);
      key_error(item_path, "unknown " + std::string(rules.words.noun) + " " + in_quotes(key) +
                               rules.words.owner +
                               (!suggestion.empty() ? suggestion
                                : names.empty()
                                    ? ": it takes no " + std::string(rules.words.noun) + "s"
                                    : " (" + std::string(rules.words.noun) +
                                          "s: " + list_names(names) + ")"));
      continue;
    }
    std::optional<json> checked =
        this->value(*field, item, item_path, field->literal ? literal_scope : scope);
    if (checked) result[key] = std::move(*checked);
  }

  for (const std::vector<std::string>& group : rules.one_of) {
    std::vector<std::string> given;
    for (const std::string& name : group)
      if (value.contains(name)) given.push_back(name);
    std::string choices;
    for (std::size_t i = 0; i < group.size(); ++i)
      choices += (i == 0 ? "" : i + 1 == group.size() ? " or " : ", ") + in_quotes(group[i]);
    if (given.empty()) {
      error(path, "needs one of " + choices);
    } else if (given.size() > 1) {
      key_error(child_path(path, given[1]), in_quotes(given[1]) + " cannot be used with " +
                                                in_quotes(given[0]) + ": give only one of " +
                                                choices);
    }
  }

  for (const ParamSpec& field : fields) {
    if (value.contains(field.name) || rules.skip.count(field.name)) continue;
    const std::string item_path = child_path(path, field.name);
    if (field.required) {
      error(item_path, "missing " + std::string(rules.words.noun) + " " + in_quotes(field.name) +
                           rules.words.owner + " (" + std::string(modules::type_name(field.type)) +
                           "): " + field.description);
    } else if (!field.default_value.is_null()) {
      std::optional<json> checked =
          this->value(field, field.default_value, item_path, field.literal ? literal_scope : scope);
      if (checked) result[field.name] = std::move(*checked);
    }
  }
  return result;
}

}  // namespace psos::system
