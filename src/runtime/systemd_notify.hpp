// systemd's notification protocol (sd_notify(3)), without libsystemd: datagrams such as
// "READY=1" or "WATCHDOG=1" sent to the unix socket named by $NOTIFY_SOCKET (a path, or "@name"
// in the abstract namespace). psos run's supervisor uses it when systemd starts it with
// Type=notify; with no $NOTIFY_SOCKET it does nothing. The protocol is a few lines of socket
// code; libsystemd would be a dependency for them alone.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

namespace psos::runtime {

class SystemdNotifier {
 public:
  // From $NOTIFY_SOCKET, $WATCHDOG_USEC and $WATCHDOG_PID (the watchdog is this process's only
  // when WATCHDOG_PID is unset or names it).
  static SystemdNotifier from_environment();

  bool enabled() const noexcept { return !socket_.empty(); }
  // How often systemd wants WATCHDOG=1 at the latest; zero when it does not.
  std::chrono::microseconds watchdog_timeout() const noexcept { return watchdog_; }
  // Sends `state` ("READY=1\nSTATUS=ready"); false when it could not (or is not enabled).
  bool notify(std::string_view state) const;

 private:
  std::string socket_;
  std::chrono::microseconds watchdog_{0};
};

}  // namespace psos::runtime
