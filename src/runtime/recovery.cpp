// The node's recovery (see recovery.hpp).
#include "runtime/recovery.hpp"

#include <spdlog/spdlog.h>

#include <fstream>
#include <sstream>

#include "runtime/black_box.hpp"
#include "runtime/crash_handler.hpp"
#include "runtime/safe_mode.hpp"
#include "runtime/service.hpp"
#include "runtime/watchdog.hpp"

namespace psos::runtime {

namespace {
std::int64_t epoch_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::int64_t modified_ms(const std::filesystem::path& path) {
  std::error_code ec;
  const auto written = std::filesystem::last_write_time(path, ec);
  if (ec) return epoch_ms();
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::file_clock::to_sys(written).time_since_epoch())
      .count();
}
}  // namespace

struct NodeRecovery::Impl {
  std::filesystem::path state_dir;
  std::chrono::milliseconds watchdog;
  std::chrono::milliseconds good_after;
  std::unique_ptr<BlackBox> box;
  std::unique_ptr<LoopWatchdog> loop_watchdog;
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  bool good = false;
};

NodeRecovery::NodeRecovery(std::filesystem::path state_dir, const system::NodeDefinition& node,
                           const std::optional<ProcessExit>& previous_exit)
    : impl_(std::make_unique<Impl>()) {
  Impl& r = *impl_;
  r.state_dir = std::move(state_dir);
  r.watchdog = node.watchdog;
  r.good_after = node.safe_mode.good_after;
  const auto box_path = r.state_dir / "blackbox";
  CrashLog log(r.state_dir);
  try {
    std::filesystem::create_directories(r.state_dir);
    if (std::ifstream in(box_path, std::ios::binary); in) {
      std::ostringstream bytes;
      bytes << in.rdbuf();
      if (const auto contents = read_black_box(bytes.str())) {
        previous_crash_ = crash_from_black_box(*contents, previous_exit, modified_ms(box_path));
        if (previous_crash_) log.add(*previous_crash_);
      } else {
        spdlog::warn("recovery: {} is not a black box this psos wrote; starting a new one",
                     box_path.string());
      }
    }
  } catch (const std::exception& e) {
    spdlog::warn("recovery: cannot record the previous run's crash: {}", e.what());
  }
  const std::vector<CrashRecord> records = log.records();
  if (!records.empty()) last_crash_ = records.front();
  safe_reason_ =
      runtime::safe_mode_reason(records, epoch_ms(), normal_since(r.state_dir), node.safe_mode);
  try {
    r.box = std::make_unique<BlackBox>(box_path, 0);
  } catch (const std::exception& e) {
    spdlog::warn("recovery: {}; crashes of this run will not be recorded", e.what());
    return;
  }
  spdlog::default_logger()->sinks().push_back(r.box->sink());
  Service::log_sinks.push_back(r.box->sink());
  install_crash_handler(*r.box);
}

NodeRecovery::~NodeRecovery() {
  Impl& r = *impl_;
  r.loop_watchdog.reset();
  if (!r.box) return;
  remove_crash_handler();
  auto& sinks = spdlog::default_logger()->sinks();
  sinks.erase(std::remove(sinks.begin(), sinks.end(), r.box->sink()), sinks.end());
  std::erase(Service::log_sinks, r.box->sink());
}

void NodeRecovery::start(boost::asio::any_io_executor executor, std::uint64_t boot,
                         std::function<void()> on_beat, std::function<void()> on_good,
                         std::chrono::milliseconds beat_at_most) {
  Impl& r = *impl_;
  if (!r.box) return;
  r.box->set_boot(boot);
  r.loop_watchdog = std::make_unique<LoopWatchdog>(
      std::move(executor), r.watchdog, *r.box,
      [&r, on_beat = std::move(on_beat), on_good = std::move(on_good)] {
        if (on_beat) on_beat();
        if (r.good || std::chrono::steady_clock::now() - r.started < r.good_after) return;
        r.good = true;
        r.box->mark_good(epoch_ms());
        if (on_good) on_good();
      },
      beat_at_most);
}

void NodeRecovery::set_revision(std::uint64_t revision) {
  if (impl_->box) impl_->box->set_revision(revision);
}

void NodeRecovery::stopped_cleanly() {
  impl_->loop_watchdog.reset();
  if (impl_->box) impl_->box->mark_clean();
}

}  // namespace psos::runtime
