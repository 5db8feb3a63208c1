#include "modules/spec.hpp"

#include <algorithm>
#include <stdexcept>

namespace psos::modules {

std::string_view type_name(ParamType type) {
  switch (type) {
    case ParamType::String:
      return "string";
    case ParamType::Template:
      return "template";
    case ParamType::Integer:
      return "integer";
    case ParamType::Number:
      return "number";
    case ParamType::Boolean:
      return "boolean";
    case ParamType::Duration:
      return "duration";
    case ParamType::Topic:
      return "topic";
    case ParamType::Filter:
      return "filter";
    case ParamType::Filters:
      return "filter or list of filters";
    case ParamType::Strings:
      return "list of strings";
    case ParamType::Object:
      return "object";
    case ParamType::ObjectList:
      return "list of objects";
    case ParamType::Json:
      return "any JSON value";
    case ParamType::Broker:
      return "broker name";
  }
  return "?";
}

const ParamSpec* ModuleSpec::find(std::string_view param) const {
  const auto it = std::find_if(params.begin(), params.end(),
                               [&](const ParamSpec& p) { return p.name == param; });
  return it == params.end() ? nullptr : &*it;
}

const std::vector<ParamSpec>& service_keys() {
  static const std::vector<ParamSpec> keys = {
      {.name = "name",
       .type = ParamType::String,
       .required = true,
       .description = "The service's name, unique on its node: letters, digits, '_', '-' and '.'",
       .pattern = kNamePattern,
       .pattern_help = kNameHelp,
       .literal = true},
      {.name = "module",
       .type = ParamType::String,
       .required = true,
       .description = "The module this service runs (psos modules lists them)",
       .literal = true},
      {.name = "enabled",
       .type = ParamType::Boolean,
       .default_value = true,
       .description = "false keeps the service in the definition, checked, without running it"},
      {.name = "description",
       .type = ParamType::String,
       .description = "Free text for people reading the definition",
       .literal = true},
  };
  return keys;
}

const FunctionSpec* ModuleSpec::function(std::string_view function_name) const {
  const auto it = std::find_if(functions.begin(), functions.end(),
                               [&](const FunctionSpec& f) { return f.name == function_name; });
  return it == functions.end() ? nullptr : &*it;
}

const FunctionSpec& status_function() {
  static const FunctionSpec status = {
      .name = "status",
      .description = "The service's state, parameters in effect and message counters",
  };
  return status;
}

const ModuleSpec* ModuleCatalog::find(std::string_view name) const {
  const auto it = std::find_if(modules_.begin(), modules_.end(),
                               [&](const ModuleSpec* m) { return m->name == name; });
  return it == modules_.end() ? nullptr : *it;
}

bool Params::has(std::string_view name) const {
  return values_.contains(name);
}

const nlohmann::json& Params::json(std::string_view name) const {
  const auto it = values_.find(name);
  if (it == values_.end())
    throw std::out_of_range("parameter \"" + std::string(name) + "\" is not set");
  return *it;
}

const std::string& Params::text(std::string_view name) const {
  return json(name).get_ref<const std::string&>();
}

std::int64_t Params::integer(std::string_view name) const {
  return json(name).get<std::int64_t>();
}

double Params::number(std::string_view name) const {
  return json(name).get<double>();
}

bool Params::boolean(std::string_view name) const {
  return json(name).get<bool>();
}

std::chrono::milliseconds Params::duration(std::string_view name) const {
  return std::chrono::milliseconds(json(name).get<std::int64_t>());
}

std::vector<std::string> Params::texts(std::string_view name) const {
  return json(name).get<std::vector<std::string>>();
}

}  // namespace psos::modules
