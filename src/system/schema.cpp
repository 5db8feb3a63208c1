// psos accepts a little more than the schema can say and checks more than it says (references,
// duplicates, template names): the schema only never rejects what psos accepts, except in keys
// psos documents as literal.
#include "system/schema.hpp"

#include <map>

#include "modules/spec.hpp"
#include "system/definition.hpp"

namespace psos::system {
namespace {

using modules::ParamSpec;
using modules::ParamType;
using Json = nlohmann::ordered_json;

constexpr const char* kDurationPattern = "^([0-9]+(\\.[0-9]+)?(ms|s|m|h|d))+$";

Json def_ref(const std::string& name) {
  return Json{{"$ref", "#/$defs/" + name}};
}

// A string constraint that a template or a secret may stand in for, unless the key is literal.
Json or_template(Json schema, bool literal) {
  if (literal) return schema;
  return Json{{"anyOf", Json::array({std::move(schema), def_ref("template")})}};
}

Json string_schema(const ParamSpec& spec, bool literal) {
  if (!spec.allowed.empty()) return or_template(Json{{"enum", spec.allowed}}, literal);
  if (!spec.pattern.empty())
    return or_template(Json{{"type", "string"}, {"pattern", spec.pattern}}, literal);
  return Json{{"type", "string"}};
}

Json object_schema(const std::vector<ParamSpec>& fields,
                   const std::map<std::string, Json>& overrides = {},
                   const std::vector<std::vector<std::string>>& one_of = {});

Json param_schema(const ParamSpec& spec) {
  const bool literal = spec.literal;
  Json schema;
  switch (spec.type) {
    case ParamType::String:
      schema = string_schema(spec, literal);
      break;
    case ParamType::Template:
      schema = Json{{"type", "string"}};
      break;
    case ParamType::Integer:
    case ParamType::Number:
      schema = Json{{"type", spec.type == ParamType::Integer ? "integer" : "number"}};
      if (spec.minimum) schema["minimum"] = *spec.minimum;
      if (spec.maximum) schema["maximum"] = *spec.maximum;
      break;
    case ParamType::Boolean:
      schema = Json{{"type", "boolean"}};
      break;
    case ParamType::Duration:
      schema = def_ref("duration");
      break;
    case ParamType::Topic:
      schema = def_ref("topic");
      break;
    case ParamType::Filter:
      schema = def_ref("filter");
      break;
    case ParamType::Filters:
      schema = def_ref("filters");
      break;
    case ParamType::Strings: {
      ParamSpec item = spec;
      item.type = ParamType::String;
      schema = Json{{"type", "array"}, {"items", string_schema(item, literal)}};
      if (spec.required) schema["minItems"] = 1;
      break;
    }
    case ParamType::Object:
      schema = spec.fields.empty() ? Json{{"type", "object"}} : object_schema(spec.fields);
      break;
    case ParamType::ObjectList:
      schema = Json{{"type", "array"}, {"items", object_schema(spec.fields)}};
      if (spec.required) schema["minItems"] = 1;
      break;
    case ParamType::Json:
      schema = Json::object();
      break;
    case ParamType::Broker:
      schema = Json{{"type", "string"}};
      break;
  }
  schema["description"] = spec.description;
  if (!spec.default_value.is_null()) schema["default"] = Json::parse(spec.default_value.dump());
  return schema;
}

Json object_schema(const std::vector<ParamSpec>& fields,
                   const std::map<std::string, Json>& overrides,
                   const std::vector<std::vector<std::string>>& one_of) {
  Json properties = Json::object();
  Json required = Json::array();
  for (const ParamSpec& field : fields) {
    const auto override = overrides.find(field.name);
    if (override != overrides.end()) {
      Json schema = override->second;
      schema["description"] = field.description;
      properties[field.name] = std::move(schema);
    } else {
      properties[field.name] = param_schema(field);
    }
    if (field.required) required.push_back(field.name);
  }
  Json schema = {{"type", "object"}, {"properties", std::move(properties)}};
  if (!required.empty()) schema["required"] = std::move(required);
  schema["additionalProperties"] = false;
  Json groups = Json::array();
  for (const std::vector<std::string>& group : one_of) {
    Json choices = Json::array();
    for (const std::string& name : group)
      choices.push_back(Json{{"required", Json::array({name})}});
    groups.push_back(Json{{"oneOf", std::move(choices)}});
  }
  if (groups.size() == 1) schema.update(groups[0]);
  if (groups.size() > 1) schema["allOf"] = std::move(groups);
  return schema;
}

}  // namespace

std::string definition_schema(const modules::ModuleCatalog& modules) {
  const Json name_keys = {{"pattern", modules::kNamePattern}};
  Json defs = Json::object();
  defs["template"] = {{"type", "string"},
                      {"pattern", "\\{[^{}]+\\}|\\$\\{secret:"},
                      {"description",
                       "A string with a {name} template or a ${secret:NAME}, checked by psos once "
                       "expanded"}};
  defs["duration"] = {
      {"anyOf", Json::array({Json{{"type", "string"}, {"pattern", kDurationPattern}},
                             def_ref("template")})}};
  defs["topic"] = {{"type", "string"}, {"minLength", 1}, {"pattern", "^[^+#]*$"}};
  defs["filter"] = {{"type", "string"}, {"minLength", 1}};
  defs["filters"] = {
      {"anyOf",
       Json::array({def_ref("filter"), Json{{"type", "array"}, {"items", def_ref("filter")}}})}};
  Json builtin_names = Json::array();
  for (const std::string_view name : kBuiltinNames)
    builtin_names.push_back(std::string(name));
  defs["defaults"] = {
      {"type", "object"},
      {"propertyNames", {{"pattern", modules::kNamePattern}, {"not", {{"enum", builtin_names}}}}},
      {"additionalProperties", {{"type", Json::array({"string", "number", "boolean"})}}}};
  defs["broker"] = object_schema(broker_keys());

  Json module_names = Json::array();
  Json dispatch = Json::array();
  for (const modules::ModuleSpec* spec : modules.all()) {
    const modules::ModuleSpec& module = *spec;
    module_names.push_back(module.name);
    std::vector<ParamSpec> fields = modules::service_keys();
    fields.insert(fields.end(), module.params.begin(), module.params.end());
    Json schema = {{"description", module.summary}};
    schema.update(object_schema(fields, {{"module", Json{{"const", module.name}}}}, module.one_of));
    defs["module." + module.name] = std::move(schema);
    dispatch.push_back(Json{{"if",
                             {{"properties", {{"module", {{"const", module.name}}}}},
                              {"required", Json::array({"module"})}}},
                            {"then", def_ref("module." + module.name)}});
  }
  defs["service"] = {{"type", "object"},
                     {"required", Json::array({"name", "module"})},
                     {"properties", {{"module", {{"enum", module_names}}}}},
                     {"allOf", std::move(dispatch)}};
  defs["node"] = object_schema(
      node_keys(), {{"defaults", def_ref("defaults")},
                    {"uplink", Json{{"type", "string"}}},
                    {"services", Json{{"type", "array"}, {"items", def_ref("service")}}}});

  Json schema = {{"$schema", "https://json-schema.org/draft/2020-12/schema"},
                 {"title", "psos system definition, format version 1"},
                 {"description",
                  "Generated by `psos schema` from the module specifications; "
                  "rules in docs/definition.md."}};
  schema.update(
      object_schema(file_keys(), {{"psos", Json{{"const", 1}}},
                                  {"defaults", def_ref("defaults")},
                                  {"brokers", Json{{"type", "object"},
                                                   {"propertyNames", name_keys},
                                                   {"additionalProperties", def_ref("broker")}}},
                                  {"nodes", Json{{"type", "object"},
                                                 {"minProperties", 1},
                                                 {"propertyNames", name_keys},
                                                 {"additionalProperties", def_ref("node")}}}}));
  schema["$defs"] = std::move(defs);
  return schema.dump(2) + "\n";
}

}  // namespace psos::system
