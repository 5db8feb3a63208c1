// NodeDirectory folds nodes' $state, $info and $metrics into statuses, and says which changes
// `psos nodes -w` shows; parse_node_address reads NODE and SYSTEM/NODE.
#include "control/node_directory.hpp"

#include <gtest/gtest.h>

#include <stdexcept>

#include "control/caller.hpp"

namespace psos::control {
namespace {

using Change = NodeDirectory::Change;

constexpr const char* kInfo =
    R"({"version":"0.1.0","started":1000,"services":[)"
    R"({"name":"a","status":"running","started":1500},{"name":"b","status":"stopped","started":900}]})";

TEST(NodeDirectory, FoldsStateAndInfoIntoOneStatus) {
  NodeDirectory d;
  EXPECT_EQ(d.apply("psos/farm/gw/$state", "ready", true, 5000), Change::shown);
  EXPECT_EQ(d.apply("psos/farm/gw/$info", kInfo, true, 5000), Change::shown);
  ASSERT_EQ(d.nodes().size(), 1u);
  const NodeStatus& s = d.nodes().at({"farm", "gw"});
  EXPECT_EQ(s.state, "ready");
  EXPECT_EQ(s.version, "0.1.0");
  EXPECT_EQ(s.started_ms, 1000);
  EXPECT_EQ(s.services_running, 1);
  EXPECT_EQ(s.services_total, 2);
  // Retained: its arrival says nothing of when it was published; the newest start it names does.
  EXPECT_EQ(s.last_seen_ms, 1500);
}

TEST(NodeDirectory, LiveMessagesAreSeenWhenTheyArrive) {
  NodeDirectory d;
  d.apply("psos/farm/gw/$state", "ready", true, 5000);
  EXPECT_EQ(d.apply("psos/farm/gw/$metrics", R"({"ts":4000})", false, 6000), Change::seen);
  EXPECT_EQ(d.nodes().at({"farm", "gw"}).last_seen_ms, 6000);
  EXPECT_EQ(d.apply("psos/farm/gw/$state", "ready", false, 7000), Change::seen);
  EXPECT_EQ(d.apply("psos/farm/gw/$state", "lost", false, 8000), Change::shown);
  EXPECT_EQ(d.nodes().at({"farm", "gw"}).state, "lost");
}

TEST(NodeDirectory, RetainedMetricsTellTheirTime) {
  NodeDirectory d;
  d.apply("psos/farm/gw/$state", "ready", true, 5000);
  EXPECT_EQ(d.apply("psos/farm/gw/$metrics", R"({"ts":4000})", true, 9000), Change::seen);
  EXPECT_EQ(d.nodes().at({"farm", "gw"}).last_seen_ms, 4000);
}

TEST(NodeDirectory, ANodeGoesWhenItsRetainedMessagesAreCleared) {
  NodeDirectory d;
  d.apply("psos/farm/gw/$state", "ready", true, 5000);
  d.apply("psos/farm/gw/$info", kInfo, true, 5000);
  EXPECT_EQ(d.apply("psos/farm/gw/$state", "", false, 6000), Change::shown);
  EXPECT_EQ(d.nodes().size(), 1u);  // its $info is still there
  EXPECT_EQ(d.apply("psos/farm/gw/$info", "", false, 6000), Change::shown);
  EXPECT_TRUE(d.nodes().empty());
}

TEST(NodeDirectory, IgnoresOtherTopicsAndUnknownNodesMetrics) {
  NodeDirectory d;
  EXPECT_EQ(d.apply("psos/farm/gw/$log", "{}", false, 1), Change::none);
  EXPECT_EQ(d.apply("psos/farm/gw/$cmd/ping", "{}", false, 1), Change::none);
  EXPECT_EQ(d.apply("farm/gw/$state", "ready", false, 1), Change::none);
  EXPECT_EQ(d.apply("psos/farm/gw/$metrics", R"({"ts":4})", false, 1), Change::none);
  EXPECT_EQ(d.apply("psos/farm/gw/$state", "", true, 1), Change::none);
  EXPECT_TRUE(d.nodes().empty());
}

TEST(NodeDirectory, InfoThatIsNotJsonLeavesNoInfo) {
  NodeDirectory d;
  d.apply("psos/farm/gw/$info", kInfo, true, 5000);
  EXPECT_EQ(d.apply("psos/farm/gw/$info", "not json", false, 6000), Change::shown);
  EXPECT_TRUE(d.nodes().empty());
}

TEST(NodeDirectory, SortsBySystemThenNode) {
  NodeDirectory d;
  for (const char* topic : {"psos/b/x/$state", "psos/a/y/$state", "psos/a/x/$state"})
    d.apply(topic, "ready", true, 1);
  std::vector<std::string> order;
  for (const auto& [key, status] : d.nodes())
    order.push_back(status.system + "/" + status.node);
  EXPECT_EQ(order, (std::vector<std::string>{"a/x", "a/y", "b/x"}));
}

TEST(NodeAddress, ReadsNodeAndSystemSlashNode) {
  const NodeAddress bare = parse_node_address("gw");
  EXPECT_EQ(bare.system, "");
  EXPECT_EQ(bare.node, "gw");
  EXPECT_EQ(bare.to_string(), "gw");
  const NodeAddress full = parse_node_address("greenhouse/gw");
  EXPECT_EQ(full.system, "greenhouse");
  EXPECT_EQ(full.node, "gw");
  EXPECT_EQ(full.to_string(), "greenhouse/gw");
}

TEST(NodeAddress, RefusesWhatIsNotOneTopicLevelEach) {
  const auto message = [](const char* text) {
    try {
      parse_node_address(text);
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  EXPECT_EQ(message("a/b/c"), "node name 'a/b/c': expected NODE or SYSTEM/NODE (one '/' at most)");
  EXPECT_EQ(message(""), "node name '': the node is empty (give NODE or SYSTEM/NODE)");
  EXPECT_EQ(message("/gw"), "node name '/gw': the system is empty (give NODE or SYSTEM/NODE)");
  EXPECT_EQ(message("farm/+"), "node name 'farm/+': the node may not hold '+' or '#'");
  EXPECT_EQ(message("$SYS/x"), "node name '$SYS/x': the system may not start with '$'");
}

}  // namespace
}  // namespace psos::control
