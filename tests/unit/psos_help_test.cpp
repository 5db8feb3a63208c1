// The psos binary answers --version and help (it is the entry point every later command hangs on).
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <string>

namespace {

struct Result {
  int status;
  std::string out;
};

Result run(const std::string& args) {
  const std::string cmd = std::string(PSOS_BINARY_DIR) + "/src/cli/psos " + args + " 2>&1";
  FILE* pipe = popen(cmd.c_str(), "r");
  std::string out;
  std::array<char, 256> buf{};
  while (pipe && fgets(buf.data(), buf.size(), pipe))
    out += buf.data();
  const int status = pipe ? pclose(pipe) : -1;
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

TEST(PsosCommand, PrintsVersion) {
  const Result r = run("--version");
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("psos 0."), std::string::npos) << r.out;
}

TEST(PsosCommand, HelpListsCommands) {
  const Result r = run("help");
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("help"), std::string::npos) << r.out;
}

TEST(PsosCommand, UnknownHelpTopicFails) {
  const Result r = run("help no-such-command");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.out.find("unknown command 'no-such-command'"), std::string::npos) << r.out;
}

}  // namespace
