// What a module declares about itself: its parameters (name, type, default, description, allowed
// values), its own checks, its capabilities and its callable functions; and the validated
// parameters a service gets. One spec drives definition checking (system/), `psos modules`, the
// JSON Schema and the control plane's `help`. No Asio here: system/ links only this part.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace psos::modules {

enum class ParamType : std::uint8_t {
  String,      // text; with `allowed` an enumeration
  Template,    // text the module fills per message ({payload}, {ts}, ...): see docs/definition.md
  Integer,     // a whole number
  Number,      // any number
  Boolean,     // true or false
  Duration,    // "500ms", "10s", "1m30s", "2h", "1d": stored as whole milliseconds
  Topic,       // an MQTT topic name (no wildcards)
  Filter,      // an MQTT topic filter
  Filters,     // one filter or a list of them: stored as a list
  Strings,     // a list of text; `allowed` and `pattern` apply to each item
  Object,      // a JSON object; with `fields` its keys are checked like parameters
  ObjectList,  // a list of objects, each checked against `fields`
  Json,        // any JSON value
  Broker,      // the name of a broker in the definition's "brokers": stored as its connection
};

// Names of systems, nodes, services, brokers and template defaults: they appear in topics and
// file names, so they are kept plain.
inline constexpr std::size_t kMaxNameLength = 64;
inline constexpr const char* kNamePattern = "^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$";
inline constexpr const char* kNameHelp =
    "a name of letters, digits, '_', '-' and '.' that starts with a letter or a digit (at most "
    "64 characters)";

// "string", "duration", "list of filters", ...: the name docs and messages use.
std::string_view type_name(ParamType type);

struct ParamSpec {
  std::string name;
  ParamType type = ParamType::String;
  bool required = false;
  // The value used when the parameter is left out, written as in a definition ("10s", 0, true);
  // null when there is none. Text defaults are templates too ("{node}/sysinfo").
  nlohmann::json default_value = nullptr;
  std::string description;
  std::vector<std::string> allowed;  // String and Strings: the only accepted values
  std::optional<double> minimum;     // Integer, Number; Duration in milliseconds
  std::optional<double> maximum;
  // String and Strings: an ECMAScript regular expression each value must match (also in the
  // JSON Schema), and what it means in words for error messages.
  std::string pattern;
  std::string pattern_help;
  // Text taken as written, not a template: code and expressions, where braces are common.
  bool literal = false;
  // String: names a file relative to the definition file's directory, which the service reads
  // (function's `file`). psos deploy sends such files with the definition, and a service counts
  // as changed when one of them does.
  bool file = false;
  std::vector<ParamSpec> fields;  // Object, ObjectList: their keys
};

// A module's callable operation (`psos call NODE SERVICE FUNCTION ARGS`): its arguments are
// checked like parameters before the handler the running service provides is called.
struct FunctionSpec {
  std::string name;
  std::string description;      // one line
  std::vector<ParamSpec> args;  // an object's keys, as a service's parameters
  // Takes any JSON object, handed over as given (function's Lua exports): `args` is left empty
  // and a call checks only that the arguments form an object.
  bool any_args = false;
};

class Params;
// Where a module's own check found a problem: `path` is relative to the service, its steps
// separated by '/' as in diagnostics ("cron", "rules/2/value"; empty: the service itself); the
// checker turns it into FILE:LINE:COL.
using Report = std::function<void(std::string_view path, std::string message)>;
// Checks what types alone cannot (a cron expression, a regular expression in a rule) on the
// normalized parameters, so that `psos check` reports it before anything starts.
using Validate = void (*)(const Params& params, const Report& report);

struct ModuleSpec {
  std::string name;
  std::string summary;      // one line: what a service of this module does
  std::string description;  // more on how it behaves: names its templates know, when it publishes
  std::vector<ParamSpec> params;
  // Groups of parameters of which exactly one must be given (timer: every, cron or at).
  std::vector<std::vector<std::string>> one_of;
  Validate validate = nullptr;
  // Runs commands on the machine (exec): a node starts such a service only when its own
  // configuration allows it (psos run --allow-exec), never because a definition asks.
  bool runs_commands = false;
  // Besides `status`, which every service has.
  std::vector<FunctionSpec> functions;
  // The functions a service's code defines while it runs (function's Lua exports), in words for
  // `psos modules`; empty when it defines none.
  std::string defined_functions;

  const ParamSpec* find(std::string_view param) const;
  const FunctionSpec* function(std::string_view function_name) const;
};

// The keys every service has besides its module's parameters: name, module, enabled, description.
const std::vector<ParamSpec>& service_keys();

// `status`: the function every service has (parameters, counters).
const FunctionSpec& status_function();

// The modules a definition may use, by name: the built-in ones (modules/registry.hpp), or any
// other set a test or tool assembles. Holds pointers: the specs outlive it.
class ModuleCatalog {
 public:
  ModuleCatalog() = default;
  explicit ModuleCatalog(std::vector<const ModuleSpec*> modules) : modules_(std::move(modules)) {}
  const ModuleSpec* find(std::string_view name) const;
  const std::vector<const ModuleSpec*>& all() const { return modules_; }

 private:
  std::vector<const ModuleSpec*> modules_;
};

// A service's parameters after checking: every parameter its module declares that the definition
// gives or that has a default, with templates and secrets expanded and types normalized (durations
// as whole milliseconds, filters as a list, a broker as {"name","url","username","password"}).
class Params {
 public:
  Params() = default;
  explicit Params(nlohmann::json values) : values_(std::move(values)) {}

  bool has(std::string_view name) const;
  // Each accessor throws std::out_of_range naming the parameter when it is absent; the checked
  // definition guarantees the type.
  const std::string& text(std::string_view name) const;
  std::int64_t integer(std::string_view name) const;
  double number(std::string_view name) const;
  bool boolean(std::string_view name) const;
  std::chrono::milliseconds duration(std::string_view name) const;
  std::vector<std::string> texts(std::string_view name) const;  // Filters and Strings
  const nlohmann::json& json(std::string_view name) const;
  const nlohmann::json& all() const { return values_; }

  friend bool operator==(const Params&, const Params&) = default;

 private:
  nlohmann::json values_ = nlohmann::json::object();
};

}  // namespace psos::modules
