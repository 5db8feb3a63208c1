// Topic names and topic filters (spec 4.7): validation, shared-subscription syntax and a plain
// one-pair matcher (the subscription trie does the many-filter case).
#pragma once

#include <string_view>

#include "mqtt/error.hpp"

namespace psos::mqtt {

// Well-formed UTF-8 (spec 1.5.4): no overlong forms, no surrogates (U+D800..U+DFFF), nothing above
// U+10FFFF, no U+0000. Returns the byte offset of the first bad byte, or npos when valid.
std::size_t find_invalid_utf8(std::string_view text) noexcept;
inline bool is_valid_utf8(std::string_view text) noexcept {
  return find_invalid_utf8(text) == std::string_view::npos;
}

// A topic name for PUBLISH: 1..65535 bytes of valid UTF-8, no '+' or '#'.
// Error code TopicNameInvalid (0x90) with a message saying which rule failed.
Error validate_topic_name(std::string_view topic) noexcept;

// A topic filter for SUBSCRIBE/UNSUBSCRIBE: non-empty valid UTF-8; '+' only as a whole level;
// '#' only as the whole last level; `$share/<group>/<filter>` with a group without '+', '#' or
// '/' and a non-empty valid filter after it. Error code TopicFilterInvalid (0x8F).
Error validate_topic_filter(std::string_view filter) noexcept;

struct SharedFilter {
  std::string_view group;   // empty when the filter is not shared
  std::string_view filter;  // the filter to match topics against
};

// Splits `$share/group/filter`; a non-shared filter comes back whole with an empty group.
// Assumes `filter` passed validate_topic_filter.
SharedFilter split_shared(std::string_view filter) noexcept;

bool has_wildcards(std::string_view filter) noexcept;

// Does `topic` match `filter` (both assumed valid, filter not shared)? Topics starting with '$'
// are not matched by a filter starting with '+' or '#' (spec 4.7.2).
bool topic_matches(std::string_view filter, std::string_view topic) noexcept;

}  // namespace psos::mqtt
