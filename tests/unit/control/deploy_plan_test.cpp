// Planning a deploy (control/deploy_plan.hpp), as psos deploy and the dashboard's deploy view
// share it: the definition checked, the bundle's files gathered per node, the nodes kept that
// were named, and a node's running revision compared, with the changed values for a page.
#include "control/deploy_plan.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "control/digest.hpp"
#include "modules/module.hpp"

namespace psos::control {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

class DeployPlanTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ =
        fs::temp_directory_path() /
        ("psos-deploy-plan-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
         "-" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name, std::ios::binary) << text;
    return (dir_ / name).string();
  }

  // Two nodes: gw with a timer, a pipe and a Lua function read from a.lua; e01 with a bridge.
  static json definition(const std::string& every = "1s", const std::string& pub = "u") {
    return {{"psos", 1},
            {"system", "s"},
            {"brokers", {{"cloud", {{"url", "mqtt://127.0.0.1:1"}, {"password", "hunter2"}}}}},
            {"nodes",
             {{"gw",
               {{"services",
                 json::array(
                     {json{{"name", "tick"}, {"module", "timer"}, {"every", every}, {"pub", "t"}},
                      json{{"name", "fmt"}, {"module", "pipe"}, {"sub", "t"}, {"pub", pub}},
                      json{{"name", "lua"},
                           {"module", "function"},
                           {"sub", "t"},
                           {"file", "a.lua"}}})}}},
              {"e01",
               {{"services", json::array({json{{"name", "up"},
                                               {"module", "bridge"},
                                               {"broker", "cloud"},
                                               {"topics", "t"}}})}}}}}};
  }

  static std::variant<DeployPlan, PlanFailure> plan(const std::string& file,
                                                    const std::vector<std::string>& only = {},
                                                    const std::string& shown = {}) {
    return plan_deploy(file, "", only, modules::builtin_catalog(), shown);
  }

  fs::path dir_;
};

// A node of the plan by name (the file's order is JSON's: the keys sorted).
NodeDeploy& node(DeployPlan& plan, const std::string& name) {
  for (NodeDeploy& n : plan.nodes)
    if (n.node == name) return n;
  throw std::out_of_range("no node " + name);
}

TEST_F(DeployPlanTest, GathersTheDefinitionAndTheFilesEachNodeReads) {
  write("a.lua", "return msg\n");
  const std::string file = write("d.json", definition().dump(1));
  auto planned = plan(file);
  ASSERT_TRUE(std::holds_alternative<DeployPlan>(planned))
      << std::get<PlanFailure>(planned).message;
  DeployPlan& p = std::get<DeployPlan>(planned);
  EXPECT_EQ(p.system, "s");
  EXPECT_EQ(p.contents.size(), 2u);
  EXPECT_EQ(p.contents.at("a.lua"), "return msg\n");
  EXPECT_EQ(p.contents.at("d.json"), definition().dump(1));
  ASSERT_EQ(p.nodes.size(), 2u);
  EXPECT_EQ(node(p, "gw").paths, (std::vector<std::string>{"d.json", "a.lua"}));
  EXPECT_EQ(node(p, "gw").after_files.at("a.lua"), sha256_hex("return msg\n"));
  EXPECT_EQ(node(p, "e01").paths, std::vector<std::string>{"d.json"});
  EXPECT_TRUE(node(p, "e01").after_files.empty());
}

TEST_F(DeployPlanTest, KeepsTheNodesNamedAndRefusesAnUnknownOne) {
  write("a.lua", "return msg\n");
  const std::string file = write("d.json", definition().dump());
  auto only = plan(file, {"e01"});
  ASSERT_TRUE(std::holds_alternative<DeployPlan>(only));
  ASSERT_EQ(std::get<DeployPlan>(only).nodes.size(), 1u);
  EXPECT_EQ(std::get<DeployPlan>(only).nodes[0].node, "e01");

  auto unknown = plan(file, {"e01", "nope"}, "d.json");
  ASSERT_TRUE(std::holds_alternative<PlanFailure>(unknown));
  EXPECT_EQ(std::get<PlanFailure>(unknown).status, 2);
  EXPECT_EQ(std::get<PlanFailure>(unknown).message, "d.json has no node nope");
}

TEST_F(DeployPlanTest, AnInvalidDefinitionGivesCheckLinesUnderItsShownName) {
  json d = definition();
  d["nodes"]["gw"]["services"][0]["every"] = "soon";
  const std::string file = write("bad.json", d.dump(1));
  auto planned = plan(file, {}, "bad.json");
  ASSERT_TRUE(std::holds_alternative<PlanFailure>(planned));
  const PlanFailure& f = std::get<PlanFailure>(planned);
  EXPECT_EQ(f.status, 1);
  EXPECT_EQ(f.message, "bad.json has problems: nothing was sent");
  ASSERT_FALSE(f.diagnostics.empty());
  EXPECT_TRUE(f.diagnostics[0].starts_with("bad.json:")) << f.diagnostics[0];
  EXPECT_NE(f.diagnostics[0].find("nodes/gw/services/0/every"), std::string::npos)
      << f.diagnostics[0];
}

