// The timer's schedules: 5-field cron and micrOS-style WD:H:M:S times, each answering "when is
// the next tick after t?" in local time. Pure functions, so they are tested with fixed times.
#pragma once

#include <bitset>
#include <chrono>
#include <string_view>

namespace psos::modules {

using TimePoint = std::chrono::system_clock::time_point;

// "minute hour day-of-month month day-of-week": each field *, a number, a range a-b, a list
// a,b,c, with an optional step (*/15, 8-18/2); months and weekdays also by English name (jan,
// mon); weekday 0 and 7 are Sunday. As in classic cron, when both day fields are restricted a
// day matches either of them.
class CronSchedule {
 public:
  // Throws std::invalid_argument naming the field that is wrong.
  static CronSchedule parse(std::string_view text);
  // The first whole minute strictly after `t` that matches.
  TimePoint next_after(TimePoint t) const;

 private:
  std::bitset<60> minutes_;
  std::bitset<24> hours_;
  std::bitset<32> days_;     // 1..31
  std::bitset<13> months_;   // 1..12
  std::bitset<7> weekdays_;  // 0 = Sunday
  bool any_day_ = false;
  bool any_weekday_ = false;
};

// "WD:H:M:S": weekday (0 is Monday, or a range 0-4), hour, minute and second, each * for any.
class AtSchedule {
 public:
  // Throws std::invalid_argument saying what is wrong.
  static AtSchedule parse(std::string_view text);
  // The first whole second strictly after `t` that matches.
  TimePoint next_after(TimePoint t) const;

 private:
  std::bitset<7> weekdays_;  // 0 = Monday
  std::bitset<24> hours_;
  std::bitset<60> minutes_;
  std::bitset<60> seconds_;
};

}  // namespace psos::modules
