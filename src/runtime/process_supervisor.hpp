// psos run's two processes: a small parent (run_supervised) that runs the node as its child,
// starts it again when it dies (a signal, an abort, a non-zero exit) with backoff, forwards
// SIGINT/SIGTERM/SIGHUP for a clean stop, and speaks to systemd (READY=1, WATCHDOG=1) for it;
// and the child's end of their pipe (SupervisorLink), on which the node says "started", "ready",
// "safe REASON", "good", "restart" and "alive". The child dies with its parent
// (PR_SET_PDEATHSIG), so that killing psos run kills the node too.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/crash_log.hpp"

namespace psos::runtime {

// Runs `args` (psos run's own command line) again as the node's process, with the link in its
// environment, until the node stops cleanly or the parent is told to stop. Returns psos run's
// exit status: 0 after a clean stop; the child's status when it exits with one before it started
// (a definition it refused, a port taken: starting again would not help).
int run_supervised(const std::vector<std::string>& args);

class SupervisorLink {
 public:
  // Reads (and removes from the environment, so that exec services do not inherit them)
  // $PSOS_SUPERVISOR and $PSOS_PREVIOUS_EXIT, which run_supervised sets.
  static SupervisorLink from_environment();

  bool supervised() const noexcept { return fd_ >= 0; }
  // How the previous node process ended, as the parent saw it.
  const std::optional<ProcessExit>& previous_exit() const noexcept { return previous_exit_; }
  // One line to the parent; never blocks (a full pipe drops it).
  void send(std::string_view line) const;
  // "alive", at most once per interval the parent asked for (none when it asked for none).
  void alive();
  // That interval; zero when the parent wants no "alive" lines.
  std::chrono::milliseconds alive_interval() const noexcept { return alive_interval_; }

 private:
  int fd_ = -1;
  std::chrono::milliseconds alive_interval_{0};
  std::chrono::steady_clock::time_point last_alive_{};
  std::optional<ProcessExit> previous_exit_;
};

}  // namespace psos::runtime
