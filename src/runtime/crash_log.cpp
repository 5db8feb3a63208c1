// The crash log (see crash_log.hpp).
#include "runtime/crash_log.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <csignal>
#include <cstring>
#include <fstream>
#include <sstream>

namespace psos::runtime {

using nlohmann::json;

namespace {
constexpr int kRecordVersion = 1;
constexpr int kMaxSignal = 64;  // SIGRTMAX on Linux

// How long the boot had run when it died; 0 when the times do not say (a clock set back, a
// record without them).
std::int64_t uptime_ms(const CrashRecord& r) {
  return r.started_ms > 0 && r.time_ms >= r.started_ms ? r.time_ms - r.started_ms : 0;
}

std::string seconds_text(std::int64_t ms) {
  if (ms < 0) return "?";
  if (ms < 120'000) return fmt::format("{} s", ms / 1000);
  if (ms < 7'200'000) return fmt::format("{} min", ms / 60'000);
  return fmt::format("{} h", ms / 3'600'000);
}
// A log line cut in the middle of a UTF-8 sequence still goes into JSON.
std::string valid_utf8(const std::string& text) {
  return json::parse(json(text).dump(-1, ' ', false, json::error_handler_t::replace))
      .get<std::string>();
}

std::vector<std::string> valid_utf8(const std::vector<std::string>& lines) {
  std::vector<std::string> valid;
  for (const std::string& line : lines)
    valid.push_back(valid_utf8(line));
  return valid;
}
}  // namespace

std::string to_string(const ProcessExit& exit) {
  return exit.signal != 0 ? fmt::format("signal {} {}", exit.signal, exit.time_ms)
                          : fmt::format("exit {} {}", exit.code, exit.time_ms);
}

std::optional<ProcessExit> parse_process_exit(std::string_view text) {
  std::istringstream in{std::string(text)};
  std::string kind;
  long long number = 0, time = 0;
  if (!(in >> kind >> number >> time) || (kind != "signal" && kind != "exit") || number <= 0 ||
      number > (kind == "signal" ? kMaxSignal : 255) || time < 0)
    return std::nullopt;
  ProcessExit exit;
  (kind == "signal" ? exit.signal : exit.code) = static_cast<int>(number);
  exit.time_ms = time;
  return exit;
}

std::string signal_name(int signal) {
  static const std::pair<int, const char*> kNames[] = {
      {SIGHUP, "SIGHUP"},   {SIGINT, "SIGINT"},   {SIGQUIT, "SIGQUIT"}, {SIGILL, "SIGILL"},
      {SIGTRAP, "SIGTRAP"}, {SIGABRT, "SIGABRT"}, {SIGBUS, "SIGBUS"},   {SIGFPE, "SIGFPE"},
      {SIGKILL, "SIGKILL"}, {SIGUSR1, "SIGUSR1"}, {SIGSEGV, "SIGSEGV"}, {SIGUSR2, "SIGUSR2"},
      {SIGPIPE, "SIGPIPE"}, {SIGALRM, "SIGALRM"}, {SIGTERM, "SIGTERM"}, {SIGXCPU, "SIGXCPU"},
      {SIGXFSZ, "SIGXFSZ"}, {SIGSYS, "SIGSYS"}};
  for (const auto& [number, name] : kNames)
    if (number == signal) return name;
  return fmt::format("signal {}", signal);
}

json to_json(const CrashRecord& r) {
  return {{"v", kRecordVersion},
          {"time", r.time_ms},
          {"boot", r.boot},
          {"started", r.started_ms},
          {"uptime_ms", uptime_ms(r)},
          {"cause", r.cause},
          {"signal", r.signal != 0 ? json(signal_name(r.signal)) : json()},
          {"exit_code", r.exit_code != 0 ? json(r.exit_code) : json()},
          {"stalled_ms", r.stalled_ms != 0 ? json(r.stalled_ms) : json()},
          {"service", r.service.empty() ? json() : json(r.service)},
          {"revision", r.revision != 0 ? json(r.revision) : json()},
          {"good_boot", r.good_boot},
          {"trace", r.trace},
          {"log", r.log}};
}

std::optional<CrashRecord> parse_crash_record(std::string_view text) {
  const json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || j.value("v", json()) != kRecordVersion) return std::nullopt;
  // A field that may be missing or null; false when it is there with another type.
  const auto field = [&](const char* key, auto& to, bool (json::*is_type)() const noexcept) {
    const auto it = j.find(key);
    if (it == j.end() || it->is_null()) return true;
    if (!((*it).*is_type)()) return false;
    to = it->template get<std::remove_reference_t<decltype(to)>>();
    return true;
  };
  const auto integer = [&](const char* key, std::int64_t& to) {
    return field(key, to, &json::is_number_integer);
  };
  const auto natural = [&](const char* key, std::uint64_t& to) {
    return field(key, to, &json::is_number_unsigned);
  };
  const auto text_of = [&](const char* key, std::string& to) {
    return field(key, to, &json::is_string);
  };
  const auto lines = [&](const char* key, std::vector<std::string>& to) {
    const auto it = j.find(key);
    if (it == j.end()) return true;
    if (!it->is_array()) return false;
    for (const json& line : *it) {
      if (!line.is_string()) return false;
      to.push_back(line.get<std::string>());
    }
    return true;
  };
  CrashRecord r;
  std::int64_t exit_code = 0;
  std::string signal;
  if (!integer("time", r.time_ms) || !natural("boot", r.boot) ||
      !integer("started", r.started_ms) || !text_of("cause", r.cause) || r.cause.empty() ||
      !text_of("signal", signal) || !integer("exit_code", exit_code) ||
      !integer("stalled_ms", r.stalled_ms) || !text_of("service", r.service) ||
      !natural("revision", r.revision) || !lines("trace", r.trace) || !lines("log", r.log))
    return std::nullopt;
  r.exit_code = static_cast<int>(std::clamp<std::int64_t>(exit_code, -1, 255));
  for (int number = 1; number <= kMaxSignal && !signal.empty(); ++number)
    if (signal_name(number) == signal) r.signal = number;
  const auto good = j.find("good_boot");
  if (good != j.end() && !good->is_boolean()) return std::nullopt;
  r.good_boot = good != j.end() && good->get<bool>();
  return r;
}

json summary_json(const CrashRecord& r) {
  json j = to_json(r);
  j.erase("trace");
  j.erase("log");
  j.erase("v");
  j["summary"] = describe(r);
  return j;
}

std::string describe(const CrashRecord& r) {
  std::string what;
  if (r.cause == "watchdog")
    what = fmt::format("watchdog: the event loop stalled for {} ms", r.stalled_ms);
  else if (r.cause == "signal")
    what = signal_name(r.signal);
  else if (r.cause == "exit")
    what = fmt::format("exit status {}", r.exit_code);
  else
    what = "ended without a trace (SIGKILL, out of memory or power)";
  if (!r.service.empty()) what += " in service " + r.service;
  return fmt::format("{} after {} (boot {})", what, seconds_text(uptime_ms(r)), r.boot);
}

std::optional<CrashRecord> crash_from_black_box(const BlackBoxContents& box,
                                                const std::optional<ProcessExit>& exit,
                                                std::int64_t file_time_ms) {
  if (box.end == RunEnd::Clean && !(exit && (exit->signal != 0 || exit->code != 0)))
    return std::nullopt;
  CrashRecord r;
  r.boot = box.boot;
  r.started_ms = box.started_ms;
  r.revision = box.revision;
  r.service = valid_utf8(box.service);
  r.good_boot = box.good_ms != 0;
  r.stalled_ms = box.stalled_ms;
  r.trace = valid_utf8(box.trace);
  r.log = valid_utf8(box.log);
  r.signal = exit && exit->signal != 0                    ? exit->signal
             : box.signal > 0 && box.signal <= kMaxSignal ? box.signal
                                                          : 0;
  r.exit_code = exit && exit->signal == 0 ? exit->code : 0;
  r.time_ms = box.signal_ms != 0 ? box.signal_ms : exit ? exit->time_ms : file_time_ms;
  r.cause = box.stalled_ms != 0 ? "watchdog"
            : r.signal != 0     ? "signal"
            : r.exit_code != 0  ? "exit"
                                : "unknown";
  return r;
}

CrashLog::CrashLog(std::filesystem::path state_dir) : dir_(std::move(state_dir) / "crashes") {}

std::vector<CrashRecord> CrashLog::records() const {
  std::vector<CrashRecord> all;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir_, ec)) {
    if (entry.path().extension() != ".json") continue;
    std::ifstream in(entry.path(), std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    if (auto record = parse_crash_record(text.str())) all.push_back(std::move(*record));
  }
  std::sort(all.begin(), all.end(), [](const CrashRecord& a, const CrashRecord& b) {
    return std::tie(a.time_ms, a.boot) > std::tie(b.time_ms, b.boot);
  });
  return all;
}

void CrashLog::add(const CrashRecord& record) {
  std::filesystem::create_directories(dir_);
  // Named so that the names sort as the records do.
  const auto path = dir_ / fmt::format("{:013}-{}.json", record.time_ms, record.boot);
  const auto temporary = dir_ / "record.tmp";
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << to_json(record).dump(1) << "\n";
    if (!out) throw std::runtime_error("cannot write " + temporary.string());
  }
  std::filesystem::rename(temporary, path);
  std::vector<std::filesystem::path> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir_))
    if (entry.path().extension() == ".json") names.push_back(entry.path());
  std::sort(names.begin(), names.end(), std::greater<>());
  for (std::size_t i = kKeptCrashes; i < names.size(); ++i)
    std::filesystem::remove(names[i]);
}

}  // namespace psos::runtime
