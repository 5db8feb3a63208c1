// What psos run does in the node's process so that it recovers from what goes wrong: at start,
// the previous run's black box becomes a crash record when that run did not end cleanly, and the
// crash log decides on safe mode; while it runs, this run's black box, the crash handler, the
// loop's watchdog and the good-boot mark. psos run makes one before the node starts.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "runtime/crash_log.hpp"
#include "system/definition.hpp"

namespace psos::runtime {

class NodeRecovery {
 public:
  // `previous_exit`: how the parent saw the previous node process end, if it did. Problems with
  // the state directory are logged and leave the node running without what they would give.
  NodeRecovery(std::filesystem::path state_dir, const system::NodeDefinition& node,
               const std::optional<ProcessExit>& previous_exit);
  ~NodeRecovery();
  NodeRecovery(const NodeRecovery&) = delete;
  NodeRecovery& operator=(const NodeRecovery&) = delete;

  // The crash the previous run ended with; nullopt when it ended cleanly (or there was none).
  const std::optional<CrashRecord>& previous_crash() const noexcept { return previous_crash_; }
  // The newest record of the crash log (the previous crash, or an older one).
  const std::optional<CrashRecord>& last_crash() const noexcept { return last_crash_; }
  // Why the node starts in safe mode; empty when it starts normally.
  const std::string& safe_mode_reason() const noexcept { return safe_reason_; }

  // Once the node runs on `executor`'s loop (before it runs): the boot number goes into the
  // black box, the watchdog watches the loop, `on_beat` is called on each of its heartbeats (at
  // least every second, and every `beat_at_most` when that is shorter) and `on_good` once when
  // the boot counts as good.
  void start(boost::asio::any_io_executor executor, std::uint64_t boot,
             std::function<void()> on_beat, std::function<void()> on_good,
             std::chrono::milliseconds beat_at_most = std::chrono::milliseconds(0));
  // The revision this run runs (0, the default: the definition file on its command line), for
  // its crash record. The deploy code calls it at start and whenever it commits another one.
  void set_revision(std::uint64_t revision);
  // The run ends cleanly (a stop, the restart verb, a start that failed): no crash record next.
  void stopped_cleanly();

  struct Impl;

 private:
  std::optional<CrashRecord> previous_crash_;
  std::optional<CrashRecord> last_crash_;
  std::string safe_reason_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace psos::runtime
