// `exec` as a running service: real child processes (echo, tr, sh, sleep) run once, on an
// interval, per message and when its function `run` is called, with their failures, timeouts,
// oversized output and a stop reported and every child reaped.
#include <sys/wait.h>

#include <cerrno>
#include <csignal>
#include <fstream>
#include <sstream>

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
  // call("run") without the time it took.
  json run_result() {
    json result = call("run");
    EXPECT_TRUE(result.contains("ms") && result["ms"].get<std::int64_t>() >= 0) << result;
    result.erase("ms");
    return result;
  }
  // Calls run without waiting for it: the result lands in `pending`.
  void call_in_background(std::optional<json>& pending) {
    boost::asio::co_spawn(
        io_,
        [this, &pending]() -> boost::asio::awaitable<void> {
          try {
            pending = co_await service_->call("run", json::object());
          } catch (const runtime::CallError& e) {
            pending = json{{"error", e.code()}, {"message", e.what()}};
          }
        },
        boost::asio::detached);
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

TEST_F(ExecModule, RunReturnsTheResultAndPublishesAsARunDoes) {
  watch("out");
  start("exec", params({"sh", "-c", "echo out; echo err >&2"}, {{"sub", {"in"}}}));
  EXPECT_EQ(run_result(), json({{"exit", 0}, {"stdout", "out\n"}, {"stderr", "err\n"}}));
  ASSERT_TRUE(received(1)) << log_text();
  EXPECT_EQ(payloads(), std::vector<std::string>{"out"});
  EXPECT_TRUE(no_children());
}

TEST_F(ExecModule, RunReportsAFailingCommandAndPublishesNothing) {
  watch("out");
  start("exec", params({"sh", "-c", "echo partial; seq 1 20 >&2; exit 3"}, {{"sub", {"in"}}}));
  EXPECT_EQ(
      run_result(),
      json({{"exit", 3}, {"stdout", "partial\n"}, {"stderr", "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n"}}));
  EXPECT_TRUE(logged("sh exited with status 3: 1")) << log_text();
  io_.run_for(20ms);
  EXPECT_TRUE(seen_.empty());
}

TEST_F(ExecModule, RunReportsAKilledCommand) {
  start("exec", params({"sh", "-c", "echo early; sleep 30"}, {{"sub", {"in"}}, {"timeout", 200}}));
  EXPECT_EQ(run_result(),
            json({{"exit", nullptr},
                  {"stdout", "early\n"},
                  {"stderr", ""},
                  {"error", "sh did not finish within 200 ms: killed; nothing published"}}));
  EXPECT_TRUE(no_children());
}

TEST_F(ExecModule, RunKeepsTheStartOfALongOutput) {
  start("exec", params({"head", "-c", "100000", "/dev/zero"}, {{"sub", {"in"}}}));
  const json result = run_result();
  EXPECT_EQ(result["stdout"].get<std::string>(), std::string(65536, '\0'));
  EXPECT_EQ(result["truncated"], true);
}

TEST_F(ExecModule, RunOfACommandThatCannotStartFailsTheCallNotTheService) {
  start("exec", params({"/nonexistent/program"}, {{"sub", {"in"}}}));
  EXPECT_EQ(call("run"),
            json({{"error", "failed"},
                  {"message", "cannot run /nonexistent/program: No such file or directory"}}));
  EXPECT_FALSE(finished_);
  EXPECT_EQ(call("status")["status"], "running");
}

TEST_F(ExecModule, RunIsRefusedWhileARunIsInProgress) {
  watch("out");
  start("exec", params({"sh", "-c", "sleep 0.3; echo done"}, {{"sub", {"in"}}}));
  send("in", "");
  io_.run_for(50ms);
  const json refused = call("run");
  EXPECT_EQ(refused["error"], "failed");
  const std::string message = refused["message"];
  EXPECT_EQ(message.rfind("sh is running (for ", 0), 0u) << message;
  EXPECT_NE(message.find(" ms): one run at a time; call again when it has finished"),
            std::string::npos)
      << message;
  ASSERT_TRUE(received(1));
  EXPECT_EQ(run_result()["stdout"], "done\n") << "free again once the run ended";
}

TEST_F(ExecModule, AScheduledRunWaitsForTheRunACallStarted) {
  watch("out");
  // Prints its input, then when it started and when it ended (ns).
  start("exec", params({"sh", "-c", "s=$(date +%s%N); sleep 0.1; cat; echo \" $s $(date +%s%N)\""},
                       {{"sub", {"in"}}}));
  std::optional<json> called;
  call_in_background(called);
  send("in", "message");
  ASSERT_TRUE(received(2)) << log_text();
  ASSERT_TRUE(called.has_value());
  EXPECT_EQ(called->at("exit"), 0) << *called;
  // The call's run (no input) came first; the message's run started after it ended.
  std::istringstream first(seen_[0]->payload);
  std::istringstream second(seen_[1]->payload);
  std::string word;
  long long start1 = 0, end1 = 0, start2 = 0, end2 = 0;
  first >> start1 >> end1;
  second >> word >> start2 >> end2;
  EXPECT_EQ(word, "message");
  EXPECT_GT(start1, 0);
  EXPECT_GE(start2, end1) << seen_[0]->payload << " / " << seen_[1]->payload;
  EXPECT_TRUE(no_children());
}

TEST_F(ExecModule, StoppingTheServiceEndsARunACallStarted) {
  start("exec", params({"sleep", "30"}, {{"sub", {"in"}}}));
  std::optional<json> called;
  call_in_background(called);
  io_.run_for(50ms);
  EXPECT_FALSE(called.has_value());
  service_->request_stop();
  ASSERT_TRUE(run_until([&] { return called.has_value() && finished_; })) << log_text();
  EXPECT_EQ(*called, json({{"error", "failed"},
                           {"message", "the service stopped during the run: sleep was killed"}}));
  EXPECT_TRUE(no_children());
}

}  // namespace
}  // namespace psos::modules
