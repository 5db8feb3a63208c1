// `psos check`, `psos modules` and `psos schema` run as the real binary: output and exit status.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

namespace {

namespace fs = std::filesystem;

struct Result {
  int status;
  std::string out;  // stdout and stderr together
};

Result run(const std::string& args) {
  const std::string command = std::string(PSOS_BINARY_DIR) + "/src/cli/psos " + args + " 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  std::string out;
  std::array<char, 256> buffer{};
  while (pipe && std::fgets(buffer.data(), buffer.size(), pipe))
    out += buffer.data();
  const int status = pipe ? ::pclose(pipe) : -1;
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

class CheckCommand : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "psos-check-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string write(const std::string& name, const std::string& text) {
    const fs::path path = dir_ / name;
    std::ofstream(path) << text;
    return path.string();
  }
  fs::path dir_;
};

TEST_F(CheckCommand, ValidFileExitsZeroWithASummary) {
  const Result r = run("check " + std::string(PSOS_SOURCE_DIR) + "/examples/hello.json");
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("hello.json: valid: system hello, 1 node, 3 services"), std::string::npos)
      << r.out;
}

TEST_F(CheckCommand, InvalidFileExitsOneWithOneLinePerProblem) {
  const std::string file = write("bad.json", R"({
  "psos": 1,
  "system": "gh",
  "nodes": {"n": {"services": [
    {"name": "t", "module": "timer", "every": "10x", "pub": "a"},
    {"name": "t", "module": "log", "sub": "a"}]}}
})");
  const Result r = run("check " + file);
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_EQ(r.out, file +
                       ":5:47: nodes/n/services/0/every: bad duration \"10x\": expected a "
                       "number followed by ms, s, m, h or d\n" +
                       file +
                       ":6:14: nodes/n/services/1/name: duplicate service name \"t\" on "
                       "node \"n\" (first at 5:14)\n" +
                       file + ": 2 problems\n");
}

TEST_F(CheckCommand, MissingFileExitsTwo) {
  const Result r = run("check " + (dir_ / "nope.json").string());
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_NE(r.out.find("psos check: cannot read " + (dir_ / "nope.json").string() +
                       ": No such file or directory"),
            std::string::npos)
      << r.out;
  EXPECT_EQ(run("check").status, 2);
  const Result directory = run("check " + dir_.string());
  EXPECT_EQ(directory.status, 2) << directory.out;
  EXPECT_NE(directory.out.find("psos check: cannot read " + dir_.string() + ": Is a directory"),
            std::string::npos)
      << directory.out;
}

TEST_F(CheckCommand, SecretsComeFromTheFileNextToTheDefinition) {
  const std::string file = write("s.json", R"({"psos": 1, "system": "s",
  "brokers": {"b": {"url": "mqtt://h", "password": "${secret:pw}"}},
  "nodes": {"main": {"uplink": "b"}}})");
  Result r = run("check " + file);
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_NE(r.out.find("secret \"pw\" is not set: define PSOS_SECRET_PW or add \"pw\" to " +
                       (dir_ / "s.secrets.json").string()),
            std::string::npos)
      << r.out;
  write("s.secrets.json", R"({"pw": "x"})");
  r = run("check " + file);
  EXPECT_EQ(r.status, 0) << r.out;
  r = run("check " + file + " --secrets " + (dir_ / "other.json").string());
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_NE(r.out.find("psos check: cannot read the secrets file " +
                       (dir_ / "other.json").string() + ": No such file or directory"),
            std::string::npos)
      << r.out;
  r = run("check " + file + " --node mian");
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_NE(r.out.find(":3:3: nodes: no node \"mian\" in this definition; did you mean \"main\"?"),
            std::string::npos)
      << r.out;
}

TEST(ModulesCommand, ListsAndDescribesModules) {
  Result r = run("modules");
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("  timer       Publishes a message on an interval or a schedule"),
            std::string::npos)
      << r.out;
  r = run("modules timer");
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("  jitter (duration, default \"0s\")\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Give exactly one of every, cron or at."), std::string::npos) << r.out;
  r = run("modules timr");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("psos modules: no module \"timr\"; did you mean \"timer\"?"),
            std::string::npos)
      << r.out;
}

TEST(ModulesCommand, ListsEachModulesFunctionsWithTheirArguments) {
  Result r = run("modules store");
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("Functions (psos call NODE SERVICE FUNCTION [ARGS_JSON]):\n"
                       "  status\n"
                       "      The service's state, parameters in effect and message counters\n"
                       "  query\n"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("      Arguments:\n"
                       "        filter (filter)\n"
                       "            Only messages whose topic matches; left out, all\n"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("  stats\n"), std::string::npos) << r.out;
  r = run("modules function");
  EXPECT_NE(r.out.find("\n  Each function in the Lua table exports (exports.NAME = "
                       "function(args) ... end)\n"),
            std::string::npos)
      << r.out;
  for (const char* module : {"timer", "sysinfo", "switch", "aggregate", "delay", "exec"}) {
    r = run(std::string("modules ") + module);
    const auto functions = r.out.find("Functions (psos call");
    ASSERT_NE(functions, std::string::npos) << module;
    EXPECT_GT(std::count(r.out.begin() + static_cast<std::ptrdiff_t>(functions), r.out.end(), '\n'),
              4)
        << module << " lists only status:\n"
        << r.out.substr(functions);
  }
}

TEST(SchemaCommand, PrintsTheCommittedSchema) {
  const Result r = run("schema");
  EXPECT_EQ(r.status, 0);
  std::ifstream in(std::string(PSOS_SOURCE_DIR) + "/schema/psos-definition.schema.json");
  const std::string committed((std::istreambuf_iterator<char>(in)), {});
  EXPECT_TRUE(r.out == committed) << "run: psos schema > schema/psos-definition.schema.json";
}

}  // namespace
