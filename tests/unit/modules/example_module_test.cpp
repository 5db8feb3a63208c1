// The module README.md shows as "Writing a module in C++" (examples/modules/counter.cpp, compiled
// into this test): it runs as a service, and the README shows the file exactly as it is.
#include <algorithm>
#include <fstream>
#include <sstream>

#include "module_harness.hpp"

namespace psos::modules {

Module counter_module();

namespace {

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

class ExampleModule : public ModuleHarness {
 protected:
  const Module counter_ = counter_module();

  // Like start(), for a module the registry does not list.
  void start_counter(nlohmann::json params) {
    service_ = std::make_unique<runtime::Service>(
        router_, io_.get_executor(), "sys", "node1",
        system::ServiceDefinition{.name = "svc", .module = "counter", .params = Params(params)},
        counter_.spec, state_root_);
    service_->status = runtime::ServiceStatus::Running;
    boost::asio::co_spawn(io_, counter_.run(*service_),
                          boost::asio::bind_cancellation_slot(service_->cancel().slot(),
                                                              [this](std::exception_ptr e) {
                                                                finished_ = true;
                                                                failure_ = e;
                                                              }));
    io_.run_for(std::chrono::milliseconds(20));
  }
};

TEST_F(ExampleModule, CounterPublishesTheRunningTotal) {
  const ModuleSpec& spec = counter_.spec;
  EXPECT_EQ(spec.name, "counter");
  ASSERT_NE(spec.find("start"), nullptr);
  start_counter({{"sub", {"in/#"}}, {"pub", "out/count"}, {"start", 10}});
  watch("out/#");
  for (const char* topic : {"in/a", "in/b", "in/c"})
    send(topic, "x");
  ASSERT_TRUE(received(3)) << failure();
  EXPECT_EQ(seen_[0]->payload, R"({"count": 11})");
  EXPECT_EQ(seen_[2]->payload, R"({"count": 13})");
  EXPECT_EQ(seen_[2]->topic, "out/count");
  EXPECT_EQ(call("read"), (nlohmann::json{{"count", 13}}));
  service_->request_stop();
  EXPECT_TRUE(run_until([&] { return finished_; }));
}

TEST(ReadmeExample, ShowsExamplesModulesCounterCppVerbatim) {
  const std::string readme = read_file(std::filesystem::path(PSOS_SOURCE_DIR) / "README.md");
  const std::string code =
      read_file(std::filesystem::path(PSOS_SOURCE_DIR) / "examples/modules/counter.cpp");
  ASSERT_FALSE(code.empty());
  EXPECT_NE(readme.find("```cpp\n" + code + "```\n"), std::string::npos)
      << "README.md must show examples/modules/counter.cpp exactly, in a ```cpp block";
  EXPECT_LE(std::count(code.begin(), code.end(), '\n'), 40) << "the README promises 40 lines";
}

}  // namespace
}  // namespace psos::modules
