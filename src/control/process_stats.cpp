// Process statistics from /proc/self and getrusage (see process_stats.hpp).
#include "control/process_stats.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <fstream>

namespace psos::control {

namespace {

std::chrono::nanoseconds cpu_time() {
  rusage usage{};
  if (::getrusage(RUSAGE_SELF, &usage) != 0) return {};
  const auto of = [](const timeval& t) {
    return std::chrono::seconds(t.tv_sec) + std::chrono::microseconds(t.tv_usec);
  };
  return std::chrono::duration_cast<std::chrono::nanoseconds>(of(usage.ru_utime) +
                                                              of(usage.ru_stime));
}

}  // namespace

std::uint64_t resident_bytes() {
  std::ifstream in("/proc/self/statm");
  std::uint64_t size = 0, resident = 0;
  if (!(in >> size >> resident)) return 0;
  return resident * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
}

CpuMeter::CpuMeter() : cpu_(cpu_time()), wall_(std::chrono::steady_clock::now()) {}

double CpuMeter::percent() {
  const auto cpu = cpu_time();
  const auto wall = std::chrono::steady_clock::now();
  const double elapsed = std::chrono::duration<double>(wall - wall_).count();
  const double used = std::chrono::duration<double>(cpu - cpu_).count();
  cpu_ = cpu;
  wall_ = wall;
  return elapsed > 0 ? 100.0 * used / elapsed : 0.0;
}

}  // namespace psos::control
