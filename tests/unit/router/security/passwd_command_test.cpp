// Tests of `psos passwd`, run as the real binary: batch mode, standard input, a terminal (through
// a pseudo-terminal, to see the double prompt without echo), deletion, creation and bad usage.
#include <gtest/gtest.h>
#include <poll.h>
#include <pty.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "router/security/password_file.hpp"

namespace psos::router {
namespace {

namespace fs = std::filesystem;

const std::string kPsos = std::string(PSOS_BINARY_DIR) + "/src/cli/psos";
const std::string kFast = " -I 100000";  // the minimum, to keep the tests quick

struct Result {
  int status;
  std::string out;  // stdout and stderr together
};

std::string quoted(const std::string& s) {
  return "'" + s + "'";
}

// Runs `psos ARGS` through the shell; `input` (when given) is piped to its standard input.
Result run(const std::string& args, const std::string* input = nullptr) {
  std::string command = kPsos + " " + args + " 2>&1";
  if (input) command = "printf '%s' " + quoted(*input) + " | " + command;
  FILE* pipe = ::popen(command.c_str(), "r");
  std::string out;
  std::array<char, 256> buffer{};
  while (pipe && std::fgets(buffer.data(), buffer.size(), pipe))
    out += buffer.data();
  const int status = pipe ? ::pclose(pipe) : -1;
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

class PasswdCommand : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "psos-passwd-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    file_ = (dir_ / "passwd").string();
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
  std::string file_;
};

TEST_F(PasswdCommand, BatchModeCreatesTheFileWithMode0600) {
  const Result r = run("passwd -b" + kFast + " " + file_ + " alice 's3cret pass'");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(fs::status(file_).permissions(), fs::perms::owner_read | fs::perms::owner_write);
  const PasswordFile file = PasswordFile::load(file_);
  EXPECT_TRUE(file.verify("alice", "s3cret pass"));
  EXPECT_FALSE(file.verify("alice", "s3cret"));
}

TEST_F(PasswdCommand, UsesTheDefaultIterations) {
  ASSERT_EQ(run("passwd -b " + file_ + " alice pw").status, 0);
  std::ifstream in(file_);
  std::string line;
  std::getline(in, line);
  EXPECT_TRUE(line.starts_with("alice:$pbkdf2-sha512$210000$")) << line;
}

TEST_F(PasswdCommand, ReadsOneLineFromStandardInput) {
  const std::string input = "from stdin\nignored second line\n";
  const Result r = run("passwd" + kFast + " " + file_ + " bob", &input);
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_TRUE(PasswordFile::load(file_).verify("bob", "from stdin"));
}

TEST_F(PasswdCommand, UpdatesAUserAndKeepsTheOthers) {
  ASSERT_EQ(run("passwd -b" + kFast + " " + file_ + " alice one").status, 0);
  ASSERT_EQ(run("passwd -b" + kFast + " " + file_ + " bob two").status, 0);
  ASSERT_EQ(run("passwd -b" + kFast + " " + file_ + " alice three").status, 0);
  const PasswordFile file = PasswordFile::load(file_);
  EXPECT_EQ(file.size(), 2u);
  EXPECT_TRUE(file.verify("alice", "three"));
  EXPECT_TRUE(file.verify("bob", "two"));
}

TEST_F(PasswdCommand, CreateReplacesAnExistingFile) {
  ASSERT_EQ(run("passwd -b" + kFast + " " + file_ + " alice one").status, 0);
  ASSERT_EQ(run("passwd -c -b" + kFast + " " + file_ + " bob two").status, 0);
  const PasswordFile file = PasswordFile::load(file_);
  EXPECT_FALSE(file.contains("alice"));
  EXPECT_TRUE(file.verify("bob", "two"));
}

TEST_F(PasswdCommand, DeletesAUser) {
  ASSERT_EQ(run("passwd -b" + kFast + " " + file_ + " alice one").status, 0);
  ASSERT_EQ(run("passwd -b" + kFast + " " + file_ + " bob two").status, 0);
  const Result r = run("passwd -D " + file_ + " alice");
  ASSERT_EQ(r.status, 0) << r.out;
  const PasswordFile file = PasswordFile::load(file_);
  EXPECT_FALSE(file.contains("alice"));
  EXPECT_TRUE(file.contains("bob"));

  const Result again = run("passwd -D " + file_ + " alice");
  EXPECT_EQ(again.status, 1);
  EXPECT_EQ(again.out, "psos passwd: user 'alice' is not in " + file_ + "\n");
  const Result missing = run("passwd -D " + (dir_ / "none").string() + " alice");
  EXPECT_EQ(missing.status, 1);
  EXPECT_EQ(missing.out, "psos passwd: " + (dir_ / "none").string() + " does not exist\n");
}

TEST_F(PasswdCommand, BadUsageExitsWith1) {
  EXPECT_EQ(run("passwd").status, 1);
  EXPECT_EQ(run("passwd " + file_).status, 1);
  EXPECT_EQ(run("passwd --no-such-flag " + file_ + " alice").status, 1);
  EXPECT_EQ(run("passwd -I 99999 -b " + file_ + " alice pw").status, 1);
  const Result no_password = run("passwd -b " + file_ + " alice");
  EXPECT_EQ(no_password.status, 1);
  EXPECT_EQ(no_password.out, "psos passwd: -b needs the password as third argument\n");
  const Result unasked = run("passwd " + file_ + " alice pw");
  EXPECT_EQ(unasked.status, 1);
  EXPECT_NE(unasked.out.find("needs -b"), std::string::npos) << unasked.out;
  EXPECT_EQ(run("passwd -c -D " + file_ + " alice").status, 1);
  EXPECT_EQ(run("passwd -D -b " + file_ + " alice pw").status, 1);
  const Result bad_user = run("passwd -b " + file_ + " a:b pw");
  EXPECT_EQ(bad_user.status, 1);
  EXPECT_EQ(bad_user.out, "psos passwd: user name contains ':': 'a:b'\n");
  const std::string empty;
  const Result no_input = run("passwd " + file_ + " alice", &empty);
  EXPECT_EQ(no_input.status, 1);
  EXPECT_EQ(no_input.out, "psos passwd: no password on standard input (expected one line)\n");
  const std::string empty_line = "\n";
  const Result empty_password = run("passwd " + file_ + " alice", &empty_line);
  EXPECT_EQ(empty_password.status, 1);
  EXPECT_EQ(empty_password.out, "psos passwd: password is empty\n");
  EXPECT_FALSE(fs::exists(file_));  // nothing was written by any of these
}

TEST_F(PasswdCommand, ACorruptFileIsLeftAlone) {
  std::ofstream(file_) << "# ok\nnot a user line\n";
  const Result r = run("passwd -b" + kFast + " " + file_ + " alice pw");
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.out, "psos passwd: " + file_ +
                       ":2: expected USER:$pbkdf2-sha512$ITERATIONS$SALT$HASH (no ':' found)\n"
                       "psos passwd: nothing changed: correct " +
                       file_ + " first\n");
  std::ifstream in(file_);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), "# ok\nnot a user line\n");
}

