// Cron and micrOS-style schedules (see schedule.hpp).
#include "modules/schedule.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <ctime>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

namespace psos::modules {

namespace {

std::vector<std::string_view> split(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  while (true) {
    const std::size_t end = text.find(separator, start);
    parts.push_back(text.substr(start, end - start));
    if (end == std::string_view::npos) return parts;
    start = end + 1;
  }
}

// A cron field's value: a number or, for months and weekdays, a three-letter English name.
int field_value(std::string_view text, const std::array<std::string_view, 13>* names, int first) {
  int value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error == std::errc() && end == text.data() + text.size()) return value;
  if (names != nullptr && text.size() == 3) {
    for (std::size_t i = 0; i < names->size(); ++i) {
      const std::string_view name = (*names)[i];
      if (!name.empty() && std::equal(name.begin(), name.end(), text.begin(),
                                      [](char a, char b) { return a == (b | 0x20); }))
        return first + static_cast<int>(i);
    }
  }
  throw std::invalid_argument("\"" + std::string(text) + "\" is not a number");
}

// Sets the bits of one cron field ("*/15", "1-5", "mon,wed") within lo..hi.
template <std::size_t N>
void parse_field(std::string_view field, const char* what, int lo, int hi,
                 const std::array<std::string_view, 13>* names, int first, std::bitset<N>& bits,
                 bool& any) {
  any = field == "*";
  try {
    for (const std::string_view item : split(field, ',')) {
      std::string_view range = item;
      int step = 1;
      if (const auto slash = item.find('/'); slash != std::string_view::npos) {
        range = item.substr(0, slash);
        step = field_value(item.substr(slash + 1), nullptr, 0);
        if (step < 1) throw std::invalid_argument("the step must be at least 1");
      }
      int from = lo;
      int to = hi;
      if (range != "*") {
        const auto dash = range.find('-');
        from = field_value(range.substr(0, dash), names, first);
        to = dash == std::string_view::npos ? (item.find('/') != std::string_view::npos ? hi : from)
                                            : field_value(range.substr(dash + 1), names, first);
      }
      if (from < lo || to > hi || from > to)
        throw std::invalid_argument("\"" + std::string(item) + "\" is outside " +
                                    std::to_string(lo) + "-" + std::to_string(hi));
      for (int v = from; v <= to; v += step)
        bits.set(static_cast<std::size_t>(v));
    }
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(std::string(what) + " field \"" + std::string(field) +
                                "\": " + e.what());
  }
}

constexpr std::array<std::string_view, 13> kMonths = {
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec", ""};
constexpr std::array<std::string_view, 13> kWeekdays = {
    "sun", "mon", "tue", "wed", "thu", "fri", "sat", "", "", "", "", "", ""};

std::tm local_time(TimePoint t) {
  const std::time_t seconds = std::chrono::system_clock::to_time_t(t);
  std::tm local{};
  localtime_r(&seconds, &local);
  return local;
}

// Midnight of `day` days after the date of `start`, normalized (month and year carried).
std::tm day_after(const std::tm& start, int day) {
  std::tm d{};
  d.tm_year = start.tm_year;
  d.tm_mon = start.tm_mon;
  d.tm_mday = start.tm_mday + day;
  d.tm_hour = 12;  // noon: normalizing never crosses a date on a DST change
  d.tm_isdst = -1;
  std::mktime(&d);
  return d;
}

TimePoint at_local(std::tm day, int hour, int minute, int second) {
  day.tm_hour = hour;
  day.tm_min = minute;
  day.tm_sec = second;
  day.tm_isdst = -1;
  return std::chrono::system_clock::from_time_t(std::mktime(&day));
}

}  // namespace

CronSchedule CronSchedule::parse(std::string_view text) {
  std::vector<std::string_view> fields;
  for (const std::string_view f : split(text, ' '))
    if (!f.empty()) fields.push_back(f);
  if (fields.size() != 5)
    throw std::invalid_argument("cron \"" + std::string(text) + "\" has " +
                                std::to_string(fields.size()) +
                                " fields; it needs 5: minute hour day-of-month month day-of-week");
  CronSchedule s;
  bool unused = false;
  parse_field(fields[0], "cron minute", 0, 59, nullptr, 0, s.minutes_, unused);
  parse_field(fields[1], "cron hour", 0, 23, nullptr, 0, s.hours_, unused);
  parse_field(fields[2], "cron day-of-month", 1, 31, nullptr, 0, s.days_, s.any_day_);
  parse_field(fields[3], "cron month", 1, 12, &kMonths, 1, s.months_, unused);
  std::bitset<8> weekdays;
  parse_field(fields[4], "cron day-of-week", 0, 7, &kWeekdays, 0, weekdays, s.any_weekday_);
  for (std::size_t d = 0; d < 7; ++d)
    s.weekdays_[d] = weekdays[d];
  if (weekdays[7]) s.weekdays_.set(0);
  return s;
}

TimePoint CronSchedule::next_after(TimePoint t) const {
  const std::tm now = local_time(t);
  // Eight years cover every date a valid expression can name (29 February included).
  for (int day = 0; day < 366 * 8; ++day) {
    const std::tm d = day_after(now, day);
    if (!months_[static_cast<std::size_t>(d.tm_mon + 1)]) continue;
    const bool day_ok = days_[static_cast<std::size_t>(d.tm_mday)];
    const bool weekday_ok = weekdays_[static_cast<std::size_t>(d.tm_wday)];
    if (!(any_day_ || any_weekday_ ? day_ok && weekday_ok : day_ok || weekday_ok)) continue;
    for (int h = 0; h < 24; ++h) {
      if (!hours_[static_cast<std::size_t>(h)]) continue;
      for (int m = 0; m < 60; ++m) {
        if (!minutes_[static_cast<std::size_t>(m)]) continue;
        if (day == 0 && std::make_tuple(h, m) <= std::make_tuple(now.tm_hour, now.tm_min)) continue;
        const TimePoint when = at_local(d, h, m, 0);
        if (when > t) return when;
      }
    }
  }
  throw std::invalid_argument("the cron schedule names a date that never comes");
}

AtSchedule AtSchedule::parse(std::string_view text) {
  const auto fields = split(text, ':');
  if (fields.size() != 4)
    throw std::invalid_argument("at \"" + std::string(text) +
                                "\" needs 4 fields WD:H:M:S, such as \"*:7:30:0\"");
  AtSchedule s;
  bool unused = false;
  try {
    parse_field(fields[0], "weekday", 0, 6, nullptr, 0, s.weekdays_, unused);
    parse_field(fields[1], "hour", 0, 23, nullptr, 0, s.hours_, unused);
    parse_field(fields[2], "minute", 0, 59, nullptr, 0, s.minutes_, unused);
    parse_field(fields[3], "second", 0, 59, nullptr, 0, s.seconds_, unused);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument("at \"" + std::string(text) + "\": " + e.what());
  }
  return s;
}

TimePoint AtSchedule::next_after(TimePoint t) const {
  const std::tm now = local_time(t);
  for (int day = 0; day < 8; ++day) {
    const std::tm d = day_after(now, day);
    if (!weekdays_[static_cast<std::size_t>((d.tm_wday + 6) % 7)]) continue;
    for (int h = 0; h < 24; ++h) {
      if (!hours_[static_cast<std::size_t>(h)]) continue;
      for (int m = 0; m < 60; ++m) {
        if (!minutes_[static_cast<std::size_t>(m)]) continue;
        for (int s = 0; s < 60; ++s) {
          if (!seconds_[static_cast<std::size_t>(s)]) continue;
          // Same day and earlier than now: skip without asking mktime.
          if (day == 0 &&
              std::make_tuple(h, m, s) <= std::make_tuple(now.tm_hour, now.tm_min, now.tm_sec))
            continue;
          const TimePoint when = at_local(d, h, m, s);
          if (when > t) return when;
        }
      }
    }
  }
  throw std::invalid_argument("the at schedule never matches");
}

}  // namespace psos::modules
