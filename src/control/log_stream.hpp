// The node's log on psos/<system>/<node>/$log: records taken from spdlog as they are written
// (LogTap), kept in a bounded buffer while they cannot be sent (LogBuffer: the lowest levels are
// dropped first, and the next record sent says how many), and published in order, one JSON
// record per message.
#pragma once

#include <spdlog/sinks/base_sink.h>

#include <array>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace psos::control {

struct LogRecord {
  std::uint64_t seq = 0;  // numbered by the node, from 1, without gaps in what it records
  std::int64_t ts = 0;    // epoch ms
  spdlog::level::level_enum level = spdlog::level::info;
  std::string service;  // "" for the node's own records
  std::string msg;
};

// "trace", "debug", "info", "warn", "error", "critical".
std::string level_name(spdlog::level::level_enum level);

// {"seq":12,"ts":1765000000000,"level":"warn","service":"fmt","msg":"..."}, with
// "dropped":N when records were dropped before this one.
std::string to_json(const LogRecord& record, std::uint64_t dropped);

class LogBuffer {
 public:
  explicit LogBuffer(std::size_t capacity) : capacity_(capacity) {}

  // Keeps `record`; when full, drops the oldest record of the lowest level held, or `record`
  // itself when its level is lower than every level held.
  void push(LogRecord record);
  // The oldest record held (lowest seq).
  std::optional<LogRecord> pop();
  std::size_t size() const noexcept { return size_; }
  std::size_t capacity() const noexcept { return capacity_; }
  void set_capacity(std::size_t capacity);
  // Records dropped since the last call.
  std::uint64_t take_dropped() noexcept;

 private:
  void drop_one();

  std::size_t capacity_;
  std::size_t size_ = 0;
  std::uint64_t dropped_ = 0;
  std::array<std::deque<LogRecord>, spdlog::level::n_levels> by_level_;
};

// An spdlog sink that hands records over to the node's loop: add it to the loggers whose records
// go to $log. Records may come from any thread; `wake` is called (from that thread) when a record
// arrives and the previous ones were taken.
class LogTap final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  explicit LogTap(std::function<void()> wake) : wake_(std::move(wake)) {}
  // The records written since the last call (seq and ts filled in).
  std::vector<LogRecord> take();

 protected:
  void sink_it_(const spdlog::details::log_msg& message) override;
  void flush_() override {}

 private:
  std::function<void()> wake_;
  std::vector<LogRecord> pending_;
  std::uint64_t next_seq_ = 1;
};

}  // namespace psos::control
