// `psos bench`: an MQTT load generator for any broker, in the style of emqtt-bench (DESIGN.md
// "Commands"): publishers, subscribers and idle connections; latency percentiles; losses.
#pragma once

#include <string>

#include "bench_load.hpp"

namespace CLI {
class App;
}

namespace psos::cli {

class BenchCommand {
 public:
  explicit BenchCommand(CLI::App& parent);
  BenchCommand(const BenchCommand&) = delete;
  BenchCommand& operator=(const BenchCommand&) = delete;

  bool selected() const;
  // 0 when the run completed (losses are reported, not failures); 1 when a connection failed or
  // the options are unusable.
  int run() const;

 private:
  CLI::App* app_;
  std::string broker_;
  std::string topic_ = "psos-bench/%i";
  std::string filter_;
  std::string protocol_ = "5";
  std::string client_prefix_;
  unsigned qos_ = 0;
  bool json_ = false;
  bool quiet_ = false;
  bench::LoadOptions load_;
};

}  // namespace psos::cli
