// The crash log without a node: a black box written and read back, the records made from it,
// what the log keeps, and when a node starts in safe mode.
#include "runtime/crash_log.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "runtime/black_box.hpp"
#include "runtime/safe_mode.hpp"

namespace psos::runtime {
namespace {

class CrashLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("psos-runtime-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  BlackBoxContents read_back(const std::filesystem::path& path) const {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream bytes;
    bytes << in.rdbuf();
    const auto contents = read_black_box(bytes.str());
    EXPECT_TRUE(contents.has_value());
    return contents.value_or(BlackBoxContents{});
  }

  std::filesystem::path dir_;
};

CrashRecord crash(std::int64_t time_ms, std::uint64_t boot, bool good = false) {
  CrashRecord r;
  r.time_ms = time_ms;
  r.started_ms = time_ms - 2000;
  r.boot = boot;
  r.cause = "signal";
  r.signal = SIGSEGV;
  r.service = "tick";
  r.good_boot = good;
  return r;
}

TEST_F(CrashLogTest, TheBlackBoxKeepsTheLastHundredLinesAndWhatTheRunSet) {
  const auto path = dir_ / "blackbox";
  {
    BlackBox box(path, 0);
    box.set_boot(7);
    box.set_revision(12);
    for (int i = 1; i <= 130; ++i)
      box.add_line("line " + std::to_string(i));
    box.add_line(std::string(1000, 'x'));  // cut to a line's size
  }
  const BlackBoxContents c = read_back(path);
  EXPECT_EQ(c.end, RunEnd::Running);
  EXPECT_EQ(c.boot, 7u);
  EXPECT_EQ(c.revision, 12u);
  EXPECT_EQ(c.pid, ::getpid());
  ASSERT_EQ(c.log.size(), kBlackBoxLogLines);
  EXPECT_EQ(c.log.front(), "line 32");
  EXPECT_EQ(c.log[98], "line 130");
  EXPECT_EQ(c.log.back(), std::string(kBlackBoxLineBytes - 1, 'x'));
  EXPECT_EQ(read_black_box("not a black box"), std::nullopt);
}

TEST_F(CrashLogTest, ARunIsACrashUnlessItEndedCleanlyAndItsParentSawNothingElse) {
  const auto path = dir_ / "blackbox";
  BlackBox box(path, 3);
  box.mark_clean();
  EXPECT_EQ(crash_from_black_box(read_back(path), std::nullopt, 1), std::nullopt);
  // Marked clean, but the parent saw it killed afterwards: SIGKILL is seen only there.
  const ProcessExit killed{.signal = SIGKILL, .code = 0, .time_ms = 5000};
  const auto record = crash_from_black_box(read_back(path), killed, 1);
  ASSERT_TRUE(record.has_value());
  EXPECT_EQ(record->cause, "signal");
  EXPECT_EQ(record->signal, SIGKILL);
  EXPECT_EQ(record->time_ms, 5000);
  EXPECT_EQ(record->revision, 0u);  // the file on the command line
  EXPECT_EQ(to_json(*record)["revision"], nlohmann::json());
}

TEST_F(CrashLogTest, AStallIsAWatchdogCrashAndARunNobodySawEndIsUnknown) {
  const auto path = dir_ / "blackbox";
  BlackBox box(path, 4);
  const auto unknown = crash_from_black_box(read_back(path), std::nullopt, 777);
  ASSERT_TRUE(unknown.has_value());
  EXPECT_EQ(unknown->cause, "unknown");
  EXPECT_EQ(unknown->time_ms, 777);  // the box's last write: as close to the death as known
  box.mark_stalled(1500);
  box.mark_good(1);
  const ProcessExit aborted{.signal = SIGABRT, .code = 0, .time_ms = 9000};
  const auto watchdog = crash_from_black_box(read_back(path), aborted, 1);
  ASSERT_TRUE(watchdog.has_value());
  EXPECT_EQ(watchdog->cause, "watchdog");
  EXPECT_EQ(watchdog->stalled_ms, 1500);
  EXPECT_TRUE(watchdog->good_boot);
  EXPECT_EQ(describe(*watchdog).rfind("watchdog: the event loop stalled for 1500 ms", 0), 0u);
}

TEST_F(CrashLogTest, KeepsTheNewestTenNewestFirstAndReadsThemBackWhole) {
  CrashLog log(dir_);
  for (std::uint64_t boot = 1; boot <= 12; ++boot) {
    CrashRecord r = crash(1'000'000 + static_cast<std::int64_t>(boot) * 1000, boot);
    r.revision = boot;
    r.trace = {"frame " + std::to_string(boot)};
    r.log = {"[info] before " + std::to_string(boot)};
    log.add(r);
  }
  const std::vector<CrashRecord> records = log.records();
  ASSERT_EQ(records.size(), kKeptCrashes);
  EXPECT_EQ(records.front().boot, 12u);
  EXPECT_EQ(records.back().boot, 3u);
  EXPECT_EQ(to_json(records.front()), to_json([] {
              CrashRecord r = crash(1'012'000, 12);
              r.revision = 12;
              r.trace = {"frame 12"};
              r.log = {"[info] before 12"};
              return r;
            }()));
  std::size_t files = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator(dir_ / "crashes"))
    ++files;
  EXPECT_EQ(files, kKeptCrashes);
  // A file that is not a record is passed over, not fatal.
  std::ofstream(dir_ / "crashes" / "9999999999999-1.json") << "{\"v\": 1, \"boot\": -1}";
  EXPECT_EQ(log.records().size(), kKeptCrashes);
}

