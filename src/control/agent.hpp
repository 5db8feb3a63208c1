// The node's control plane (docs/control.md): presence ($state, $info) announced on every
// connection of the uplink, $metrics, $log, and the signed commands on $cmd/<verb>, executed
// against the running node (runtime::Node). `psos run` makes one per node.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "control/keys.hpp"
#include "system/definition.hpp"
#include "system/secrets.hpp"

namespace psos::runtime {
class Node;
}

namespace psos::control {

struct AgentOptions {
  // The definition the node runs (for `conf set`, which checks a value as psos check would) and
  // the secrets it expanded with.
  std::shared_ptr<const system::Definition> definition;
  system::Secrets secrets;
  std::string definition_hash;  // reported in $info
  std::string definition_text;  // what the revision verb answers (the file may change since)
  // Keys whose signed commands the node executes.
  std::vector<TrustedKey> trusted;
  // The per-service parameter overrides in effect (conf set), as stored in the state dir.
  system::ServiceOverrides overrides;
  // How long a request may live, and the clock skew allowed (docs/control.md).
  std::chrono::milliseconds skew{30000};
  // The most instructions and bytes an `eval` may take.
  std::int64_t eval_instructions = 10'000'000;
  std::size_t eval_memory = 32u << 20;
  // Called when a `restart` command asks for the whole node to restart: psos run stops the node
  // cleanly and starts its program again.
  std::function<void()> restart_node;
  // Safe mode (runtime/safe_mode.hpp): why the node runs no services, empty when it runs
  // normally. $state says safe instead of ready, and $info's safe_mode says why.
  std::string safe_mode_reason;
  // The crash log's newest record, summarised (runtime::summary_json): $info's last_crash.
  nlohmann::json last_crash;
  // Called after leave_safe_mode(): psos run tells its parent (and systemd) the node is ready.
  std::function<void()> left_safe_mode;
  // Deploys (docs/control.md, "Deploy"): the revision running ($info's revision, null while 0:
  // the command-line file), the file it was read from, and the command-line file (what a
  // rollback to revision 0 runs).
  std::uint64_t revision = 0;
  std::filesystem::path definition_file;
  std::filesystem::path command_line_file;
  // Called once a revision is committed by a deploy or a rollback: psos run leaves safe mode
  // (Agent::leave_safe_mode) and names the revision in crash records.
  std::function<void(std::uint64_t revision)> on_deployed;
};

class Agent {
 public:
  Agent(runtime::Node& node, AgentOptions options);
  ~Agent();
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;

  // After node.start(): takes the node's log, announces it ($state init then ready, $info) and
  // starts $metrics and the command handler.
  void start();
  // Stops the services, publishes $state stopped and the last $info, then the node leaves.
  boost::asio::awaitable<void> stop();

  // For the deploy code, once a revision runs: out of safe mode now ($state ready, $info's
  // safe_mode null, then options.left_safe_mode) and at the next starts (the crashes so far no
  // longer count: runtime::leave_safe_mode_on_next_start). Does nothing outside safe mode.
  void leave_safe_mode();
  // The revision $info names from now on (after a deploy committed it).
  void set_revision(std::uint64_t revision);

  // The boot counter's value for this run (after start()).
  std::uint64_t boot() const noexcept;

  // The lines psos run adds to the node's summary: control topics and trusted keys.
  std::string summary() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// The overrides file in a node's state directory: {"service": {"param": value, ...}, ...}.
std::filesystem::path overrides_path(const std::filesystem::path& state_dir);
// Reads it; empty when there is none. Throws std::runtime_error naming the file when it is not
// readable JSON of that shape.
system::ServiceOverrides load_overrides(const std::filesystem::path& state_dir);
// Writes it atomically (a temporary file renamed over it).
void save_overrides(const std::filesystem::path& state_dir,
                    const system::ServiceOverrides& overrides);

// The boot counter in the state directory: read, incremented and written back; 1 the first time.
std::uint64_t next_boot(const std::filesystem::path& state_dir);

}  // namespace psos::control
