// Cron and WD:H:M:S schedules against fixed times. The process runs in UTC so that "local time"
// is the same on every machine.
#include "modules/schedule.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <ctime>
#include <stdexcept>
#include <string>

namespace psos::modules {
namespace {

class ScheduleTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    setenv("TZ", "UTC", 1);
    tzset();
  }

  // "2026-11-22 04:30:15" (UTC) as a time point.
  static TimePoint at(const std::string& text) {
    std::tm t{};
    if (strptime(text.c_str(), "%Y-%m-%d %H:%M:%S", &t) == nullptr)
      throw std::invalid_argument("bad test time " + text);
    return std::chrono::system_clock::from_time_t(timegm(&t));
  }

  static std::string show(TimePoint t) {
    const std::time_t s = std::chrono::system_clock::to_time_t(t);
    std::tm utc{};
    gmtime_r(&s, &utc);
    char text[32];
    std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S", &utc);
    return text;
  }

  static std::string cron(const std::string& expression, const std::string& from) {
    return show(CronSchedule::parse(expression).next_after(at(from)));
  }
  static std::string when(const std::string& schedule, const std::string& from) {
    return show(AtSchedule::parse(schedule).next_after(at(from)));
  }
};

// 2026-11-22 is a Sunday.
TEST_F(ScheduleTest, CronEveryMinuteIsTheNextWholeMinute) {
  EXPECT_EQ(cron("* * * * *", "2026-11-22 04:30:15"), "2026-11-22 04:31:00");
  EXPECT_EQ(cron("* * * * *", "2026-11-22 04:30:00"), "2026-11-22 04:31:00");
}

TEST_F(ScheduleTest, CronStepsRangesAndLists) {
  EXPECT_EQ(cron("*/15 * * * *", "2026-11-22 04:30:00"), "2026-11-22 04:45:00");
  EXPECT_EQ(cron("*/15 * * * *", "2026-11-22 04:50:00"), "2026-11-22 05:00:00");
  EXPECT_EQ(cron("0 8-18/2 * * *", "2026-11-22 13:00:00"), "2026-11-22 14:00:00");
  EXPECT_EQ(cron("0 8-18/2 * * *", "2026-11-22 18:00:00"), "2026-11-23 08:00:00");
  EXPECT_EQ(cron("5,10 3 * * *", "2026-11-22 03:07:00"), "2026-11-22 03:10:00");
  EXPECT_EQ(cron("30 7 * * *", "2026-11-22 07:30:00"), "2026-11-23 07:30:00");
}

TEST_F(ScheduleTest, CronCarriesIntoTheNextMonthAndYear) {
  EXPECT_EQ(cron("0 0 1 * *", "2026-11-22 04:30:00"), "2026-12-01 00:00:00");
  EXPECT_EQ(cron("0 0 1 1 *", "2026-11-22 04:30:00"), "2027-01-01 00:00:00");
  EXPECT_EQ(cron("0 12 29 feb *", "2026-11-22 04:30:00"), "2028-02-29 12:00:00");
}

TEST_F(ScheduleTest, CronWeekdaysByNumberAndName) {
  EXPECT_EQ(cron("0 9 * * 1-5", "2026-11-22 04:30:00"), "2026-11-23 09:00:00");  // Monday
  EXPECT_EQ(cron("0 9 * * sat", "2026-11-22 04:30:00"), "2026-11-28 09:00:00");
  EXPECT_EQ(cron("0 9 * * 7", "2026-11-22 04:30:00"), "2026-11-22 09:00:00");  // 7 is Sunday
}

TEST_F(ScheduleTest, CronWithBothDayFieldsMatchesEither) {
  // The 1st of the month or a Wednesday: Wednesday 25 November comes first.
  EXPECT_EQ(cron("0 0 1 * wed", "2026-11-22 04:30:00"), "2026-11-25 00:00:00");
}

TEST_F(ScheduleTest, CronErrorsNameTheField) {
  const auto message = [](const std::string& expression) {
    try {
      CronSchedule::parse(expression);
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(message("60 * * * *"), "cron minute field \"60\": \"60\" is outside 0-59");
  EXPECT_EQ(message("* * * *"),
            "cron \"* * * *\" has 4 fields; it needs 5: minute hour day-of-month month "
            "day-of-week");
  EXPECT_EQ(message("* * * foo *"), "cron month field \"foo\": \"foo\" is not a number");
  EXPECT_EQ(message("*/0 * * * *"), "cron minute field \"*/0\": the step must be at least 1");
  EXPECT_THROW(CronSchedule::parse("0 0 31 2 *").next_after(at("2026-11-22 04:30:00")),
               std::invalid_argument);
}

TEST_F(ScheduleTest, AtEveryDayAtATime) {
  EXPECT_EQ(when("*:7:30:0", "2026-11-22 04:30:15"), "2026-11-22 07:30:00");
  EXPECT_EQ(when("*:7:30:0", "2026-11-22 07:30:00"), "2026-11-23 07:30:00");
}

TEST_F(ScheduleTest, AtWeekdaysCountFromMonday) {
  // 0-4 is Monday to Friday: from Sunday the next is Monday.
  EXPECT_EQ(when("0-4:18:0:0", "2026-11-22 19:00:00"), "2026-11-23 18:00:00");
  EXPECT_EQ(when("6:18:0:0", "2026-11-22 17:00:00"), "2026-11-22 18:00:00");  // Sunday
  EXPECT_EQ(when("6:18:0:0", "2026-11-22 18:00:01"), "2026-11-29 18:00:00");
}

TEST_F(ScheduleTest, AtWildcardsFireOften) {
  EXPECT_EQ(when("*:*:*:0", "2026-11-22 04:30:15"), "2026-11-22 04:31:00");
  EXPECT_EQ(when("*:*:*:*", "2026-11-22 04:30:15"), "2026-11-22 04:30:16");
  EXPECT_EQ(when("*:23:59:59", "2026-12-31 23:59:59"), "2027-01-01 23:59:59");
}

TEST_F(ScheduleTest, AtErrorsSayWhatIsWrong) {
  EXPECT_THROW(AtSchedule::parse("7:30:0"), std::invalid_argument);
  try {
    AtSchedule::parse("*:24:0:0");
    FAIL() << "no error";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "at \"*:24:0:0\": hour field \"24\": \"24\" is outside 0-23");
  }
}

}  // namespace
}  // namespace psos::modules
