// The node's flight recorder: a fixed-size file in the state directory, mapped into memory,
// holding what a crash record needs (start time, boot, revision, the last 100 log lines, and on a
// crash the signal, the service on the loop and a stack trace). The running node writes it with
// plain memory stores, so that a fatal-signal handler can add to it, and a SIGKILL or a power cut
// leaves what was written; the next start reads it back (read_black_box) and turns a run that
// did not end cleanly into a crash record.
#pragma once

#include <spdlog/sinks/base_sink.h>

#include <array>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace psos::runtime {

// How the run recorded in a black box ended, as far as the box knows.
enum class RunEnd : std::uint32_t {
  Running = 1,  // never said otherwise: it crashed, was killed, or the machine lost power
  Clean = 2,    // stopped cleanly (SIGTERM, Ctrl-C, the restart verb)
};

// What a black box file says, read back (read_black_box).
struct BlackBoxContents {
  RunEnd end = RunEnd::Running;
  std::int32_t pid = 0;
  std::uint64_t boot = 0;
  std::int64_t started_ms = 0;   // epoch ms
  std::int64_t good_ms = 0;      // when the boot counted as good; 0: it did not
  std::int32_t signal = 0;       // the fatal signal its handler caught; 0: none
  std::int64_t signal_ms = 0;    // when
  std::int64_t stalled_ms = 0;   // the watchdog found the loop stalled this long; 0: it did not
  std::uint64_t revision = 0;    // the deployed revision it ran; 0: its command line's file
  std::string service;           // the service whose code ran last on the loop, at the signal
  std::vector<std::string> log;  // oldest first, at most kBlackBoxLogLines
  std::vector<std::string> trace;
};

inline constexpr std::size_t kBlackBoxLogLines = 100;
inline constexpr std::size_t kBlackBoxLineBytes = 256;  // a longer line is cut
inline constexpr std::size_t kBlackBoxTraceBytes = 32768;

// Reads a black box file's bytes. nullopt when they are not one (wrong magic, version or size);
// never throws on any input (fuzz/fuzz_crash_record.cpp).
std::optional<BlackBoxContents> read_black_box(std::string_view bytes);

class BlackBox {
 public:
  // Creates (or empties) the file at `path` for this run and maps it. Throws std::runtime_error
  // naming the file when it cannot.
  BlackBox(const std::filesystem::path& path, std::uint64_t boot);
  ~BlackBox();
  BlackBox(const BlackBox&) = delete;
  BlackBox& operator=(const BlackBox&) = delete;

  const std::filesystem::path& path() const noexcept { return path_; }

  // The control plane numbers boots after the box is open.
  void set_boot(std::uint64_t boot) noexcept;
  void set_revision(std::uint64_t revision) noexcept;
  void mark_good(std::int64_t now_ms) noexcept;
  void mark_clean() noexcept;
  // The watchdog, from its thread, before it signals the loop.
  void mark_stalled(std::int64_t stalled_ms) noexcept;
  // From a fatal-signal handler: only memory stores, lseek(2) and write(2).
  void record_signal_unsafe(int signal, std::int64_t now_ms, const char* service,
                            std::size_t service_size) noexcept;
  void write_trace_unsafe() noexcept;
  // A log line (the sink below).
  void add_line(std::string_view line) noexcept;

  // The sink that copies log lines into the box: add it to the node's loggers. It writes
  // nothing once the box is gone.
  std::shared_ptr<spdlog::sinks::sink> sink();

  struct Layout;

 private:
  std::filesystem::path path_;
  int fd_ = -1;
  Layout* map_ = nullptr;
  std::shared_ptr<spdlog::sinks::sink> sink_;
};

}  // namespace psos::runtime
