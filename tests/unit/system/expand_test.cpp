// Expanding a node: templates from system, node, service and both defaults, secrets from a file
// and the environment, parameters normalized with their defaults, brokers resolved.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "modules/module.hpp"
#include "system/definition.hpp"

namespace psos::system {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

const char* const kGreenhouse = R"({
  "psos": 1,
  "system": "gh",
  "defaults": {"site": "north", "room": "r1", "period": "5s"},
  "brokers": {
    "lan": {"url": "mqtt://127.0.0.1:1883"},
    "cloud": {"url": "mqtts://${secret:cloud_host}", "username": "{node}",
              "password": "${secret:cloud_password}"}
  },
  "nodes": {
    "e01": {"uplink": "lan", "defaults": {"room": "r2"},
            "services": [
              {"name": "dht", "module": "sim.dht", "every": "{period}",
               "pub": "{site}/{room}/{node}/{service}"},
              {"name": "fmt", "module": "pipe", "sub": "{node}/dht", "pub": "local/{node}/lcd",
               "format": "{node} {{literal}}: {temp}°C"},
              {"name": "off", "module": "log", "sub": ["a", "b/#"], "enabled": false}]},
    "gw": {"listen": ["mqtt://0.0.0.0:1883"],
           "services": [
              {"name": "up", "module": "bridge", "broker": "cloud", "topics": "+/dht"},
              {"name": "db", "module": "store", "sub": "#"}]}
  }
})";

NodeDefinition expand_node(const std::string& node, const Secrets& secrets) {
  Diagnostics errors;
  const std::optional<Definition> definition = parse_definition(kGreenhouse, "gh.json", errors);
  EXPECT_TRUE(definition);
  std::optional<NodeDefinition> expanded =
      expand(*definition, node, secrets, modules::builtin_catalog(), errors);
  for (const Diagnostic& d : errors)
    ADD_FAILURE() << to_string(d);
  return expanded.value_or(NodeDefinition{});
}

TEST(Expand, FillsTemplatesDefaultsAndTypes) {
  const NodeDefinition node = expand_node("e01", Secrets());
  EXPECT_EQ(node.system, "gh");
  EXPECT_EQ(node.name, "e01");
  EXPECT_TRUE(node.listen.empty());
  ASSERT_TRUE(node.uplink);
  EXPECT_EQ(node.uplink->name, "lan");
  EXPECT_EQ(node.uplink->url, "mqtt://127.0.0.1:1883");
  EXPECT_FALSE(node.uplink->username);
  ASSERT_EQ(node.services.size(), 3u);

  const ServiceDefinition& dht = node.services[0];
  EXPECT_EQ(dht.name, "dht");
  EXPECT_EQ(dht.module, "sim.dht");
  EXPECT_TRUE(dht.enabled);
  // The node's defaults win over the file's.
  EXPECT_EQ(dht.params.text("pub"), "north/r2/e01/dht");
  EXPECT_EQ(dht.params.duration("every"), milliseconds(5000));
  EXPECT_EQ(dht.params.number("temp"), 21.0);
  EXPECT_EQ(dht.params.number("step"), 0.2);
  EXPECT_FALSE(dht.params.has("seed"));
  EXPECT_FALSE(dht.params.has("name"));
  EXPECT_THROW(dht.params.integer("seed"), std::out_of_range);

  const ServiceDefinition& fmt = node.services[1];
  EXPECT_EQ(fmt.params.texts("sub"), std::vector<std::string>{"e01/dht"});
  EXPECT_EQ(fmt.params.text("pub"), "local/e01/lcd");
  // A runtime template: definition names filled, the module's names and escapes kept.
  EXPECT_EQ(fmt.params.text("format"), "e01 {{literal}}: {temp}°C");
  EXPECT_EQ(fmt.params.integer("qos"), 0);
  EXPECT_FALSE(fmt.params.boolean("retain"));

  const ServiceDefinition& off = node.services[2];
  EXPECT_FALSE(off.enabled);
  EXPECT_EQ(off.params.texts("sub"), (std::vector<std::string>{"a", "b/#"}));
  EXPECT_EQ(off.params.text("level"), "info");
  EXPECT_EQ(off.params.text("format"), "{topic} {payload}");
}

