// Real brokers for the client tests: Mosquitto with a generated configuration and `psos broker`,
// each a child process on a free loopback port, killed when the object goes away. They can be
// killed and restarted on the same port (fault tests).
#pragma once

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace psos::client::test {

// A port nobody listens on right now (the kernel's choice; a tiny race with other programs is
// accepted: the broker fails to start loudly if it loses it).
inline std::uint16_t free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    ::close(fd);
    throw std::runtime_error("no free port");
  }
  ::close(fd);
  return ntohs(a.sin_port);
}

inline bool port_open(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

// A child process with its output in a log file.
class Child {
 public:
  Child() = default;
  Child(const std::vector<std::string>& args, const std::string& log) { start(args, log); }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child() { kill(SIGKILL); }

  void start(const std::vector<std::string>& args, const std::string& log) {
    pid_ = ::fork();
    if (pid_ == 0) {
      std::FILE* out = std::fopen(log.c_str(), "a");
      if (out != nullptr) {
        ::dup2(::fileno(out), 1);
        ::dup2(::fileno(out), 2);
      }
      std::vector<char*> argv;
      for (const auto& a : args)
        argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      ::execvp(argv[0], argv.data());
      std::perror(argv[0]);
      ::_exit(127);
    }
  }
  void kill(int signal) {
    if (pid_ <= 0) return;
    ::kill(pid_, signal);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }
  bool running() {
    if (pid_ <= 0) return false;
    int status = 0;
    return ::waitpid(pid_, &status, WNOHANG) == 0;
  }

 private:
  pid_t pid_ = -1;
};

inline std::string read_file(const std::string& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Mosquitto 2 or `psos broker` on 127.0.0.1:port.
class Broker {
 public:
  enum class Kind { Mosquitto, Psos };

  explicit Broker(Kind kind, std::vector<std::string> extra = {})
      : kind_(kind), extra_(std::move(extra)), port_(free_port()) {
    dir_ = std::filesystem::temp_directory_path() /
           ("psos-client-test-" + std::to_string(::getpid()) + "-" + std::to_string(port_));
    std::filesystem::create_directories(dir_);
    // Mosquitto started as root drops to the mosquitto user, which must be able to save there.
    std::filesystem::permissions(dir_, std::filesystem::perms::all);
    start();
  }
  ~Broker() {
    child_.kill(SIGKILL);
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  void start() {
    const std::string log = (dir_ / "broker.log").string();
    if (kind_ == Kind::Mosquitto) {
      const auto conf = dir_ / "mosquitto.conf";
      std::ofstream(conf) << "listener " << port_ << " 127.0.0.1\nallow_anonymous true\n"
                          << "persistence true\npersistence_location " << dir_.string() << "/\n"
                          << "max_queued_messages 100000\nmax_inflight_messages 0\n";
      // For Mosquitto, `extra` holds configuration lines.
      for (const auto& line : extra_)
        std::ofstream(conf, std::ios::app) << line << "\n";
      child_.start({"mosquitto", "-c", conf.string()}, log);
    } else {
      // The same queue limit as Mosquitto's above. With the default (10,000) a subscriber that
      // falls behind on a loaded machine fills its queue while the broker restarts, and the
      // newest messages are refused: lost for a v3.1.1 publisher, whose PUBACK cannot say so.
      std::vector<std::string> args{PSOS_BINARY,    "broker",
                                    "--listen",     "mqtt://127.0.0.1:" + std::to_string(port_),
                                    "--data",       (dir_ / "data").string(),
                                    "--max-queued", "100000"};
      args.insert(args.end(), extra_.begin(), extra_.end());
      child_.start(args, log);
    }
    for (int i = 0; i < 500; ++i) {
      if (port_open(port_)) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    throw std::runtime_error("the broker did not start on port " + std::to_string(port_) + ":\n" +
                             read_file(log));
  }
  // SIGKILL: no goodbye to anyone (persistent state is what was stored).
  void kill() { child_.kill(SIGKILL); }
  // SIGTERM: a clean stop (Mosquitto saves its sessions only then).
  void stop() { child_.kill(SIGTERM); }
  void restart() {
    kill();
    start();
  }

  std::uint16_t port() const noexcept { return port_; }
  std::string url() const { return "mqtt://127.0.0.1:" + std::to_string(port_); }
  std::string name() const { return kind_ == Kind::Mosquitto ? "mosquitto" : "psos"; }
  std::string log() const { return read_file((dir_ / "broker.log").string()); }
  const std::filesystem::path& dir() const noexcept { return dir_; }

 private:
  Kind kind_;
  std::vector<std::string> extra_;
  std::uint16_t port_;
  std::filesystem::path dir_;
  Child child_;
};

}  // namespace psos::client::test
