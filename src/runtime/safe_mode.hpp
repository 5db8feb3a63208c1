// Safe mode: a node whose recent boots keep crashing starts with no services — uplink and control
// plane only, $state safe — so that it stays reachable and can be fixed remotely. Decided at each
// start from the crash log; left by `psos restart NODE --normal` or a successful deploy
// (leave_safe_mode_on_next_start), which make the crashes so far count no more.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "runtime/crash_log.hpp"
#include "system/definition.hpp"

namespace psos::runtime {

// Why the node starts in safe mode, "" when it starts normally: `settings.crashes` crashes
// within `settings.window` before `now_ms`, each of a boot that had not yet counted as good, and
// none before `normal_since_ms`. `records` newest first.
std::string safe_mode_reason(const std::vector<CrashRecord>& records, std::int64_t now_ms,
                             std::int64_t normal_since_ms,
                             const system::NodeDefinition::SafeMode& settings);

// The next start of the node with this state directory starts normally, whatever crashed before.
void leave_safe_mode_on_next_start(const std::filesystem::path& state_dir);
// When that was last asked for (epoch ms), 0 never.
std::int64_t normal_since(const std::filesystem::path& state_dir);

}  // namespace psos::runtime