TEST_F(PasswdCommand, HelpDocumentsIt) {
  const Result r = run("help passwd");
  EXPECT_EQ(r.status, 0);
  for (const char* text : {"FILE", "USER", "-b", "-c", "-D", "PBKDF2-HMAC-SHA512", "0600"})
    EXPECT_NE(r.out.find(text), std::string::npos) << text << " missing from:\n" << r.out;
}

// Runs `psos ARGS` on a pseudo-terminal, answering each prompt with the next of `answers`;
// returns the exit status and everything the terminal showed.
Result run_on_terminal(const std::vector<std::string>& args,
                       const std::vector<std::string>& answers) {
  int master = -1;
  const pid_t pid = ::forkpty(&master, nullptr, nullptr, nullptr);
  if (pid == 0) {
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(kPsos.c_str()));
    for (const std::string& arg : args)
      argv.push_back(const_cast<char*>(arg.c_str()));
    argv.push_back(nullptr);
    ::execv(kPsos.c_str(), argv.data());
    ::_exit(127);
  }
  std::string shown;
  std::size_t answered = 0;
  std::size_t prompts_seen = 0;
  while (true) {
    pollfd fd{master, POLLIN, 0};
    if (::poll(&fd, 1, 20'000) <= 0) break;
    char buffer[256];
    const ssize_t n = ::read(master, buffer, sizeof buffer);
    if (n <= 0) break;  // EIO once the child has exited
    shown.append(buffer, static_cast<std::size_t>(n));
    std::size_t prompts = 0;
    for (std::size_t at = shown.find("assword: "); at != std::string::npos;
         at = shown.find("assword: ", at + 1))
      ++prompts;
    while (prompts_seen < prompts && answered < answers.size()) {
      ++prompts_seen;
      const std::string line = answers[answered++] + "\n";
      EXPECT_EQ(::write(master, line.data(), line.size()), static_cast<ssize_t>(line.size()));
    }
  }
  ::close(master);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, shown};
}

TEST_F(PasswdCommand, OnATerminalAsksTwiceWithoutEcho) {
  const Result r =
      run_on_terminal({"passwd", "-I", "100000", file_, "carol"}, {"tty secret", "tty secret"});
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("Password: "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Reenter password: "), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("tty secret"), std::string::npos) << "echoed: " << r.out;
  EXPECT_TRUE(PasswordFile::load(file_).verify("carol", "tty secret"));
}

TEST_F(PasswdCommand, OnATerminalMismatchedPasswordsChangeNothing) {
  const Result r = run_on_terminal({"passwd", file_, "carol"}, {"one", "two"});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("psos passwd: the passwords do not match; nothing changed"),
            std::string::npos)
      << r.out;
  EXPECT_FALSE(fs::exists(file_));
}

}  // namespace
}  // namespace psos::router
