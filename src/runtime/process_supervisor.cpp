// psos run's parent process and the node's link to it (see process_supervisor.hpp). The parent
// is plain POSIX (fork, execve, signalfd, poll): it starts no threads and no event loop, so that
// it stays small and nothing in it can stall.
#include "runtime/process_supervisor.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "runtime/systemd_notify.hpp"

extern char** environ;

namespace psos::runtime {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr const char* kLinkVariable = "PSOS_SUPERVISOR";
constexpr const char* kExitVariable = "PSOS_PREVIOUS_EXIT";
// Restart backoff: 1 s doubling to 60 s; back to 1 s after a run that counted as a good boot.
constexpr milliseconds kFirstBackoff{1000};
constexpr milliseconds kMaxBackoff{60000};

std::int64_t epoch_ms() {
  return std::chrono::duration_cast<milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void say(const std::string& text) {
  std::fputs(("psos run: " + text + "\n").c_str(), stderr);
  std::fflush(stderr);
}

// The environment for the node process: this one, less systemd's variables (the parent speaks
// to systemd) and the link's from before, plus the link.
std::vector<std::string> child_environment(int fd, milliseconds alive,
                                           const std::optional<ProcessExit>& previous) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string_view entry(*e);
    const std::string_view name = entry.substr(0, entry.find('='));
    if (name == "NOTIFY_SOCKET" || name == "WATCHDOG_USEC" || name == "WATCHDOG_PID" ||
        name == kLinkVariable || name == kExitVariable)
      continue;
    env.emplace_back(entry);
  }
  env.push_back(fmt::format("{}={} {}", kLinkVariable, fd, alive.count()));
  if (previous) env.push_back(fmt::format("{}={}", kExitVariable, to_string(*previous)));
  return env;
}

std::vector<char*> pointers(std::vector<std::string>& strings) {
  std::vector<char*> p;
  for (std::string& s : strings)
    p.push_back(s.data());
  p.push_back(nullptr);
  return p;
}

// What the node said on the link during one run.
struct Run {
  pid_t pid = -1;
  Clock::time_point started_at;
  Clock::time_point last_alive;
  bool started = false;  // node.start() succeeded
  bool restart = false;  // the restart verb: start again at once
  bool good = false;     // it counted as a good boot
  std::string pending;   // a partial line
};

class Supervisor {
 public:
  explicit Supervisor(const std::vector<std::string>& args)
      : args_(args), systemd_(SystemdNotifier::from_environment()) {
    // The binary's path rather than /proc/self/exe, so that the node's process is named psos
    // (ps, top) and a psos installed over this one runs from the next restart on.
    std::error_code ec;
    exe_ = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (ec || !std::filesystem::exists(exe_)) exe_ = "/proc/self/exe";
    if (systemd_.watchdog_timeout().count() > 0)
      alive_ = std::clamp(std::chrono::duration_cast<milliseconds>(systemd_.watchdog_timeout()) / 4,
                          milliseconds(50), milliseconds(1000));
  }

