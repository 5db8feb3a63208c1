// Replies to control requests: {"id", "ok": true, "result"} or {"id", "ok": false, "error":
// {"code", "message"}}, written by a node and read by callers (docs/control.md).
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "control/request.hpp"

namespace psos::control {

struct Reply {
  std::optional<std::string> id;  // null when the request's id could not be read
  bool ok = false;
  nlohmann::json result;      // when ok
  std::string error_code;     // when not ok: a RefusalCode's name, or a verb's own code
  std::string error_message;  // when not ok: one line for a person
};

// The reply payloads. Strings that are not valid UTF-8 (a service's output, say) are written
// with U+FFFD in place of the bad bytes rather than failing.
std::string encode_result(std::optional<std::string_view> id, const nlohmann::json& result);
std::string encode_error(std::optional<std::string_view> id, std::string_view code,
                         std::string_view message);
std::string encode_refusal(const Refusal& refusal);

// Reads a reply payload. Throws std::invalid_argument saying what is wrong with it.
Reply decode_reply(std::string_view payload);

}  // namespace psos::control
