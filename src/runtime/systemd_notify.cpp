// sd_notify over a unix datagram socket (see systemd_notify.hpp).
#include "runtime/systemd_notify.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

namespace psos::runtime {

SystemdNotifier SystemdNotifier::from_environment() {
  SystemdNotifier n;
  if (const char* socket = std::getenv("NOTIFY_SOCKET"); socket && *socket) n.socket_ = socket;
  const char* usec = std::getenv("WATCHDOG_USEC");
  const char* pid = std::getenv("WATCHDOG_PID");
  if (usec && *usec && (!pid || std::strtoll(pid, nullptr, 10) == ::getpid()))
    n.watchdog_ = std::chrono::microseconds(std::strtoll(usec, nullptr, 10));
  if (n.watchdog_.count() < 0) n.watchdog_ = {};
  return n;
}

bool SystemdNotifier::notify(std::string_view state) const {
  if (socket_.empty()) return false;
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (socket_.size() >= sizeof address.sun_path || (socket_[0] != '/' && socket_[0] != '@'))
    return false;
  std::memcpy(address.sun_path, socket_.data(), socket_.size());
  if (socket_[0] == '@') address.sun_path[0] = '\0';  // the abstract namespace
  const socklen_t length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + socket_.size());
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  const ssize_t sent = ::sendto(fd, state.data(), state.size(), MSG_NOSIGNAL,
                                reinterpret_cast<const sockaddr*>(&address), length);
  ::close(fd);
  return sent == static_cast<ssize_t>(state.size());
}

}  // namespace psos::runtime
