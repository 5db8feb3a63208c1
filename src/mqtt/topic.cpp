// Topic names and filters (spec 4.7) and UTF-8 well-formedness (spec 1.5.4).
#include "mqtt/topic.hpp"

#include <cstdint>
#include <cstring>

namespace psos::mqtt {
namespace {

constexpr std::size_t kMaxTopic = 65535;

std::uint64_t load8(const char* p) noexcept {
  std::uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

// Byte offset of the first invalid level character of a filter body, or npos.
std::size_t check_levels(std::string_view filter, const char*& why) noexcept {
  std::size_t level_start = 0;
  for (std::size_t i = 0; i <= filter.size(); ++i) {
    if (i < filter.size() && filter[i] != '/') continue;
    const std::string_view level = filter.substr(level_start, i - level_start);
    for (std::size_t j = 0; j < level.size(); ++j) {
      if (level[j] == '+' && level.size() != 1) {
        why = "'+' must occupy a whole topic level";
        return level_start + j;
      }
      if (level[j] == '#') {
        if (level.size() != 1) {
          why = "'#' must occupy a whole topic level";
          return level_start + j;
        }
        if (i != filter.size()) {
          why = "'#' must be the last topic level";
          return level_start + j;
        }
      }
    }
    level_start = i + 1;
  }
  return std::string_view::npos;
}

Error topic_error(ReasonCode code, const char* message, std::size_t offset) noexcept {
  return make_error(code, message, static_cast<std::uint32_t>(offset));
}

}  // namespace

std::size_t find_invalid_utf8(std::string_view text) noexcept {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const std::size_t n = text.size();
  std::size_t i = 0;
  while (i < n) {
    // Fast path: eight ASCII bytes, none of them NUL.
    constexpr std::uint64_t kOnes = 0x0101010101010101ull;
    constexpr std::uint64_t kHigh = 0x8080808080808080ull;
    while (i + 8 <= n) {
      const std::uint64_t v = load8(text.data() + i);
      if (((v | ((v - kOnes) & ~v)) & kHigh) != 0) break;
      i += 8;
    }
    if (i >= n) break;
    const unsigned char c = s[i];
    if (c < 0x80) {
      if (c == 0) return i;
      ++i;
      continue;
    }
    std::size_t len;
    std::uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
      cp = c & 0x1Fu;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      cp = c & 0x0Fu;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      cp = c & 0x07u;
    } else {
      return i;  // continuation byte, overlong 2-byte lead (C0/C1) or above U+10FFFF (F5..FF)
    }
    if (i + len > n) return i;
    for (std::size_t k = 1; k < len; ++k) {
      const unsigned char cc = s[i + k];
      if ((cc & 0xC0) != 0x80) return i;
      cp = (cp << 6) | (cc & 0x3Fu);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
      return i;
    i += len;
  }
  return std::string_view::npos;
}

Error validate_topic_name(std::string_view topic) noexcept {
  if (topic.empty()) return topic_error(ReasonCode::TopicNameInvalid, "topic name is empty", 0);
  if (topic.size() > kMaxTopic)
    return topic_error(ReasonCode::TopicNameInvalid, "topic name is longer than 65535 bytes",
                       kMaxTopic);
  if (const std::size_t bad = find_invalid_utf8(topic); bad != std::string_view::npos)
    return topic_error(ReasonCode::TopicNameInvalid,
                       "topic name is not well-formed UTF-8 (or contains U+0000)", bad);
  if (const std::size_t w = topic.find_first_of("+#"); w != std::string_view::npos)
    return topic_error(ReasonCode::TopicNameInvalid, "topic name contains a wildcard ('+' or '#')",
                       w);
  return {};
}

Error validate_topic_filter(std::string_view filter) noexcept {
  if (filter.empty())
    return topic_error(ReasonCode::TopicFilterInvalid, "topic filter is empty", 0);
  if (filter.size() > kMaxTopic)
    return topic_error(ReasonCode::TopicFilterInvalid, "topic filter is longer than 65535 bytes",
                       kMaxTopic);
  if (const std::size_t bad = find_invalid_utf8(filter); bad != std::string_view::npos)
    return topic_error(ReasonCode::TopicFilterInvalid,
                       "topic filter is not well-formed UTF-8 (or contains U+0000)", bad);
  std::size_t body_start = 0;
  if (filter.starts_with("$share/")) {
    const std::size_t slash = filter.find('/', 7);
    if (slash == std::string_view::npos)
      return topic_error(ReasonCode::TopicFilterInvalid,
                         "shared subscription needs $share/<group>/<filter>", filter.size());
    const std::string_view group = filter.substr(7, slash - 7);
    if (group.empty())
      return topic_error(ReasonCode::TopicFilterInvalid, "shared subscription group is empty", 7);
    if (const std::size_t w = group.find_first_of("+#"); w != std::string_view::npos)
      return topic_error(ReasonCode::TopicFilterInvalid,
                         "shared subscription group contains '+' or '#'", 7 + w);
    body_start = slash + 1;
    if (body_start == filter.size())
      return topic_error(ReasonCode::TopicFilterInvalid,
                         "shared subscription has no topic filter after the group", filter.size());
  }
  const char* why = "";
  const std::size_t bad = check_levels(filter.substr(body_start), why);
  if (bad != std::string_view::npos)
    return topic_error(ReasonCode::TopicFilterInvalid, why, body_start + bad);
  return {};
}

SharedFilter split_shared(std::string_view filter) noexcept {
  if (!filter.starts_with("$share/")) return {{}, filter};
  const std::size_t slash = filter.find('/', 7);
  if (slash == std::string_view::npos) return {{}, filter};
  return {filter.substr(7, slash - 7), filter.substr(slash + 1)};
}

bool has_wildcards(std::string_view filter) noexcept {
  return filter.find_first_of("+#") != std::string_view::npos;
}

bool topic_matches(std::string_view filter, std::string_view topic) noexcept {
  if (!topic.empty() && topic[0] == '$' && !filter.empty() &&
      (filter[0] == '+' || filter[0] == '#'))
    return false;
  std::size_t f = 0;
  std::size_t t = 0;
  while (true) {
    const std::size_t f_end = std::min(filter.find('/', f), filter.size());
    const std::string_view level = filter.substr(f, f_end - f);
    if (level == "#") return true;  // also matches the parent level: "a/#" matches "a"
    if (t > topic.size()) {
      return false;
    }
    const std::size_t t_end = std::min(topic.find('/', t), topic.size());
    if (level != "+" && level != topic.substr(t, t_end - t)) return false;
    const bool filter_done = f_end == filter.size();
    const bool topic_done = t_end == topic.size();
    if (filter_done || topic_done) {
      if (filter_done && topic_done) return true;
      // "a/#" matches "a": the topic ended and the filter's remaining level is exactly "#".
      return topic_done && !filter_done && filter.substr(f_end + 1) == "#";
    }
    f = f_end + 1;
    t = t_end + 1;
  }
}

}  // namespace psos::mqtt
