// The event loop's watchdog: a heartbeat timer on the loop and a thread that checks it. When the
// loop has not beaten for the node's `watchdog` setting (a service computing without yielding),
// it marks the black box, logs why on standard error and sends SIGABRT to the loop's thread, so
// that the crash handler records the loop's own stack and the service holding it, and the
// process ends by that signal (psos run's supervisor starts it again).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <functional>
#include <memory>

namespace psos::runtime {

class BlackBox;

class LoopWatchdog {
 public:
  // Watches the loop `executor` runs on (one thread: the one that constructs the watchdog), from
  // now on, so a loop that stalls before its first heartbeat is caught too; a zero timeout
  // watches nothing. `on_beat` runs on the loop at each heartbeat (every timeout / 8,
  // 10 ms to 1 s; every second without a timeout; at least every `beat_at_most`, when not zero:
  // what psos run's parent needs for systemd's watchdog).
  LoopWatchdog(boost::asio::any_io_executor executor, std::chrono::milliseconds timeout,
               BlackBox& box, std::function<void()> on_beat,
               std::chrono::milliseconds beat_at_most = std::chrono::milliseconds(0));
  ~LoopWatchdog();
  LoopWatchdog(const LoopWatchdog&) = delete;
  LoopWatchdog& operator=(const LoopWatchdog&) = delete;

  struct State;

 private:
  std::shared_ptr<State> state_;
};

}  // namespace psos::runtime
