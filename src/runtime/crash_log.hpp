// The crash log: one JSON record per crash in <state dir>/crashes/, the newest kKeptCrashes kept.
// A record is made at the start after a run that did not end cleanly, from that run's black box
// and from how its parent saw it die (ProcessExit); docs/control.md describes its fields.
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/black_box.hpp"

namespace psos::runtime {

inline constexpr std::size_t kKeptCrashes = 10;

// How the node's parent (psos run's supervisor) saw the previous node process end.
struct ProcessExit {
  int signal = 0;  // killed by this signal
  int code = 0;    // else exited with this status
  std::int64_t time_ms = 0;
};
// "signal 9 1765000000000" / "exit 3 1765000000000": how the parent passes it to the next run.
std::string to_string(const ProcessExit& exit);
std::optional<ProcessExit> parse_process_exit(std::string_view text);

struct CrashRecord {
  std::int64_t time_ms = 0;  // when it died (as well as known)
  std::uint64_t boot = 0;
  std::int64_t started_ms = 0;
  // "signal" (a fatal signal: SIGSEGV, SIGABRT, SIGKILL, ...), "watchdog" (the loop stalled and
  // the watchdog aborted it), "exit" (a non-zero exit status) or "unknown" (no parent saw it
  // end and it caught no signal: SIGKILL without the supervisor, the OOM killer, a power cut).
  std::string cause;
  int signal = 0;
  int exit_code = 0;
  std::int64_t stalled_ms = 0;
  std::string service;         // the service whose code ran last on the loop; "" unknown
  std::uint64_t revision = 0;  // the deployed revision it ran; 0: its command line's file
  bool good_boot = false;      // it had run long enough to count as a good boot
  std::vector<std::string> trace;
  std::vector<std::string> log;
};

// "SIGSEGV" for 11; "signal 99" for one without a name.
std::string signal_name(int signal);

nlohmann::json to_json(const CrashRecord& record);
// A record's JSON text back; nullopt when it is not one. Never throws (fuzzed).
std::optional<CrashRecord> parse_crash_record(std::string_view text);
// Without the trace and log: $info's last_crash, the crashes verb's list.
nlohmann::json summary_json(const CrashRecord& record);
// One line for people: "SIGSEGV in service bomb after 12 s (boot 4)".
std::string describe(const CrashRecord& record);

// The record of a run that did not end cleanly; nullopt for a clean one. `exit` is what the
// parent saw, if it was there; `file_time_ms` when the box was last written (a time of death
// for a run nobody saw die).
std::optional<CrashRecord> crash_from_black_box(const BlackBoxContents& box,
                                                const std::optional<ProcessExit>& exit,
                                                std::int64_t file_time_ms);

class CrashLog {
 public:
  explicit CrashLog(std::filesystem::path state_dir);
  // The readable records, newest first.
  std::vector<CrashRecord> records() const;
  // Writes it (a temporary file renamed) and removes all but the newest kKeptCrashes. Throws
  // std::runtime_error naming the file when it cannot write.
  void add(const CrashRecord& record);

 private:
  std::filesystem::path dir_;
};

}  // namespace psos::runtime
