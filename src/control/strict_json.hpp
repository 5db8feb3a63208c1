// Reading signed JSON texts strictly (the request text, a deploy manifest): a key twice in one
// object or nesting past a limit is a problem to refuse, not something to resolve silently, and
// fields are read one by one with a one-line message for the first that is wrong. Private to
// control/.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace psos::control {

// Integers JSON carries exactly in every language (2^53 - 1): times and counts stay within.
inline constexpr std::int64_t kMaxJsonInteger = (std::int64_t{1} << 53) - 1;

// What parse_strict() found besides syntax errors.
struct TextProblems {
  bool too_deep = false;
  std::optional<std::string> duplicate;  // a key that appears twice in one object
};

// Parses `text`, noting nesting deeper than `max_depth` and repeated keys: parsers in other
// languages may keep the first of two equal keys where nlohmann keeps the last, and a signed
// text must mean one thing. Throws nlohmann::json::exception (see parse_problem).
nlohmann::json parse_strict(std::string_view text, int max_depth, TextProblems& problems);

// Why nlohmann could not parse, without its "[json.exception...]" prefix and without the
// "; last read: '...'" suffix, which would copy raw input bytes into the message.
std::string parse_problem(const nlohmann::json::exception& error);

// `s` as a JSON string, for messages (bad UTF-8 replaced).
std::string in_quotes(std::string_view s);

// The fields of a JSON object read one by one; the first that is missing or wrong leaves a
// message naming it: `noun` "request" gives 'request "issued" must be ...'.
class FieldReader {
 public:
  FieldReader(const nlohmann::json& object, std::string noun)
      : object_(object), noun_(std::move(noun)) {}

  const std::string& problem() const noexcept { return problem_; }

  bool string(std::string_view name, std::string_view what, std::string& out);
  // Epoch milliseconds: an integer from 0 to kMaxJsonInteger.
  bool time(std::string_view name, std::int64_t& out);
  // A whole number from `minimum` to `maximum` (at most kMaxJsonInteger).
  bool count(std::string_view name, std::string_view what, std::int64_t minimum,
             std::int64_t maximum, std::int64_t& out);
  bool object(std::string_view name, std::string_view what, nlohmann::json& out);
  bool array(std::string_view name, std::string_view what, nlohmann::json& out);
  bool fail(std::string message);

 private:
  const nlohmann::json* find(std::string_view name, std::string_view what);
  bool mistyped(std::string_view name, std::string_view expected, const nlohmann::json& value);

  const nlohmann::json& object_;
  std::string noun_;
  std::string problem_;
};

}  // namespace psos::control
