// `sysinfo`: the node's memory, CPU, load, disk and uptime, on an interval and on request.
#include <sys/statvfs.h>

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/multiple_exceptions.hpp>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <exception>
#include <fstream>
#include <nlohmann/json.hpp>

#include "modules/builtin.hpp"
#include "modules/context.hpp"

namespace psos::modules {

ModuleSpec sysinfo_spec() {
  return {
      .name = "sysinfo",
      .summary = "Publishes memory, CPU, load, disk and uptime",
      .description =
          "Publishes a JSON object: mem_total, mem_available (bytes), cpu (percent "
          "since the last report), load (1, 5 and 15 minutes), disk_total, disk_free "
          "(bytes) and uptime (seconds).",
      .params =
          {
              {.name = "pub",
               .type = ParamType::Topic,
               .default_value = "{node}/sysinfo",
               .description = "The topic the reports are published to"},
              {.name = "every",
               .type = ParamType::Duration,
               .default_value = "60s",
               .description = "Publish a report at this interval",
               .minimum = 1000},
              {.name = "request",
               .type = ParamType::Topic,
               .description = "Publish a report at once when any message arrives on this topic"},
              {.name = "disk",
               .type = ParamType::String,
               .default_value = "/",
               .description = "A path on the file system whose size and free space are reported"},
              qos_param(),
              retain_param(),
          },
      .functions = {{.name = "read",
                     .description = "A report as the service publishes it, returned and not "
                                    "published (cpu: since the last published report)"}},
  };
}

namespace {

struct CpuTimes {
  std::uint64_t busy = 0;
  std::uint64_t total = 0;
};

// The first line of /proc/stat: jiffies spent in each state since boot; idle and iowait are
// the not-busy ones.
CpuTimes read_cpu() {
  std::ifstream in("/proc/stat");
  std::string label;
  in >> label;
  CpuTimes t;
  std::uint64_t value = 0;
  for (int field = 0; field < 8 && in >> value; ++field) {
    t.total += value;
    if (field != 3 && field != 4) t.busy += value;
  }
  return t;
}

nlohmann::json read_meminfo() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  std::uint64_t kib = 0;
  std::string unit;
  nlohmann::json out;
  while (in >> key >> kib) {
    std::getline(in, unit);
    if (key == "MemTotal:") out["mem_total"] = kib * 1024;
    if (key == "MemAvailable:") out["mem_available"] = kib * 1024;
  }
  return out;
}

}  // namespace

boost::asio::awaitable<void> run_sysinfo(Context& ctx) {
  using namespace boost::asio::experimental::awaitable_operators;
  const Params& p = ctx.params();
  const std::string& pub = p.text("pub");
  const std::string& disk = p.text("disk");
  const auto every = p.duration("every");
  const auto qos = static_cast<mqtt::QoS>(p.integer("qos"));
  const bool retain = p.boolean("retain");
  CpuTimes last;
  bool disk_warned = false;

  // `cpu` is measured since `since`, which the published reports move on.
  const auto measure = [&](CpuTimes& since) {
    nlohmann::json r = read_meminfo();
    const CpuTimes now = read_cpu();
    const auto total = static_cast<double>(now.total - since.total);
    r["cpu"] = total > 0
                   ? std::round(1000.0 * static_cast<double>(now.busy - since.busy) / total) / 10
                   : 0.0;
    since = now;
    double load[3] = {0, 0, 0};
    std::ifstream("/proc/loadavg") >> load[0] >> load[1] >> load[2];
    r["load"] = {load[0], load[1], load[2]};
    struct statvfs fs {};
    if (::statvfs(disk.c_str(), &fs) == 0) {
      r["disk_total"] = static_cast<std::uint64_t>(fs.f_blocks) * fs.f_frsize;
      r["disk_free"] = static_cast<std::uint64_t>(fs.f_bavail) * fs.f_frsize;
    } else if (!disk_warned) {
      disk_warned = true;
      ctx.log().warn("cannot read the size of {}: {}; the reports leave disk out", disk,
                     std::strerror(errno));
    }
    double uptime = 0;
    std::ifstream("/proc/uptime") >> uptime;
    r["uptime"] = static_cast<std::int64_t>(uptime);
    return r;
  };
  const auto report = [&] { ctx.publish(pub, measure(last).dump(), qos, retain); };
  ctx.provide("read", [&](const nlohmann::json&) {
    CpuTimes since = last;
    return measure(since);
  });

  const auto on_interval = [&]() -> boost::asio::awaitable<void> {
    while (true) {
      report();
      co_await ctx.sleep(every);
    }
  };
  if (!p.has("request")) co_await on_interval();
  ctx.subscribe(p.text("request"));
  const auto on_request = [&]() -> boost::asio::awaitable<void> {
    while (true) {
      co_await ctx.next();
      report();
    }
  };
  // Both run until the service stops; either one's exception ends the other.
  try {
    co_await (on_interval() && on_request());
  } catch (const boost::asio::multiple_exceptions& e) {
    // Both end on a stop; the supervisor is told the first reason.
    std::rethrow_exception(e.first_exception());
  }
}

Module sysinfo_module() {
  return {.spec = sysinfo_spec(), .run = run_sysinfo};
}

}  // namespace psos::modules
