// Comparing two expansions of a node: services added, removed, changed (which parameters, which
// files) and unchanged; node settings; what restarts the node.
#include "system/node_changes.hpp"

#include <gtest/gtest.h>

#include "modules/module.hpp"
#include "system/definition.hpp"

namespace psos::system {
namespace {

using nlohmann::json;

NodeDefinition expand_text(const json& definition, const std::string& node = "n") {
  Diagnostics errors;
  const std::optional<Definition> parsed = parse_definition(definition.dump(), "d.json", errors);
  EXPECT_TRUE(parsed);
  std::optional<NodeDefinition> expanded =
      expand(*parsed, node, Secrets(), modules::builtin_catalog(), errors);
  for (const Diagnostic& d : errors)
    ADD_FAILURE() << to_string(d);
  return expanded.value_or(NodeDefinition{});
}

json with_services(json services, json node_keys = json::object()) {
  node_keys["services"] = std::move(services);
  return {{"psos", 1}, {"system", "s"}, {"nodes", {{"n", node_keys}}}};
}

const json kTick = {{"name", "tick"}, {"module", "timer"}, {"every", "1s"}, {"pub", "t"}};
const json kFmt = {{"name", "fmt"}, {"module", "pipe"}, {"sub", "t"}, {"pub", "u"}};
const json kLua = {{"name", "lua"}, {"module", "function"}, {"sub", "t"}, {"file", "a.lua"}};

TEST(NodeChanges, NothingWhenTheSameDefinitionExpandsTwice) {
  const NodeDefinition a = expand_text(with_services({kTick, kFmt, kLua}));
  const NodeChanges c =
      diff_nodes(a, {{"a.lua", "11"}}, a, {{"a.lua", "11"}}, modules::builtin_catalog());
  EXPECT_TRUE(c.empty());
  EXPECT_EQ(c.unchanged, (std::vector<std::string>{"tick", "fmt", "lua"}));
  EXPECT_FALSE(c.restarts_node());
}

TEST(NodeChanges, AddedRemovedChangedWithTheirParameters) {
  json fmt = kFmt;
  fmt["format"] = "T {payload}";
  fmt["pub"] = "v";
  const json log = {{"name", "print"}, {"module", "log"}, {"sub", "u"}};
  const NodeDefinition before = expand_text(with_services({kTick, kFmt, kLua}));
  const NodeDefinition after = expand_text(with_services({log, kTick, fmt}));
  const NodeChanges c = diff_nodes(before, {}, after, {}, modules::builtin_catalog());
  EXPECT_EQ(c.added, std::vector<std::string>{"print"});
  EXPECT_EQ(c.removed, std::vector<std::string>{"lua"});
  ASSERT_EQ(c.changed.size(), 1u);
  EXPECT_EQ(c.changed[0].name, "fmt");
  EXPECT_EQ(c.changed[0].params, (std::vector<std::string>{"pub", "format"}));
  EXPECT_EQ(c.unchanged, std::vector<std::string>{"tick"});
  EXPECT_EQ(c.stopping(), (std::vector<std::string>{"lua", "fmt"}));
  EXPECT_EQ(c.starting(), (std::vector<std::string>{"print", "fmt"}));
}

TEST(NodeChanges, AFileWhoseContentChangedChangesItsService) {
  const NodeDefinition a = expand_text(with_services({kTick, kLua}));
  const NodeChanges c =
      diff_nodes(a, {{"a.lua", "11"}}, a, {{"a.lua", "22"}}, modules::builtin_catalog());
  ASSERT_EQ(c.changed.size(), 1u);
  EXPECT_EQ(c.changed[0].name, "lua");
  EXPECT_TRUE(c.changed[0].params.empty());
  EXPECT_EQ(c.changed[0].files, std::vector<std::string>{"a.lua"});
  EXPECT_EQ(file_references(a, modules::builtin_catalog()).size(), 1u);
  EXPECT_EQ(file_references(a, modules::builtin_catalog())[0].path, "a.lua");
}

TEST(NodeChanges, AModuleChangeAndADisabledServiceAndADefault) {
  json tick = kTick;
  tick["module"] = "log";
  tick.erase("every");
  tick.erase("pub");
  tick["sub"] = "x";
  json fmt = kFmt;
  fmt["enabled"] = false;
  json lua = kLua;
  lua["instructions"] = 1000000;  // the default, written out: no change
  const NodeDefinition before = expand_text(with_services({kTick, kFmt, kLua}));
  const NodeDefinition after = expand_text(with_services({tick, fmt, lua}));
  const NodeChanges c = diff_nodes(before, {}, after, {}, modules::builtin_catalog());
  ASSERT_EQ(c.changed.size(), 1u);
  EXPECT_EQ(c.changed[0].params, std::vector<std::string>{"module"});
  EXPECT_EQ(c.removed, std::vector<std::string>{"fmt"});
  EXPECT_EQ(c.unchanged, std::vector<std::string>{"lua"});
}

TEST(NodeChanges, SettingsLiveOrNot) {
  const NodeDefinition before = expand_text(with_services(json::array({kTick})));
  const NodeDefinition metrics = expand_text(
      with_services(json::array({kTick}), {{"metrics", "1s"}, {"log", {{"level", "debug"}}}}));
  NodeChanges c = diff_nodes(before, {}, metrics, {}, modules::builtin_catalog());
  EXPECT_EQ(c.settings, (std::vector<std::string>{"metrics", "log.level"}));
  EXPECT_FALSE(c.restarts_node());
  EXPECT_FALSE(c.empty());
  const NodeDefinition listen = expand_text(
      with_services(json::array({kTick}), {{"listen", json::array({"mqtt://127.0.0.1:0"})}}));
  c = diff_nodes(before, {}, listen, {}, modules::builtin_catalog());
  EXPECT_EQ(c.settings, std::vector<std::string>{"listen"});
  EXPECT_TRUE(c.restarts_node());
  const NodeDefinition dashboard = expand_text(with_services(
      json::array({kTick}), {{"dashboard", "http://127.0.0.1:8088"}, {"watchdog", "5s"}}));
  c = diff_nodes(before, {}, dashboard, {}, modules::builtin_catalog());
  EXPECT_EQ(c.settings, (std::vector<std::string>{"dashboard", "watchdog"}));
  EXPECT_TRUE(c.restarts_node());
  const NodeDefinition safe_mode =
      expand_text(with_services(json::array({kTick}), {{"safe_mode", {{"crashes", 5}}}}));
  c = diff_nodes(before, {}, safe_mode, {}, modules::builtin_catalog());
  EXPECT_EQ(c.settings, std::vector<std::string>{"safe_mode"});
  EXPECT_TRUE(c.restarts_node());
}

TEST(NodeChanges, DashboardSettingReadAsStringOrObject) {
  const NodeDefinition plain =
      expand_text(with_services(json::array({kTick}), {{"dashboard", "http://127.0.0.1:9000"}}));
  ASSERT_TRUE(plain.dashboard);
  EXPECT_EQ(plain.dashboard->listen, "http://127.0.0.1:9000");
  EXPECT_EQ(plain.dashboard->key, "");
  const NodeDefinition full =
      expand_text(with_services(json::array({kTick}), {{"dashboard",
                                                        {{"listen", "https://0.0.0.0:8443"},
                                                         {"passwd", "users.txt"},
                                                         {"https_cert", "d.pem"},
                                                         {"https_key", "d.key"},
                                                         {"key", "admin.key"}}}}));
  ASSERT_TRUE(full.dashboard);
  EXPECT_EQ(*full.dashboard,
            (DashboardSetting{"https://0.0.0.0:8443", "users.txt", "d.pem", "d.key", "admin.key"}));
  EXPECT_FALSE(expand_text(with_services(json::array({kTick}))).dashboard);
}

}  // namespace
}  // namespace psos::system
