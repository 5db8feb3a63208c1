// $log records, their buffer and the spdlog tap (see log_stream.hpp).
#include "control/log_stream.hpp"

#include <nlohmann/json.hpp>

namespace psos::control {

std::string level_name(spdlog::level::level_enum level) {
  // spdlog says "warning"; psos's levels are the ones `psos run --log-level` takes.
  if (level == spdlog::level::warn) return "warn";
  const spdlog::string_view_t name = spdlog::level::to_string_view(level);
  return std::string(name.data(), name.size());
}

std::string to_json(const LogRecord& record, std::uint64_t dropped) {
  nlohmann::json j = {{"seq", record.seq},
                      {"ts", record.ts},
                      {"level", level_name(record.level)},
                      {"service", record.service},
                      {"msg", record.msg}};
  if (dropped > 0) j["dropped"] = dropped;
  // Log lines may hold any bytes: invalid UTF-8 is replaced rather than refused.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void LogBuffer::push(LogRecord record) {
  if (capacity_ == 0) {
    ++dropped_;
    return;
  }
  if (size_ >= capacity_) {
    std::size_t lowest = 0;
    while (lowest < by_level_.size() && by_level_[lowest].empty())
      ++lowest;
    if (static_cast<std::size_t>(record.level) < lowest) {
      ++dropped_;
      return;
    }
    drop_one();
  }
  by_level_[static_cast<std::size_t>(record.level)].push_back(std::move(record));
  ++size_;
}

void LogBuffer::drop_one() {
  for (auto& records : by_level_) {
    if (records.empty()) continue;
    records.pop_front();
    --size_;
    ++dropped_;
    return;
  }
}

std::optional<LogRecord> LogBuffer::pop() {
  std::deque<LogRecord>* oldest = nullptr;
  for (auto& records : by_level_)
    if (!records.empty() && (!oldest || records.front().seq < oldest->front().seq))
      oldest = &records;
  if (!oldest) return std::nullopt;
  LogRecord record = std::move(oldest->front());
  oldest->pop_front();
  --size_;
  return record;
}

void LogBuffer::set_capacity(std::size_t capacity) {
  capacity_ = capacity;
  while (size_ > capacity_)
    drop_one();
}

std::uint64_t LogBuffer::take_dropped() noexcept {
  return std::exchange(dropped_, 0);
}

std::vector<LogRecord> LogTap::take() {
  std::lock_guard<std::mutex> lock(mutex_);
  return std::exchange(pending_, {});
}

void LogTap::sink_it_(const spdlog::details::log_msg& message) {
  LogRecord record;
  record.seq = next_seq_++;
  record.ts = std::chrono::duration_cast<std::chrono::milliseconds>(message.time.time_since_epoch())
                  .count();
  record.level = message.level;
  record.service.assign(message.logger_name.data(), message.logger_name.size());
  record.msg.assign(message.payload.data(), message.payload.size());
  const bool first = pending_.empty();
  // Bounded even if the loop stops taking: the buffer behind it drops by level anyway.
  if (pending_.size() < 100'000) pending_.push_back(std::move(record));
  if (first && wake_) wake_();
}

}  // namespace psos::control
