// Safe mode (see safe_mode.hpp).
#include "runtime/safe_mode.hpp"

#include <fmt/format.h>

#include <chrono>
#include <fstream>

namespace psos::runtime {

namespace {
std::filesystem::path normal_path(const std::filesystem::path& state_dir) {
  return state_dir / "normal_since";
}

std::string window_text(std::chrono::milliseconds window) {
  const auto ms = window.count();
  if (ms % 60'000 == 0) return fmt::format("{} min", ms / 60'000);
  return fmt::format("{} s", ms / 1000);
}
}  // namespace

std::string safe_mode_reason(const std::vector<CrashRecord>& records, std::int64_t now_ms,
                             std::int64_t normal_since_ms,
                             const system::NodeDefinition::SafeMode& settings) {
  std::size_t counted = 0;
  const CrashRecord* last = nullptr;
  for (const CrashRecord& r : records) {
    if (r.time_ms < now_ms - settings.window.count() || r.time_ms < normal_since_ms) break;
    if (r.good_boot) continue;
    if (last == nullptr) last = &r;
    ++counted;
  }
  if (counted < settings.crashes) return {};
  return fmt::format(
      "{} crashes within {} (the last: {}); the node runs no services until `psos restart NODE "
      "--normal` or a deploy",
      counted, window_text(settings.window), describe(*last));
}

void leave_safe_mode_on_next_start(const std::filesystem::path& state_dir) {
  std::filesystem::create_directories(state_dir);
  const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  const auto temporary = state_dir / "normal_since.tmp";
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << now << "\n";
    if (!out) throw std::runtime_error("cannot write " + temporary.string());
  }
  std::filesystem::rename(temporary, normal_path(state_dir));
}

std::int64_t normal_since(const std::filesystem::path& state_dir) {
  std::int64_t since = 0;
  if (std::ifstream in(normal_path(state_dir)); in) in >> since;
  return since;
}

}  // namespace psos::runtime