TEST(Expand, DefaultsAreTemplatesToo) {
  Secrets secrets;
  secrets.set("cloud_host", "broker.example");
  secrets.set("cloud_password", "pw");
  const NodeDefinition node = expand_node("gw", secrets);
  ASSERT_EQ(node.services.size(), 2u);
  EXPECT_EQ(node.services[1].params.text("request"), "gw/db/query");
  EXPECT_EQ(node.services[0].params.text("client_id"), "psos-gh-gw-up");
  EXPECT_EQ(node.listen, std::vector<std::string>{"mqtt://0.0.0.0:1883"});
  EXPECT_FALSE(node.uplink);
}

TEST(Expand, BrokerParametersBecomeConnectionsWithSecrets) {
  Secrets secrets;
  secrets.set("cloud_host", "broker.example");
  secrets.set("cloud_password", "from-file");
  ::setenv("PSOS_SECRET_CLOUD_PASSWORD", "from-env", 1);
  const NodeDefinition node = expand_node("gw", secrets);
  ::unsetenv("PSOS_SECRET_CLOUD_PASSWORD");
  ASSERT_EQ(node.services.size(), 2u);
  EXPECT_EQ(node.services[0].params.json("broker"),
            nlohmann::json::parse(R"({"name": "cloud", "url": "mqtts://broker.example",
                                      "username": "gw", "password": "from-env"})"));
  EXPECT_EQ(node.services[0].params.texts("topics"), std::vector<std::string>{"+/dht"});
  EXPECT_EQ(node.services[0].params.texts("topics_in"), std::vector<std::string>{});
}

TEST(Expand, SecretsFileIsAJsonObjectOfStrings) {
  const fs::path dir = fs::temp_directory_path() / ("psos-secrets-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const fs::path file = dir / "gh.secrets.json";
  std::ofstream(file) << "{\"cloud_host\": \"broker.example\",\n \"cloud_password\": \"pw\",\n"
                         " \"bad name\": \"x\", \"n\": 5}";
  Diagnostics errors;
  const Secrets secrets = Secrets::load(file, errors);
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_EQ(to_string(errors[0]),
            file.string() + ":3:2: bad name: a secret's name has only letters, digits and '_'");
  EXPECT_EQ(to_string(errors[1]), file.string() + ":3:24: n: a secret's value must be a string");
  EXPECT_EQ(secrets.find("cloud_password"), "pw");
  const NodeDefinition node = expand_node("gw", secrets);
  EXPECT_EQ(node.services.at(0).params.json("broker")["password"], "pw");

  std::ofstream(file) << "{\"a\": \"s3cret";
  errors.clear();
  Secrets::load(file, errors);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].message, "string not closed: missing '\"'");
  try {
    Secrets::load(dir / "missing.json", errors);
    ADD_FAILURE() << "a missing secrets file was read";
  } catch (const UnreadableFile& e) {
    // psos check and deploy tell this (exit 2) from problems inside the file (exit 1).
    EXPECT_EQ(e.path(), (dir / "missing.json").string());
    EXPECT_EQ(e.reason(), "No such file or directory");
    EXPECT_EQ(std::string(e.what()),
              "cannot read the secrets file " + e.path() + ": No such file or directory");
  }
  fs::remove_all(dir);
  EXPECT_EQ(default_secrets_path("dir/gh.json"), fs::path("dir/gh.secrets.json"));
}

TEST(Expand, NodesComeInFileOrder) {
  Diagnostics errors;
  const std::optional<Definition> definition = parse_definition(kGreenhouse, "gh.json", errors);
  ASSERT_TRUE(definition);
  EXPECT_EQ(definition->nodes(), (std::vector<std::string>{"e01", "gw"}));
  EXPECT_EQ(definition->system(), "gh");
}

// Relative paths in parameters (function's file) start at the definition file's directory.
TEST(Expand, ServicesKnowTheDefinitionsDirectory) {
  for (const auto& [file, directory] :
       {std::pair<std::string, fs::path>{"/etc/psos/gh.json", "/etc/psos"},
        {"site/gh.json", "site"},
        {"gh.json", ""}}) {
    Diagnostics errors;
    const std::optional<Definition> definition = parse_definition(kGreenhouse, file, errors);
    ASSERT_TRUE(definition);
    const std::optional<NodeDefinition> node =
        expand(*definition, "e01", Secrets(), modules::builtin_catalog(), errors);
    ASSERT_TRUE(node) << file;
    for (const ServiceDefinition& service : node->services)
      EXPECT_EQ(service.directory, directory) << file << " " << service.name;
  }
}

}  // namespace
}  // namespace psos::system
