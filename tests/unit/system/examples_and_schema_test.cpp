// The shipped examples check clean, every module's spec is consistent with itself, and the
// committed JSON Schema is the one the specs generate.
#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "modules/module.hpp"
#include "modules/spec.hpp"
#include "system/definition.hpp"
#include "system/schema.hpp"

namespace psos::system {
namespace {

std::string read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

void expect_valid(const std::string& name, std::size_t nodes) {
  const std::string path = std::string(PSOS_SOURCE_DIR) + "/examples/" + name;
  const std::string text = read(path);
  ASSERT_FALSE(text.empty()) << path;
  const CheckResult result = check_definition(text, name, Secrets(), modules::builtin_catalog());
  for (const Diagnostic& d : result.errors)
    ADD_FAILURE() << to_string(d);
  EXPECT_EQ(result.nodes.size(), nodes);
}

TEST(Examples, HelloIsValid) {
  expect_valid("hello.json", 1);
}

TEST(Examples, GreenhouseIsValid) {
  expect_valid("greenhouse.json", 3);
}

TEST(ModuleSpecs, NamesAreUniqueAndEveryDefaultPassesItsOwnCheck) {
  std::set<std::string> modules;
  for (const modules::ModuleSpec* spec : modules::builtin_catalog().all()) {
    const modules::ModuleSpec& module = *spec;
    EXPECT_TRUE(modules.insert(module.name).second) << module.name;
    EXPECT_FALSE(module.summary.empty()) << module.name;
    std::set<std::string> params;
    for (const modules::ParamSpec& param : module.params) {
      EXPECT_TRUE(params.insert(param.name).second) << module.name << "." << param.name;
      EXPECT_FALSE(param.description.empty()) << module.name << "." << param.name;
      EXPECT_FALSE(param.required && !param.default_value.is_null())
          << module.name << "." << param.name << ": required with a default";
    }
    for (const modules::ParamSpec& key : modules::service_keys())
      EXPECT_FALSE(params.count(key.name)) << module.name << " redefines " << key.name;
    for (const auto& group : module.one_of)
      for (const std::string& name : group)
        EXPECT_TRUE(module.find(name)) << module.name << ": one_of names " << name;
  }
}

// A service of each module with only its required parameters (and the first of each one-of
// group) expands: the defaults are valid values of their own parameters.
TEST(ModuleSpecs, ServicesWithOnlyRequiredParametersExpand) {
  for (const modules::ModuleSpec* spec : modules::builtin_catalog().all()) {
    const modules::ModuleSpec& module = *spec;
    nlohmann::json service = {{"name", "s"}, {"module", module.name}};
    std::set<std::string> given;
    for (const auto& group : module.one_of)
      given.insert(group.front());
    for (const modules::ParamSpec& param : module.params) {
      if (!param.required && !given.count(param.name)) continue;
      switch (param.type) {
        case modules::ParamType::Duration:
          service[param.name] = "10s";
          break;
        case modules::ParamType::Broker:
          service[param.name] = "lan";
          break;
        case modules::ParamType::Strings:
          service[param.name] = {"x"};
          break;
        case modules::ParamType::ObjectList:
          service[param.name] = nlohmann::json::array();
          break;
        case modules::ParamType::Integer:
          service[param.name] = 1;
          break;
        default:
          service[param.name] = "x";
      }
    }
    if (module.name == "switch")
      service["rules"] = nlohmann::json::parse(R"([{"op": "has", "pub": "y"}])");
    // Its own check asks for sub or setup, neither of them required alone.
    if (module.name == "function") service["setup"] = "exports.f = print";
    const nlohmann::json definition = {{"psos", 1},
                                       {"system", "t"},
                                       {"brokers", {{"lan", {{"url", "mqtt://localhost"}}}}},
                                       {"nodes", {{"n", {{"services", {service}}}}}}};
    const CheckResult result =
        check_definition(definition.dump(), "t.json", Secrets(), modules::builtin_catalog());
    for (const Diagnostic& d : result.errors)
      ADD_FAILURE() << module.name << ": " << to_string(d) << "\n" << service.dump();
  }
}

TEST(Schema, CommittedCopyMatchesTheSpecs) {
  const std::string path = std::string(PSOS_SOURCE_DIR) + "/schema/psos-definition.schema.json";
  EXPECT_TRUE(read(path) == definition_schema(modules::builtin_catalog()))
      << path << " differs from what the module specs generate. Regenerate it with\n"
      << "  " << PSOS_BINARY_DIR << "/src/cli/psos schema > schema/psos-definition.schema.json\n"
      << "and commit it with the spec change.";
}

TEST(Schema, IsJsonWithADefinitionPerModule) {
  const nlohmann::json schema =
      nlohmann::json::parse(definition_schema(modules::builtin_catalog()));
  EXPECT_EQ(schema["$schema"], "https://json-schema.org/draft/2020-12/schema");
  for (const modules::ModuleSpec* module : modules::builtin_catalog().all())
    EXPECT_TRUE(schema["$defs"].contains("module." + module->name)) << module->name;
  EXPECT_EQ(schema["$defs"]["module.timer"]["properties"]["every"]["$ref"], "#/$defs/duration");
  EXPECT_EQ(schema["required"], nlohmann::json::parse(R"(["psos", "system", "nodes"])"));
}

}  // namespace
}  // namespace psos::system
