// libFuzzer harness for the topic rules: arbitrary bytes as a topic name and as a topic filter,
// checked against a reference UTF-8 validator and against each other (a valid filter without
// wildcards is a valid name that matches itself; a valid filter matches a topic made from it,
// in topic_matches and in the trie alike). A disagreement aborts (a finding).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "mqtt/subscription_trie.hpp"
#include "mqtt/topic.hpp"

namespace psos::mqtt {
namespace {

[[noreturn]] void finding(const char* what, std::string_view input) {
  std::fprintf(stderr, "fuzz_topic_filter: %s: \"%.*s\" (%zu bytes)\n", what,
               static_cast<int>(input.size()), input.data(), input.size());
  std::abort();
}

// Spec 1.5.4 written the slow, obvious way: decode each code point, then judge it.
bool reference_utf8(std::string_view text) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  std::size_t i = 0;
  while (i < text.size()) {
    const unsigned char c = s[i];
    std::size_t len = 0;
    std::uint32_t cp = 0;
    if (c < 0x80) {
      len = 1;
      cp = c;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1Fu;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0Fu;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07u;
    } else {
      return false;
    }
    if (i + len > text.size()) return false;
    for (std::size_t k = 1; k < len; ++k) {
      if ((s[i + k] & 0xC0) != 0x80) return false;
      cp = cp << 6 | (s[i + k] & 0x3Fu);
    }
    constexpr std::uint32_t kSmallest[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kSmallest[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF) || cp == 0) {
      return false;
    }
    i += len;
  }
  return true;
}

// A topic the (valid, non-shared) filter must match: '+' becomes "x", '#' becomes "x/y".
std::string topic_for(std::string_view filter) {
  std::string topic;
  for (std::size_t start = 0; start <= filter.size();) {
    const std::size_t end = std::min(filter.find('/', start), filter.size());
    const std::string_view level = filter.substr(start, end - start);
    if (start) topic += '/';
    topic += level == "+" ? "x" : level == "#" ? "x/y" : level;
    start = end + 1;
  }
  return topic;
}

void check(std::string_view input) {
  const std::size_t bad = find_invalid_utf8(input);
  if ((bad == std::string_view::npos) != reference_utf8(input)) {
    finding("find_invalid_utf8 disagrees with the reference decoder", input);
  }
  if (bad != std::string_view::npos && (bad >= input.size() || reference_utf8(input.substr(bad)))) {
    finding("find_invalid_utf8 points at a byte that starts no error", input);
  }
  if (bad != std::string_view::npos && !reference_utf8(input.substr(0, bad))) {
    finding("find_invalid_utf8 skipped an earlier error", input);
  }

  const bool name_ok = !validate_topic_name(input);
  const bool filter_ok = !validate_topic_filter(input);
  if ((name_ok || filter_ok) && (bad != std::string_view::npos || input.size() > 65535)) {
    finding("bad UTF-8 or an over-long string validated", input);
  }
  if (name_ok && (input.empty() || has_wildcards(input))) {
    finding("an empty topic name or one with wildcards validated", input);
  }
  if (name_ok && !input.starts_with("$share/") && !filter_ok) {
    finding("a valid topic name is not a valid filter", input);
  }
  if (name_ok && !topic_matches(input, input)) finding("a topic does not match itself", input);
  if (!filter_ok) return;

  const SharedFilter shared = split_shared(input);
  if (shared.filter.empty()) finding("a valid filter split into an empty filter", input);
  if (shared.group.empty()) {
    if (shared.filter != input) finding("a non-shared filter did not come back whole", input);
  } else {
    if (shared.group.find_first_of("+#/") != std::string_view::npos) {
      finding("a shared group with '+', '#' or '/' validated", input);
    }
    if (std::string("$share/").append(shared.group).append("/").append(shared.filter) != input) {
      finding("split_shared lost bytes", input);
    }
  }
  if (!has_wildcards(input) && shared.group.empty()) {
    if (!name_ok) finding("a valid filter without wildcards is not a valid topic name", input);
    if (!topic_matches(input, input))
      finding("a filter without wildcards does not match itself", input);
  }

  const std::string topic = topic_for(shared.filter);
  if (!topic_matches(shared.filter, topic)) finding("a filter does not match its own topic", input);
  SubscriptionTrie trie;
  trie.add(input, 1, SubscriptionOptions{});
  int matched = 0;
  trie.match(
      topic, [&](const Subscription&) { ++matched; }, [&](SharedGroup&) { ++matched; });
  if (matched != 1) finding("the trie does not match a filter's own topic", input);
  if (!trie.remove(input, 1) || trie.node_count() != 0) {
    finding("the trie did not remove a filter", input);
  }
}

}  // namespace
}  // namespace psos::mqtt

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  psos::mqtt::check(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