TEST_F(CrashLogTest, SafeModeAfterEnoughCrashesOfBootsNotYetGoodWithinTheWindow) {
  const system::NodeDefinition::SafeMode settings;  // 3 within 10 min
  const std::int64_t now = 10'000'000;
  const std::vector<CrashRecord> three = {crash(now - 1000, 9), crash(now - 2000, 8),
                                          crash(now - 3000, 7)};
  const std::string reason = safe_mode_reason(three, now, 0, settings);
  EXPECT_EQ(reason.rfind("3 crashes within 10 min (the last: SIGSEGV in service tick after 2 s "
                         "(boot 9))",
                         0),
            0u)
      << reason;
  // A good boot's crash does not count; nor one before the window; nor one before --normal.
  EXPECT_EQ(safe_mode_reason({three[0], three[1], crash(now - 3000, 7, true)}, now, 0, settings),
            "");
  EXPECT_EQ(safe_mode_reason({three[0], three[1], crash(now - 700'000, 7)}, now, 0, settings), "");
  EXPECT_EQ(safe_mode_reason(three, now, now - 2500, settings), "");
  system::NodeDefinition::SafeMode two = settings;
  two.crashes = 2;
  EXPECT_NE(safe_mode_reason(three, now, now - 2500, two), "");
}

TEST_F(CrashLogTest, LeavingSafeModeIsRememberedInTheStateDirectory) {
  EXPECT_EQ(normal_since(dir_), 0);
  const auto before = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  leave_safe_mode_on_next_start(dir_ / "new");
  EXPECT_GE(normal_since(dir_ / "new"), before);
}

TEST_F(CrashLogTest, ProcessExitsTravelAsText) {
  const ProcessExit exit{.signal = 0, .code = 3, .time_ms = 42};
  EXPECT_EQ(to_string(exit), "exit 3 42");
  const auto back = parse_process_exit("signal 11 1765000000000");
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->signal, SIGSEGV);
  EXPECT_EQ(back->time_ms, 1765000000000);
  EXPECT_EQ(parse_process_exit("signal 0 1"), std::nullopt);
  EXPECT_EQ(parse_process_exit("signal 99 1"), std::nullopt);
  EXPECT_EQ(parse_process_exit("exit 256 1"), std::nullopt);
  EXPECT_EQ(parse_process_exit("killed 9 1"), std::nullopt);
}

}  // namespace
}  // namespace psos::runtime
