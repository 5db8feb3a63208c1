// `psos broker`: a router with listeners and no services (DESIGN.md "Commands").
#pragma once

#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace psos::cli {

class BrokerCommand {
 public:
  explicit BrokerCommand(CLI::App& parent);
  BrokerCommand(const BrokerCommand&) = delete;
  BrokerCommand& operator=(const BrokerCommand&) = delete;

  bool selected() const;
  // Runs until SIGINT or SIGTERM; 0 after a clean stop, 1 when it cannot start.
  // Settings come from the command line, then from --config for what the command line left out.
  int run();

 private:
  CLI::App* app_;
  std::vector<std::string> listen_;
  std::string passwd_;
  std::string acl_;
  std::string data_;
  std::string config_;
  bool allow_anonymous_ = false;
  std::string tls_cert_;
  std::string tls_key_;
  std::string tls_ca_;
  bool require_certificate_ = false;
  unsigned sys_interval_ = 10;
  std::size_t max_connections_ = 100'000;
  std::uint32_t max_packet_size_ = 16 * 1024 * 1024;
  std::size_t max_queued_ = 10'000;
  std::uint16_t max_keep_alive_ = 0;
  std::string log_level_ = "info";
};

}  // namespace psos::cli
