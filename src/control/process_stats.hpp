// What the node process costs the machine, for $metrics: resident memory and CPU time, read from
// /proc/self (Linux).
#pragma once

#include <chrono>
#include <cstdint>

namespace psos::control {

// Resident set size in bytes; 0 when /proc cannot be read.
std::uint64_t resident_bytes();

// CPU use of this process between two calls, in percent of one core.
class CpuMeter {
 public:
  CpuMeter();
  // Percent since the previous call (or construction).
  double percent();

 private:
  std::chrono::nanoseconds cpu_;
  std::chrono::steady_clock::time_point wall_;
};

}  // namespace psos::control