  int run() {
    sigset_t handled;
    sigemptyset(&handled);
    for (int s : {SIGCHLD, SIGINT, SIGTERM, SIGHUP})
      sigaddset(&handled, s);
    if (::sigprocmask(SIG_BLOCK, &handled, &original_mask_) != 0 ||
        (signals_ = ::signalfd(-1, &handled, SFD_CLOEXEC)) < 0) {
      say(fmt::format("cannot supervise the node: {}", std::strerror(errno)));
      return 1;
    }
    milliseconds backoff = kFirstBackoff;
    std::optional<ProcessExit> previous;
    for (;;) {
      Run run;
      if (!spawn(run, previous)) return 1;
      const int status = wait_for(run);
      if (stopping_) {
        if (WIFEXITED(status)) return WEXITSTATUS(status);
        return WTERMSIG(status) == stop_signal_ || WTERMSIG(status) == SIGINT ||
                       WTERMSIG(status) == SIGTERM
                   ? 0
                   : 128 + WTERMSIG(status);
      }
      if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        if (!run.restart) return 0;
        previous.reset();
        continue;
      }
      if (WIFEXITED(status) && !run.started) return WEXITSTATUS(status);
      ProcessExit exit;
      exit.time_ms = epoch_ms();
      (WIFSIGNALED(status) ? exit.signal : exit.code) =
          WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status);
      previous = exit;
      if (run.good) backoff = kFirstBackoff;
      const auto lived = std::chrono::duration_cast<milliseconds>(Clock::now() - run.started_at);
      const std::string how = exit.signal != 0 ? "was killed by " + signal_name(exit.signal)
                                               : fmt::format("exited with status {}", exit.code);
      say(fmt::format("the node process (pid {}) {} after {:.1f} s; starting it again in {:.1f} s",
                      run.pid, how, static_cast<double>(lived.count()) / 1000,
                      static_cast<double>(backoff.count()) / 1000));
      systemd_.notify(fmt::format("STATUS=the node process {}; restarting", how));
      if (!pause(backoff)) return 0;
      backoff = std::min(backoff * 2, kMaxBackoff);
    }
  }

 private:
  bool spawn(Run& run, const std::optional<ProcessExit>& previous) {
    int link[2];
    if (::pipe2(link, O_CLOEXEC) != 0) {
      say(fmt::format("cannot start the node: pipe: {}", std::strerror(errno)));
      return false;
    }
    std::vector<std::string> args = args_;
    std::vector<std::string> env = child_environment(link[1], alive_, previous);
    std::vector<char*> argv = pointers(args);
    std::vector<char*> envp = pointers(env);
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid < 0) {
      say(fmt::format("cannot start the node: fork: {}", std::strerror(errno)));
      ::close(link[0]);
      ::close(link[1]);
      return false;
    }
    if (pid == 0) {
      // The child: only async-signal-safe calls until execve.
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(1);  // the parent died before prctl
      ::sigprocmask(SIG_SETMASK, &original_mask_, nullptr);
      ::close(link[0]);
      ::fcntl(link[1], F_SETFD, 0);  // the node keeps its end across execve
      ::execve(exe_.c_str(), argv.data(), envp.data());
      ::_exit(127);
    }
    ::close(link[1]);
    link_ = link[0];
    run.pid = pid;
    run.started_at = Clock::now();
    run.last_alive = run.started_at;
    return true;
  }

  // Until the child ends: its lines, signals, systemd's watchdog. Returns its wait status.
  int wait_for(Run& run) {
    for (;;) {
      pollfd fds[2] = {{signals_, POLLIN, 0}, {link_, POLLIN, 0}};
      const int ready = ::poll(fds, link_ >= 0 ? 2 : 1, poll_timeout());
      if (ready < 0 && errno != EINTR) {
        say(fmt::format("poll: {}", std::strerror(errno)));
        return 0;
      }
      ping_watchdog(&run);
      if (link_ >= 0 && (fds[1].revents & (POLLIN | POLLHUP | POLLERR))) read_link(run);
      if (fds[0].revents & POLLIN) {
        signalfd_siginfo info{};
        if (::read(signals_, &info, sizeof info) != static_cast<ssize_t>(sizeof info)) continue;
        if (info.ssi_signo != SIGCHLD) {
          stop(run.pid, static_cast<int>(info.ssi_signo));
          continue;
        }
        int status = 0;
        if (::waitpid(run.pid, &status, WNOHANG) == run.pid) {
          while (link_ >= 0)  // what it wrote last ("restart") before it ended
            read_link(run);
          return status;
        }
      }
    }
  }

  void stop(pid_t pid, int signal) {
    if (!stopping_) systemd_.notify("STOPPING=1");
    stopping_ = true;
    // SIGHUP (a closed terminal) stops the node cleanly too.
    stop_signal_ = signal == SIGHUP ? SIGTERM : signal;
    if (pid > 0) ::kill(pid, stop_signal_);
  }

  void read_link(Run& run) {
    char buffer[4096];
    const ssize_t n = ::read(link_, buffer, sizeof buffer);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) return;
      ::close(link_);
      link_ = -1;
      return;
    }
    run.pending.append(buffer, static_cast<std::size_t>(n));
    for (std::size_t eol; (eol = run.pending.find('\n')) != std::string::npos;) {
      const std::string line = run.pending.substr(0, eol);
      run.pending.erase(0, eol + 1);
      if (line == "alive") {
        run.last_alive = Clock::now();
      } else if (line == "started") {
        run.started = true;
      } else if (line == "ready") {
        systemd_.notify("READY=1\nSTATUS=ready");
      } else if (line.starts_with("safe")) {
        systemd_.notify("READY=1\nSTATUS=safe mode: " +
                        line.substr(std::min<std::size_t>(5, line.size())));
      } else if (line == "good") {
        run.good = true;
      } else if (line == "restart") {
        run.restart = true;
      }
    }
  }

  // The backoff between two runs; false when a signal asked to stop meanwhile.
  bool pause(milliseconds backoff) {
    const auto until = Clock::now() + backoff;
    while (Clock::now() < until) {
      pollfd fds[1] = {{signals_, POLLIN, 0}};
      const auto left = std::chrono::duration_cast<milliseconds>(until - Clock::now());
      int wait_ms = static_cast<int>(left.count() + 1);
      if (const int ping = poll_timeout(); ping >= 0) wait_ms = std::min(wait_ms, ping);
      ::poll(fds, 1, wait_ms);
      ping_watchdog(nullptr);
      if (fds[0].revents & POLLIN) {
        signalfd_siginfo info{};
        if (::read(signals_, &info, sizeof info) == static_cast<ssize_t>(sizeof info) &&
            info.ssi_signo != SIGCHLD) {
          stop(-1, static_cast<int>(info.ssi_signo));
          return false;
        }
      }
    }
    return true;
  }

  // systemd's watchdog hears from the parent while the node's loop beats (or while there is no
  // node process: between two runs the parent is doing its job).
  void ping_watchdog(const Run* run) {
    const auto timeout = systemd_.watchdog_timeout();
    if (timeout.count() <= 0 || Clock::now() < next_ping_) return;
    if (run != nullptr && Clock::now() - run->last_alive > timeout) return;
    systemd_.notify("WATCHDOG=1");
    next_ping_ = Clock::now() + timeout / 2;
  }

  int poll_timeout() const {
    if (systemd_.watchdog_timeout().count() <= 0) return -1;
    const auto left = std::chrono::duration_cast<milliseconds>(next_ping_ - Clock::now());
    return static_cast<int>(std::clamp<milliseconds::rep>(left.count() + 1, 1, 1000));
  }

  std::vector<std::string> args_;
  std::filesystem::path exe_;
  SystemdNotifier systemd_;
  milliseconds alive_{0};
  sigset_t original_mask_{};
  int signals_ = -1;
  int link_ = -1;
  bool stopping_ = false;
  int stop_signal_ = SIGTERM;
  Clock::time_point next_ping_{};
};

}  // namespace

