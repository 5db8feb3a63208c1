// `exec` as a running service: real child processes (echo, tr, sh, sleep) run once, on an
// interval and per message, with their failures, timeouts, oversized output and a stop reported
// and every child reaped.
#include <sys/wait.h>

#include <cerrno>
#include <csignal>
#include <fstream>

#include "module_harness.hpp"

namespace psos::modules {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

class ExecModule : public ModuleHarness {
 protected:
  static json params(json command, json extra = json::object()) {
    json p = {{"command", std::move(command)},
              {"pub", "out"},
              {"timeout", 5000},
              {"qos", 0},
              {"retain", false}};
    p.update(extra);
    return p;
  }
  std::vector<std::string> payloads() const {
    std::vector<std::string> out;
    for (const auto& m : seen_)
      out.push_back(m->payload);
    return out;
  }
  bool logged(const std::string& text, std::chrono::milliseconds limit = 3000ms) {
    return run_until([&] { return log_text().find(text) != std::string::npos; }, limit);
  }
  // No child of this process is left, running or as a zombie.
  static bool no_children() { return ::waitpid(-1, nullptr, WNOHANG) == -1 && errno == ECHILD; }
};

TEST_F(ExecModule, RunsOnceAtStartAndPublishesItsOutput) {
  watch("out");
  start("exec", params({"echo", "hello", "world"}));
  ASSERT_TRUE(received(1)) << log_text();
  EXPECT_EQ(payloads(), std::vector<std::string>{"hello world"});  // the final newline goes
  EXPECT_TRUE(run_until([&] { return finished_; }));
  EXPECT_EQ(failure(), "");
  EXPECT_EQ(seen_.size(), 1u);
  EXPECT_TRUE(no_children());
}

TEST_F(ExecModule, RunsAtStartAndThenOnItsInterval) {
  watch("out");
  start("exec", params({"echo", "tick"}, {{"every", 100}}));
  ASSERT_TRUE(received(3)) << log_text();
  EXPECT_EQ(payloads()[2], "tick");
  EXPECT_FALSE(finished_);
}

TEST_F(ExecModule, EachMessageIsTheStandardInputOfOneRun) {
  watch("out");
  start("exec", params({"tr", "a-z", "A-Z"}, {{"sub", {"in/#"}}}));
  send("in/a", "hello");
  send("in/b", "second message");
  ASSERT_TRUE(received(2)) << log_text();
  EXPECT_EQ(payloads(), (std::vector<std::string>{"HELLO", "SECOND MESSAGE"}));
}

TEST_F(ExecModule, TheTopicIsInTheEnvironmentAndSecretsAreNot) {
  ::setenv("PSOS_SECRET_EXEC_TEST", "hidden", 1);
  watch("out");
  start("exec", params({"sh", "-c", "echo \"$PSOS_TOPIC ${PSOS_SECRET_EXEC_TEST:-none}\""},
                       {{"sub", {"in/#"}}}));
  send("in/x", "");
  ASSERT_TRUE(received(1)) << log_text();
  EXPECT_EQ(payloads()[0], "in/x none");
  ::unsetenv("PSOS_SECRET_EXEC_TEST");
}

TEST_F(ExecModule, ANonZeroExitIsLoggedWithTheFirstLineOfStandardError) {
  watch("out");
  start("exec", params({"sh", "-c", "echo partial; echo 'no sensor' >&2; echo more >&2; exit 3"}));
  ASSERT_TRUE(logged("sh exited with status 3: no sensor")) << log_text();
  EXPECT_TRUE(run_until([&] { return finished_; }));
  EXPECT_TRUE(seen_.empty()) << "published after a failure";
  EXPECT_TRUE(no_children());
}

TEST_F(ExecModule, AProgramThatCannotStartFailsTheService) {
  start("exec", params({"/nonexistent/program"}));
  EXPECT_TRUE(run_until([&] { return finished_; }));
  EXPECT_NE(failure().find("cannot run /nonexistent/program"), std::string::npos) << failure();
}

TEST_F(ExecModule, ARunPastItsTimeoutIsKilledAndReported) {
  watch("out");
  const auto begin = std::chrono::steady_clock::now();
  start("exec", params({"sh", "-c", "echo early; sleep 30"}, {{"timeout", 200}}));
  ASSERT_TRUE(logged("sh did not finish within 200 ms: killed")) << log_text();
  EXPECT_LT(std::chrono::steady_clock::now() - begin, 2s);  // SIGTERM was enough
  EXPECT_TRUE(run_until([&] { return finished_; }));
  EXPECT_TRUE(seen_.empty());
  EXPECT_TRUE(no_children());
}

TEST_F(ExecModule, AChildThatIgnoresSigtermGetsSigkill) {
  start("exec", params({"sh", "-c", "trap '' TERM; sleep 30"}, {{"timeout", 100}}));
  ASSERT_TRUE(logged("did not finish within 100 ms: killed", 5000ms)) << log_text();
  EXPECT_TRUE(run_until([&] { return finished_; }));
  EXPECT_TRUE(no_children());
}

TEST_F(ExecModule, OutputPastOneMebibyteIsRefused) {
  watch("out");
  start("exec", params({"head", "-c", "3000000", "/dev/zero"}));
  ASSERT_TRUE(logged("wrote more than 1 MiB to standard output: killed")) << log_text();
  EXPECT_TRUE(run_until([&] { return finished_; }));
  EXPECT_TRUE(seen_.empty());
  EXPECT_TRUE(no_children());
}

TEST_F(ExecModule, StoppingTheServiceKillsItsRunningChild) {
  const auto pid_file = std::filesystem::temp_directory_path() /
                        ("psos-exec-test-" + std::to_string(::getpid()) + ".pid");
  start("exec", params({"sh", "-c", "echo $$ > " + pid_file.string() + "; exec sleep 30"}));
  pid_t child = 0;
  ASSERT_TRUE(run_until([&] {
    std::ifstream in(pid_file);
    return static_cast<bool>(in >> child);
  }));
  std::filesystem::remove(pid_file);
  EXPECT_EQ(::kill(child, 0), 0);
  service_->request_stop();
  ASSERT_TRUE(run_until([&] { return finished_; })) << log_text();
  EXPECT_NE(failure(), "");         // operation_aborted, as a stop ends run()
  EXPECT_EQ(::kill(child, 0), -1);  // gone and reaped: not even a zombie
  EXPECT_TRUE(no_children());
}

}  // namespace
}  // namespace psos::modules
