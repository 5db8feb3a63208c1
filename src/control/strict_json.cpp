// Strict reading of signed JSON texts (see strict_json.hpp).
#include "control/strict_json.hpp"

#include <set>
#include <vector>

#include "system/checker.hpp"

namespace psos::control {

using Json = nlohmann::json;
using system::describe;  // "a string", "the number 5": what a mistyped value is

Json parse_strict(std::string_view text, int max_depth, TextProblems& problems) {
  std::vector<std::set<std::string>> keys;  // keys[d]: those seen in the open object at depth d
  return Json::parse(text, [&](int depth, Json::parse_event_t event, Json& parsed) {
    if (depth > max_depth) {
      problems.too_deep = true;
      return true;
    }
    const auto at = static_cast<std::size_t>(depth);
    if (event == Json::parse_event_t::object_start) {
      if (keys.size() <= at) keys.resize(at + 1);
      keys[at].clear();
    } else if (event == Json::parse_event_t::key && at >= 1 && keys.size() >= at) {
      if (!keys[at - 1].insert(parsed.get<std::string>()).second && !problems.duplicate)
        problems.duplicate = parsed.get<std::string>();
    }
    return true;
  });
}

std::string parse_problem(const Json::exception& error) {
  std::string_view text = error.what();
  if (const std::size_t end = text.find("] "); end != std::string_view::npos)
    text.remove_prefix(end + 2);
  if (text.starts_with("parse error ")) text.remove_prefix(12);
  if (const std::size_t last = text.find("; last read: "); last != std::string_view::npos)
    text = text.substr(0, last);
  return std::string(text);
}

std::string in_quotes(std::string_view s) {
  return Json(s).dump(-1, ' ', false, Json::error_handler_t::replace);
}

bool FieldReader::string(std::string_view name, std::string_view what, std::string& out) {
  const Json* value = find(name, what);
  if (value == nullptr) return false;
  if (!value->is_string()) return mistyped(name, "a string", *value);
  out = value->get<std::string>();
  return true;
}

bool FieldReader::time(std::string_view name, std::int64_t& out) {
  const Json* value = find(name, "epoch milliseconds");
  if (value == nullptr) return false;
  const bool in_range = (value->is_number_unsigned() &&
                         value->get<std::uint64_t>() <= std::uint64_t(kMaxJsonInteger)) ||
                        (value->is_number_integer() && value->get<std::int64_t>() >= 0 &&
                         value->get<std::int64_t>() <= kMaxJsonInteger);
  if (!in_range) {
    return fail(noun_ + " " + in_quotes(name) + " must be an integer of epoch milliseconds (0 to " +
                std::to_string(kMaxJsonInteger) + "), not " + describe(*value));
  }
  out = value->get<std::int64_t>();
  return true;
}

bool FieldReader::count(std::string_view name, std::string_view what, std::int64_t minimum,
                        std::int64_t maximum, std::int64_t& out) {
  const Json* value = find(name, what);
  if (value == nullptr) return false;
  bool in_range = false;
  if (value->is_number_unsigned()) {
    const std::uint64_t v = value->get<std::uint64_t>();
    in_range = v <= static_cast<std::uint64_t>(kMaxJsonInteger) &&
               static_cast<std::int64_t>(v) >= minimum && static_cast<std::int64_t>(v) <= maximum;
  } else if (value->is_number_integer()) {
    const std::int64_t v = value->get<std::int64_t>();
    in_range = v >= minimum && v <= maximum;
  }
  if (!in_range)
    return fail(noun_ + " " + in_quotes(name) + " must be an integer from " +
                std::to_string(minimum) + " to " + std::to_string(maximum) + " (" +
                std::string(what) + "), not " + describe(*value));
  out = value->get<std::int64_t>();
  return true;
}

bool FieldReader::object(std::string_view name, std::string_view what, Json& out) {
  const Json* value = find(name, what);
  if (value == nullptr) return false;
  if (!value->is_object()) return mistyped(name, "an object", *value);
  out = *value;
  return true;
}

bool FieldReader::array(std::string_view name, std::string_view what, Json& out) {
  const Json* value = find(name, what);
  if (value == nullptr) return false;
  if (!value->is_array()) return mistyped(name, "an array", *value);
  out = *value;
  return true;
}

bool FieldReader::fail(std::string message) {
  problem_ = std::move(message);
  return false;
}

const Json* FieldReader::find(std::string_view name, std::string_view what) {
  const auto found = object_.find(name);
  if (found != object_.end()) return &*found;
  fail(noun_ + " has no " + in_quotes(name) + " (" + std::string(what) + ")");
  return nullptr;
}

bool FieldReader::mistyped(std::string_view name, std::string_view expected, const Json& value) {
  return fail(noun_ + " " + in_quotes(name) + " must be " + std::string(expected) + ", not " +
              describe(value));
}

}  // namespace psos::control