int run_supervised(const std::vector<std::string>& args) {
  return Supervisor(args).run();
}

SupervisorLink SupervisorLink::from_environment() {
  SupervisorLink link;
  if (const char* value = std::getenv(kLinkVariable)) {
    int fd = -1;
    long long alive = 0;
    if (std::sscanf(value, "%d %lld", &fd, &alive) == 2 && fd > 2 && ::fcntl(fd, F_GETFD) >= 0) {
      link.fd_ = fd;
      link.alive_interval_ = milliseconds(std::max(0LL, alive));
      ::fcntl(fd, F_SETFD, FD_CLOEXEC);
      ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
    }
  }
  if (const char* value = std::getenv(kExitVariable))
    link.previous_exit_ = parse_process_exit(value);
  ::unsetenv(kLinkVariable);
  ::unsetenv(kExitVariable);
  return link;
}

void SupervisorLink::send(std::string_view line) const {
  if (fd_ < 0) return;
  std::string text(line.substr(0, 4000));
  text += '\n';
  [[maybe_unused]] const ssize_t n = ::write(fd_, text.data(), text.size());
}

void SupervisorLink::alive() {
  if (alive_interval_.count() <= 0) return;
  const auto now = Clock::now();
  if (now - last_alive_ < alive_interval_) return;
  last_alive_ = now;
  send("alive");
}

}  // namespace psos::runtime
