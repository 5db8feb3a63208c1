// $log's buffer: bounded, lowest levels dropped first, records out in the order they were made.
#include "control/log_stream.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace psos::control {
namespace {

using spdlog::level::level_enum;

LogRecord record(std::uint64_t seq, level_enum level) {
  return {.seq = seq,
          .ts = 1000 + static_cast<std::int64_t>(seq),
          .level = level,
          .service = "s",
          .msg = "m" + std::to_string(seq)};
}

std::vector<std::uint64_t> drain(LogBuffer& buffer) {
  std::vector<std::uint64_t> seqs;
  while (auto r = buffer.pop())
    seqs.push_back(r->seq);
  return seqs;
}

TEST(LogBuffer, KeepsOrderAcrossLevels) {
  LogBuffer buffer(10);
  buffer.push(record(1, level_enum::info));
  buffer.push(record(2, level_enum::err));
  buffer.push(record(3, level_enum::debug));
  buffer.push(record(4, level_enum::warn));
  EXPECT_EQ(drain(buffer), (std::vector<std::uint64_t>{1, 2, 3, 4}));
  EXPECT_EQ(buffer.take_dropped(), 0U);
}

TEST(LogBuffer, WhenFullTheOldestOfTheLowestLevelGoesFirst) {
  LogBuffer buffer(3);
  buffer.push(record(1, level_enum::info));
  buffer.push(record(2, level_enum::warn));
  buffer.push(record(3, level_enum::info));
  buffer.push(record(4, level_enum::err));   // drops 1 (oldest info)
  buffer.push(record(5, level_enum::warn));  // drops 3 (the last info)
  EXPECT_EQ(buffer.size(), 3U);
  EXPECT_EQ(buffer.take_dropped(), 2U);
  EXPECT_EQ(buffer.take_dropped(), 0U);
  EXPECT_EQ(drain(buffer), (std::vector<std::uint64_t>{2, 4, 5}));
}

TEST(LogBuffer, ARecordBelowEveryLevelHeldIsTheOneDropped) {
  LogBuffer buffer(2);
  buffer.push(record(1, level_enum::err));
  buffer.push(record(2, level_enum::warn));
  buffer.push(record(3, level_enum::info));
  EXPECT_EQ(buffer.take_dropped(), 1U);
  EXPECT_EQ(drain(buffer), (std::vector<std::uint64_t>{1, 2}));
}

TEST(LogBuffer, ShrinkingDropsFromTheLowestLevel) {
  LogBuffer buffer(4);
  for (std::uint64_t i = 1; i <= 4; ++i)
    buffer.push(record(i, i % 2 ? level_enum::debug : level_enum::err));
  buffer.set_capacity(2);
  EXPECT_EQ(buffer.take_dropped(), 2U);
  EXPECT_EQ(drain(buffer), (std::vector<std::uint64_t>{2, 4}));
}

TEST(LogRecordJson, HasTheDocumentedFieldsAndSurvivesBadUtf8) {
  LogRecord r = record(7, level_enum::warn);
  r.msg = "bad \xff byte";
  const nlohmann::json j = nlohmann::json::parse(to_json(r, 3));
  EXPECT_EQ(j["seq"], 7);
  EXPECT_EQ(j["ts"], 1007);
  EXPECT_EQ(j["level"], "warn");
  EXPECT_EQ(j["service"], "s");
  EXPECT_EQ(j["msg"], "bad \xEF\xBF\xBD byte");
  EXPECT_EQ(j["dropped"], 3);
  EXPECT_FALSE(nlohmann::json::parse(to_json(r, 0)).contains("dropped"));
}

}  // namespace
}  // namespace psos::control
