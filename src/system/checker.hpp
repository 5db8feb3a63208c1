// Checks JSON values of a definition against parameter specs (types, ranges, allowed values,
// patterns, durations, topics, templates, secrets) and reports each problem at its position.
// Internal to system/: definition.cpp drives it level by level.
#pragma once

#include <functional>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "modules/spec.hpp"
#include "system/diagnostic.hpp"
#include "system/json_document.hpp"
#include "system/secrets.hpp"
#include "system/template.hpp"

namespace psos::system {

using modules::ParamSpec;

// What strings expand with, and how a broker name becomes a connection.
struct Scope {
  const TemplateNames* names = nullptr;  // null: strings are taken as they are
  // For ParamType::Broker: the broker's connection as JSON, or nullopt after reporting why not.
  std::function<std::optional<nlohmann::json>(const std::string& name, const std::string& path)>
      broker;
};

// How an object's keys are named in messages: "unknown parameter \"x\" of timer".
struct KeyWords {
  std::string_view noun = "key";  // "key", "parameter"
  std::string owner;              // " of timer", " of a broker"
};

struct ObjectRules {
  KeyWords words;
  std::set<std::string_view> skip;  // known keys the caller checks itself
  std::vector<std::vector<std::string>> one_of;
  bool report_unknown = true;
};

class Checker {
 public:
  Checker(const JsonDocument& document, std::string file, const Secrets& secrets,
          Diagnostics& errors)
      : document_(document), file_(std::move(file)), secrets_(secrets), errors_(errors) {}

  const JsonDocument& document() const { return document_; }

  // A problem with the value at `path` (at its position), with its key (at the key), or with
  // the character at byte `offset` of the string at `path`.
  void error(const std::string& path, std::string message);
  void key_error(const std::string& path, std::string message);
  void error_inside(const std::string& path, std::size_t offset, std::string message);

  // Checks an object against `fields`: unknown keys, missing required ones, each value, the one-of
  // groups; defaults fill in what is left out. Returns the normalized object (a value with
  // problems is left out of it), or nullopt when `value` is not an object.
  std::optional<nlohmann::json> object(const std::vector<ParamSpec>& fields,
                                       const nlohmann::json& value, const std::string& path,
                                       const Scope& scope, const ObjectRules& rules);

  // Checks one value against its spec; nullopt after reporting.
  std::optional<nlohmann::json> value(const ParamSpec& spec, const nlohmann::json& value,
                                      const std::string& path, const Scope& scope);

  // A string expanded in `scope`: nullopt after reporting a template problem.
  std::optional<std::string> text(const nlohmann::json& value, const std::string& path,
                                  const Scope& scope, bool runtime = false);
  // Did the string at `path` take a secret? Then messages quote it as written.
  bool holds_secret(const std::string& path) const { return secret_paths_.count(path) > 0; }
  // The string at `path` as messages may show it: as expanded, or as written when it holds a
  // secret.
  std::string shown(const std::string& path, const std::string& expanded) const;

  // A name of a node, service, broker or default (modules::kNamePattern).
  static bool valid_name(std::string_view name);

 private:
  std::optional<nlohmann::json> string_value(const ParamSpec& spec, const nlohmann::json& value,
                                             const std::string& path, const Scope& scope);
  std::optional<nlohmann::json> number_value(const ParamSpec& spec, const nlohmann::json& value,
                                             const std::string& path);
  std::optional<nlohmann::json> duration_value(const ParamSpec& spec, const nlohmann::json& value,
                                               const std::string& path, const Scope& scope);
  std::optional<nlohmann::json> topic_value(const ParamSpec& spec, const nlohmann::json& value,
                                            const std::string& path, const Scope& scope,
                                            bool filter);
  std::optional<nlohmann::json> list_value(const ParamSpec& spec, const nlohmann::json& value,
                                           const std::string& path, const Scope& scope);
  std::optional<nlohmann::json> any_value(const nlohmann::json& value, const std::string& path,
                                          const Scope& scope);
  bool allowed_and_matching(const ParamSpec& spec, const std::string& text,
                            const std::string& path);
  void wrong_type(const ParamSpec& spec, const nlohmann::json& value, const std::string& path);

  const JsonDocument& document_;
  std::string file_;
  const Secrets& secrets_;
  Diagnostics& errors_;
  std::set<std::string> secret_paths_;
};

// "a string", "an array", "the number 10": what a JSON value is, for "found ..." in messages.
std::string describe(const nlohmann::json& value);

}  // namespace psos::system