TEST_F(DeployPlanTest, UnreadableFilesAndPathsOutsideTheDirectoryAreRefused) {
  auto missing = plan((dir_ / "none.json").string(), {}, "none.json");
  ASSERT_TRUE(std::holds_alternative<PlanFailure>(missing));
  EXPECT_EQ(std::get<PlanFailure>(missing).status, 2);
  EXPECT_EQ(std::get<PlanFailure>(missing).message,
            "cannot read none.json: No such file or directory");

  const std::string no_lua = write("d.json", definition().dump());
  auto unread = plan(no_lua);
  ASSERT_TRUE(std::holds_alternative<PlanFailure>(unread));
  EXPECT_EQ(std::get<PlanFailure>(unread).message, "cannot read a.lua: No such file or directory");

  json d = definition();
  d["nodes"]["gw"]["services"][2]["file"] = "../a.lua";
  auto outside = plan(write("d.json", d.dump()));
  ASSERT_TRUE(std::holds_alternative<PlanFailure>(outside));
  EXPECT_EQ(std::get<PlanFailure>(outside).status, 1);
  EXPECT_TRUE(std::get<PlanFailure>(outside).message.starts_with(
      "service lua parameter file: the file ../a.lua "))
      << std::get<PlanFailure>(outside).message;
}

TEST_F(DeployPlanTest, ComparesWithTheRunningRevisionAndShowsTheValues) {
  write("a.lua", "return msg\n");
  const std::string file = write("d.json", definition("2s", "v").dump());
  auto planned = plan(file);
  ASSERT_TRUE(std::holds_alternative<DeployPlan>(planned));
  DeployPlan& p = std::get<DeployPlan>(planned);
  NodeDeploy& gw = node(p, "gw");
  const json running = {{"revision", 3},
                        {"highest", 5},
                        {"file", "old.json"},
                        {"definition", definition().dump()},
                        {"files", {{"a.lua", sha256_hex("return msg\n")}}}};
  compare_running(gw, running, p.secrets, modules::builtin_catalog());
  EXPECT_TRUE(gw.answered);
  EXPECT_EQ(gw.next_revision(), 6u);
  const json c = node_changes_json(gw, modules::builtin_catalog());
  EXPECT_EQ(c["revision"], json::array({3, 6}));
  EXPECT_EQ(c["empty"], false);
  EXPECT_EQ(c["added"], json::array());
  EXPECT_EQ(c["unchanged"], json::array({"lua"}));
  ASSERT_EQ(c["changed"].size(), 2u);
  EXPECT_EQ(c["changed"][0]["name"], "tick");
  EXPECT_EQ(c["changed"][0]["params"],
            json::array({json{{"name", "every"}, {"before", "1s"}, {"after", "2s"}}}));
  EXPECT_EQ(c["changed"][1]["params"],
            json::array({json{{"name", "pub"}, {"before", "u"}, {"after", "v"}}}));
}

TEST_F(DeployPlanTest, ABrokerIsShownByItsNameNeverItsCredentials) {
  write("a.lua", "return msg\n");
  json d = definition();
  d["brokers"]["backup"] = {{"url", "mqtt://127.0.0.1:2"}, {"password", "swordfish"}};
  d["nodes"]["e01"]["services"][0]["broker"] = "backup";
  auto planned = plan(write("d.json", d.dump()));
  ASSERT_TRUE(std::holds_alternative<DeployPlan>(planned));
  DeployPlan& p = std::get<DeployPlan>(planned);
  NodeDeploy& e01 = node(p, "e01");
  compare_running(e01,
                  {{"revision", 0},
                   {"highest", 0},
                   {"file", "d.json"},
                   {"definition", definition().dump()},
                   {"files", json::object()}},
                  p.secrets, modules::builtin_catalog());
  const json c = node_changes_json(e01, modules::builtin_catalog());
  ASSERT_EQ(c["changed"].size(), 1u);
  EXPECT_EQ(c["changed"][0]["params"],
            json::array({json{{"name", "broker"}, {"before", "cloud"}, {"after", "backup"}}}));
  const std::string text = c.dump();
  EXPECT_EQ(text.find("hunter2"), std::string::npos);
  EXPECT_EQ(text.find("swordfish"), std::string::npos);
}

TEST_F(DeployPlanTest, WhatCannotBeExpandedHereCountsAsEmpty) {
  write("a.lua", "return msg\n");
  auto planned = plan(write("d.json", definition().dump()));
  ASSERT_TRUE(std::holds_alternative<DeployPlan>(planned));
  DeployPlan& p = std::get<DeployPlan>(planned);
  NodeDeploy& gw = node(p, "gw");
  compare_running(gw,
                  {{"revision", 1},
                   {"highest", 1},
                   {"file", "d.json"},
                   {"definition", "{ not json"},
                   {"files", json::object()}},
                  p.secrets, modules::builtin_catalog());
  EXPECT_FALSE(gw.before);
  EXPECT_EQ(gw.changes.added, (std::vector<std::string>{"tick", "fmt", "lua"}));
  EXPECT_EQ(node_changes_json(gw, modules::builtin_catalog())["revision"], json::array({1, 2}));
}

}  // namespace
}  // namespace psos::control
