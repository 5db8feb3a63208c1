// `timer`: publishes a message on an interval, on a cron schedule or at micrOS-style times.
#include "modules/builtin.hpp"
#include <random>
#include "modules/message_template.hpp"
#include "modules/context.hpp"

namespace psos::modules {

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
  };
}

namespace {

std::string iso_time(std::chrono::system_clock::time_point t) {
  const std::time_t seconds = std::chrono::system_clock::to_time_t(t);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[32];
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()) % 1000;
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &utc);
  return std::string(text) + "." + (ms.count() < 100 ? (ms.count() < 10 ? "00" : "0") : "") +
         std::to_string(ms.count()) + "Z";
}

}  // namespace

boost::asio::awaitable<void> run_timer(Context& ctx) {
  const Params& p = ctx.params();
  if (!p.has("every"))
    throw std::runtime_error("this version of timer runs on \"every\" only (cron and at: not yet)");
  const auto every = p.duration("every");
  const auto jitter = p.duration("jitter");
  const std::string& pub = p.text("pub");
  const std::string& payload = p.text("payload");
  const auto qos = static_cast<mqtt::QoS>(p.integer("qos"));
  const bool retain = p.boolean("retain");
  std::mt19937_64 random(std::random_device{}());
  std::uint64_t count = 0;
  // Ticks keep to the schedule set at start: a late tick does not push the next ones back.
  auto next = std::chrono::system_clock::now() + every;
  while (true) {
    auto at = next;
    if (jitter.count() > 0)
      at += std::chrono::milliseconds(std::uniform_int_distribution<long>(0, jitter.count())(random));
    co_await ctx.sleep_until(at);
    next += every;
    const auto now = std::chrono::system_clock::now();
    ++count;
    const auto names = [&](std::string_view name) -> std::optional<std::string> {
      if (name == "ts")
        return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                  now.time_since_epoch())
                                  .count());
      if (name == "iso") return iso_time(now);
      if (name == "count") return std::to_string(count);
      return std::nullopt;
    };
    std::string missing;
    if (const auto text = fill_template(payload, names, &missing)) {
      ctx.publish(pub, *text, qos, retain);
    } else {
      throw std::runtime_error("payload template names {" + missing + "}, which timer does not know");
    }
  }
}

}  // namespace psos::modules
