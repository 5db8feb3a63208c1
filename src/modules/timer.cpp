// `timer`: publishes a message on an interval, on a cron schedule or at micrOS-style times.
#include <algorithm>
#include <functional>
#include <random>
#include <stdexcept>
#include <vector>

#include "modules/builtin.hpp"
#include "modules/context.hpp"
#include "modules/message_template.hpp"
#include "modules/schedule.hpp"

namespace psos::modules {

namespace {

// psos check: a cron expression or an at time that parses by its pattern but cannot work
// (minute 75, a day that never comes).
void validate_timer(const Params& p, const Report& report) {
  const TimePoint now = std::chrono::system_clock::now();
  if (p.has("cron")) {
    try {
      CronSchedule::parse(p.text("cron")).next_after(now);
    } catch (const std::invalid_argument& e) {
      report("cron", e.what());
    }
  }
  if (p.has("at")) {
    const std::vector<std::string> times = p.texts("at");
    if (times.empty()) report("at", "the list is empty: give at least one time");
    for (std::size_t i = 0; i < times.size(); ++i) {
      try {
        AtSchedule::parse(times[i]).next_after(now);
      } catch (const std::invalid_argument& e) {
        report("at/" + std::to_string(i), e.what());
      }
    }
  }
}

}  // namespace

ModuleSpec timer_spec() {
  return {
      .name = "timer",
      .summary = "Publishes a message on an interval or a schedule",
      .description =
          "The payload is a template filled on each tick: {ts} (Unix time in milliseconds), {iso} "
          "(UTC time, ISO 8601) and {count} "
          "(ticks since the service started, from 1).",
      .params =
          {
              pub_param("The topic each message is published to"),
              {.name = "every",
               .type = ParamType::Duration,
               .description = "Publish at this interval, the first time one interval after start",
               .minimum = 1},
              {.name = "cron",
               .type = ParamType::String,
               .description = "Publish on a cron schedule: minute hour day-of-month month "
                              "day-of-week, in local time (\"*/5 * * * *\": every 5 minutes)",
               .pattern = "^[0-9A-Za-z*/,-]+( +[0-9A-Za-z*/,-]+){4}$",
               .pattern_help = "a 5-field cron expression such as \"*/5 * * * *\""},
              {.name = "at",
               .type = ParamType::Strings,
               .description = "Publish at these times, micrOS style WD:H:M:S: weekday (0 is "
                              "Monday, 0-4 a range), hour, minute, second; * matches any "
                              "(\"*:7:30:0\": every day at 7:30)",
               .pattern = "^(\\*|[0-6](-[0-6])?):(\\*|[01]?[0-9]|2[0-3]):(\\*|[0-5]?[0-9]):"
                          "(\\*|[0-5]?[0-9])$",
               .pattern_help = "WD:H:M:S, such as \"*:7:30:0\" or \"0-4:18:0:0\""},
              {.name = "jitter",
               .type = ParamType::Duration,
               .default_value = "0s",
               .description = "Delay each message by a random time up to this long, so that "
                              "many nodes do not publish at the same instant"},
              {.name = "payload",
               .type = ParamType::Template,
               .default_value = "{ts}",
               .description = "The payload: a template with {ts}, {iso} and {count}"},
              qos_param(),
              retain_param(),
          },
      .one_of = {{"every", "cron", "at"}},
      .validate = validate_timer,
      .functions = {{.name = "fire",
                     .description = "Publish the next tick now, as if it were due (it counts as a "
                                    "tick, and the schedule goes on with the one after): "
                                    "{count, topic, payload}"}},
  };
}

namespace {

std::string iso_time(std::chrono::system_clock::time_point t) {
  const std::time_t seconds = std::chrono::system_clock::to_time_t(t);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[32];
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()) % 1000;
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &utc);
  return std::string(text) + "." + (ms.count() < 100 ? (ms.count() < 10 ? "00" : "0") : "") +
         std::to_string(ms.count()) + "Z";
}

// When the tick after the one due at `last` is due. `every` keeps to the interval set at start,
// so that a late tick does not push the next ones back. Cron and at count from the later of
// `last` and now: a wake-up a little early must not fire the same tick twice, and ticks missed
// while the machine slept are not fired in a burst.
using NextTick = std::function<TimePoint(TimePoint last)>;

NextTick next_tick(const Params& p) {
  if (p.has("every")) {
    const auto every = p.duration("every");
    return [every](TimePoint last) { return last + every; };
  }
  try {
    if (p.has("cron")) {
      const CronSchedule cron = CronSchedule::parse(p.text("cron"));
      cron.next_after(std::chrono::system_clock::now());  // says now if it never matches
      return [cron](TimePoint last) {
        return cron.next_after(std::max(last, std::chrono::system_clock::now()));
      };
    }
    std::vector<AtSchedule> at;
    for (const std::string& text : p.texts("at"))
      at.push_back(AtSchedule::parse(text));
    if (at.empty()) throw std::invalid_argument("the list is empty");
    const TimePoint probe = std::chrono::system_clock::now();
    for (const AtSchedule& a : at)
      a.next_after(probe);  // says now if one never matches
    return [at](TimePoint last) {
      TimePoint first = TimePoint::max();
      const TimePoint from = std::max(last, std::chrono::system_clock::now());
      for (const AtSchedule& a : at)
        first = std::min(first, a.next_after(from));
      return first;
    };
  } catch (const std::invalid_argument& e) {
    throw std::runtime_error(std::string("timer: parameter \"") + (p.has("cron") ? "cron" : "at") +
                             "\": " + e.what());
  }
}

}  // namespace

boost::asio::awaitable<void> run_timer(Context& ctx) {
  const Params& p = ctx.params();
  const NextTick following = next_tick(p);
  const auto jitter = p.duration("jitter");
  const std::string& pub = p.text("pub");
  const std::string& payload = p.text("payload");
  const auto qos = static_cast<mqtt::QoS>(p.integer("qos"));
  const bool retain = p.boolean("retain");
  std::mt19937_64 random(std::random_device{}());
  std::uint64_t count = 0;
  auto next = following(std::chrono::system_clock::now());

  // Publishes the tick due at `next` and moves on to the one after; returns its payload.
  const auto tick = [&] {
    next = following(next);
    const auto now = std::chrono::system_clock::now();
    ++count;
    const auto names = [&](std::string_view name) -> std::optional<std::string> {
      if (name == "ts")
        return std::to_string(
            std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count());
      if (name == "iso") return iso_time(now);
      if (name == "count") return std::to_string(count);
      return std::nullopt;
    };
    std::string missing;
    std::optional<std::string> text = fill_template(payload, names, &missing);
    if (!text)
      throw std::runtime_error("payload template names {" + missing +
                               "}, which timer does not know");
    ctx.publish(pub, *text, qos, retain);
    return std::move(*text);
  };
  ctx.provide("fire", [&](const nlohmann::json&) {
    std::string text = tick();
    return nlohmann::json{{"count", count}, {"topic", pub}, {"payload", std::move(text)}};
  });

  while (true) {
    const auto due = next;
    auto at = due;
    if (jitter.count() > 0)
      at +=
          std::chrono::milliseconds(std::uniform_int_distribution<long>(0, jitter.count())(random));
    co_await ctx.sleep_until(at);
    // fire() took this tick meanwhile: wait for the one it left due.
    if (next != due) continue;
    tick();
  }
}

Module timer_module() {
  return {.spec = timer_spec(), .run = run_timer};
}

}  // namespace psos::modules
