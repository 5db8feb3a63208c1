// `sysinfo` as a running service: a report at start and on each interval, and one at once on
// request.
#include "module_harness.hpp"

namespace psos::modules {
namespace {

using nlohmann::json;

class SysinfoModule : public ModuleHarness {
 protected:
  static json params(json extra) {
    json p = {
        {"pub", "node1/sysinfo"}, {"every", 60000}, {"disk", "/"}, {"qos", 0}, {"retain", false}};
    p.update(extra);
    return p;
  }
};

TEST_F(SysinfoModule, ReportsAtStartWithEveryField) {
  watch("node1/sysinfo");
  start("sysinfo", params(json::object()));
  ASSERT_TRUE(received(1)) << log_text() << failure();
  const json r = json::parse(seen_[0]->payload);
  for (const char* key :
       {"mem_total", "mem_available", "cpu", "load", "disk_total", "disk_free", "uptime"})
    EXPECT_TRUE(r.contains(key)) << key << " in " << r.dump();
  EXPECT_GT(r["mem_total"].get<std::uint64_t>(), r["mem_available"].get<std::uint64_t>());
  EXPECT_GE(r["disk_total"].get<std::uint64_t>(), r["disk_free"].get<std::uint64_t>());
  EXPECT_GT(r["disk_total"].get<std::uint64_t>(), 0u);
  EXPECT_EQ(r["load"].size(), 3u);
  EXPECT_GE(r["cpu"].get<double>(), 0.0);
  EXPECT_LE(r["cpu"].get<double>(), 100.0);
}

TEST_F(SysinfoModule, ReportsOnRequestBetweenIntervals) {
  watch("node1/sysinfo");
  start("sysinfo", params({{"request", "node1/sysinfo/get"}}));
  ASSERT_TRUE(received(1)) << log_text() << failure();
  send("node1/sysinfo/get", "");
  ASSERT_TRUE(received(2)) << log_text() << failure();
  send("node1/sysinfo/get", "");
  ASSERT_TRUE(received(3)) << log_text() << failure();
  EXPECT_FALSE(finished_) << failure();
}

TEST_F(SysinfoModule, ReportsOnTheInterval) {
  watch("node1/sysinfo");
  start("sysinfo", params({{"every", 100}}));
  ASSERT_TRUE(received(3)) << log_text() << failure();
}

TEST_F(SysinfoModule, StopsCleanlyWhenAskedWhileWaitingOnBoth) {
  start("sysinfo", params({{"request", "node1/sysinfo/get"}}));
  service_->request_stop();
  ASSERT_TRUE(run_until([&] { return finished_; }));
  EXPECT_EQ(failure().rfind("Operation canceled", 0), 0u) << failure();
}

}  // namespace
}  // namespace psos::modules
