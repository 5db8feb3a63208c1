// A recursive-descent JSON reader (RFC 8259) that records the position of every value and key.
// nlohmann::json's own parser reports positions only for errors, so the reading is done here and
// nlohmann::json holds the values.
#include "system/json_document.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>

#include "mqtt/topic.hpp"
#include "system/diagnostic.hpp"

namespace psos::system {

std::string child_path(std::string_view parent, std::string_view key) {
  std::string path(parent);
  if (!path.empty()) path += '/';
  for (const char c : key) {
    if (c == '~') {
      path += "~0";
    } else if (c == '/') {
      path += "~1";
    } else {
      path += c;
    }
  }
  return path;
}

std::string child_path(std::string_view parent, std::size_t index) {
  return child_path(parent, std::to_string(index));
}

namespace {

bool is_continuation(char c) {
  return (static_cast<unsigned char>(c) & 0xC0) == 0x80;
}

std::uint32_t count_characters(std::string_view text) {
  return static_cast<std::uint32_t>(
      std::count_if(text.begin(), text.end(), [](char c) { return !is_continuation(c); }));
}

}  // namespace

const JsonDocument::Place* JsonDocument::find(std::string_view path) const {
  // Fall back to the nearest ancestor that was recorded (a missing key's object).
  std::string key(path);
  for (;;) {
    const auto it = places_.find(key);
    if (it != places_.end()) return &it->second;
    if (key.empty()) return nullptr;
    const std::size_t slash = key.rfind('/');
    key.resize(slash == std::string::npos ? 0 : slash);
  }
}

Position JsonDocument::at(std::string_view path) const {
  const Place* place = find(path);
  return place ? place->value : Position{};
}

Position JsonDocument::key_at(std::string_view path) const {
  const Place* place = find(path);
  return place ? place->key : Position{};
}

Position JsonDocument::inside(std::string_view path, std::size_t offset) const {
  const auto it = places_.find(std::string(path));
  if (it == places_.end()) return at(path);
  const Place& place = it->second;
  if (!place.verbatim || place.offset + 1 + offset > text_.size()) return place.value;
  Position position = place.value;
  position.column += 1 + count_characters(std::string_view(text_).substr(place.offset + 1, offset));
  return position;
}

// The reader proper: one instance per read_json call.
class JsonReader {
 public:
  JsonReader(std::string_view text, const JsonReadOptions& options)
      : text_(text), options_(options) {
    // A byte order mark is no character of the first line's columns.
    if (text_.starts_with("\xEF\xBB\xBF")) pos_ = 3;
    line_starts_.push_back(pos_);
    cursor_offset_ = pos_;
    for (std::size_t i = 0; i < text_.size(); ++i)
      if (text_[i] == '\n') line_starts_.push_back(i + 1);
  }

  JsonReadResult read() {
    JsonReadResult result;
    JsonDocument document;
    document.text_ = std::string(text_);
    places_ = &document.places_;
    try {
      document.root_ = value("", std::nullopt, 0, true);
      skip_space();
      if (pos_ < text_.size()) fail("", "unexpected " + found() + " after the JSON value");
      result.document = std::move(document);
    } catch (const SyntaxError&) {
    }
    result.problems = std::move(problems_);
    return result;
  }

 private:
  struct SyntaxError {};

  // Positions are asked for in increasing order while reading: counting on from the last one
  // keeps long lines (minified files) linear.
  Position position(std::size_t offset) {
    const auto line = std::upper_bound(line_starts_.begin(), line_starts_.end(), offset) - 1;
    const std::size_t start = *line;
    if (cursor_offset_ < start || cursor_offset_ > offset) {
      cursor_offset_ = start;
      cursor_column_ = 1;
    }
    cursor_column_ += count_characters(text_.substr(cursor_offset_, offset - cursor_offset_));
    cursor_offset_ = offset;
    return {static_cast<std::uint32_t>(line - line_starts_.begin() + 1), cursor_column_};
  }

  [[noreturn]] void fail(const std::string& path, std::string message) {
    fail_at(pos_, path, std::move(message));
  }
  [[noreturn]] void fail_at(std::size_t offset, const std::string& path, std::string message) {
    problems_.push_back({position(offset), path, std::move(message)});
    throw SyntaxError{};
  }

  // What is at pos_, for "expected X, found Y".
  std::string found() const {
    if (pos_ >= text_.size()) return "end of input";
    const auto c = static_cast<unsigned char>(text_[pos_]);
    if (c < 0x20 || c == 0x7F) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "0x%02X", c);
      return std::string("control character ") + hex;
    }
    if (c >= 0x80) return "non-ASCII character";
    if (options_.redact) return "character";
    return std::string("'") + static_cast<char>(c) + "'";
  }

  // A hint for the usual ways text is almost JSON.
  std::string hint() const {
    if (pos_ >= text_.size()) return "";
    const char c = text_[pos_];
    if (c == '/') return " (JSON has no comments: use a \"description\" key)";
    if (c == '\'') return " (JSON strings need double quotes)";
    if (std::isalpha(static_cast<unsigned char>(c))) return " (JSON strings need double quotes)";
    return "";
  }

  void skip_space() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' ||
                                   text_[pos_] == '\n' || text_[pos_] == '\r'))
      ++pos_;
  }

  void record(const std::string& path, std::size_t start, std::optional<Position> key,
              bool verbatim) {
    const Position at = position(start);
    (*places_)[path] = {at, key.value_or(at), verbatim, start};
  }

  nlohmann::json value(const std::string& path, std::optional<Position> key, std::size_t depth,
                       bool keep) {
    skip_space();
    const std::size_t start = pos_;
    if (pos_ >= text_.size()) fail(path, "unexpected end of input: expected a value");
    const char c = text_[pos_];
    if (c == '{' || c == '[') {
      if (depth >= options_.max_depth)
        fail(path, "values nested deeper than " + std::to_string(options_.max_depth) + " levels");
      if (keep) record(path, start, key, false);
      return c == '{' ? object(path, depth, keep) : array(path, depth, keep);
    }
    if (c == '"') {
      bool verbatim = true;
      std::string s = string(path, verbatim);
      if (keep) record(path, start, key, verbatim);
      return s;
    }
    if (keep) record(path, start, key, false);
    if (c == '-' || (c >= '0' && c <= '9')) return number(path);
    for (const auto& [word, literal] : {std::pair<std::string_view, nlohmann::json>{"true", true},
                                        {"false", false},
                                        {"null", nullptr}}) {
      if (text_.substr(pos_, word.size()) == word) {
        pos_ += word.size();
        return literal;
      }
    }
    fail(path, "expected a value, found " + found() + hint());
  }

  nlohmann::json object(const std::string& path, std::size_t depth, bool keep) {
    nlohmann::json result = nlohmann::json::object();
    ++pos_;  // '{'
    skip_space();
    if (pos_ < text_.size() && text_[pos_] == '}') {
      ++pos_;
      return result;
    }
    for (;;) {
      skip_space();
      if (pos_ >= text_.size() || text_[pos_] != '"') {
        if (pos_ < text_.size() && text_[pos_] == '}' && !result.empty())
          fail(path, "comma before '}': JSON allows no trailing comma");
        fail(path, "expected a key in double quotes, found " + found() + hint());
      }
      const std::size_t key_start = pos_;
      bool verbatim = true;
      const std::string key = string(path, verbatim);
      const std::string member = child_path(path, key);
      skip_space();
      if (pos_ >= text_.size() || text_[pos_] != ':')
        fail(path, "expected ':' after the key " + in_quotes(key) + ", found " + found());
      ++pos_;
      const bool duplicate = result.contains(key);
      if (duplicate && keep) {
        const Position first = (*places_)[member].key;
        problems_.push_back({position(key_start), member,
                             "duplicate key " + in_quotes(key) + " (first at " + to_string(first) +
                                 "): the first value is used"});
      }
      nlohmann::json item = value(member, position(key_start), depth + 1, keep && !duplicate);
      if (!duplicate) result[key] = std::move(item);
      skip_space();
      if (pos_ < text_.size() && text_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (pos_ < text_.size() && text_[pos_] == '}') {
        ++pos_;
        return result;
      }
      fail(path, "expected ',' or '}' after the value of " + in_quotes(key) + ", found " + found() +
                     hint());
    }
  }

  nlohmann::json array(const std::string& path, std::size_t depth, bool keep) {
    nlohmann::json result = nlohmann::json::array();
    ++pos_;  // '['
    skip_space();
    if (pos_ < text_.size() && text_[pos_] == ']') {
      ++pos_;
      return result;
    }
    for (;;) {
      skip_space();
      if (pos_ < text_.size() && text_[pos_] == ']' && !result.empty())
        fail(path, "comma before ']': JSON allows no trailing comma");
      result.push_back(value(child_path(path, result.size()), std::nullopt, depth + 1, keep));
      skip_space();
      if (pos_ < text_.size() && text_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (pos_ < text_.size() && text_[pos_] == ']') {
        ++pos_;
        return result;
      }
      fail(path, "expected ',' or ']' after an array element, found " + found() + hint());
    }
  }

  int hex_digit(char c) const {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }

  // Four hex digits after "\u" at pos_ (which points at the 'u').
  std::uint32_t unicode_escape(const std::string& path) {
    std::uint32_t code = 0;
    for (std::size_t i = 1; i <= 4; ++i) {
      const int digit = pos_ + i < text_.size() ? hex_digit(text_[pos_ + i]) : -1;
      if (digit < 0) fail_at(pos_ - 1, path, "\\u must be followed by four hex digits");
      code = code << 4 | static_cast<std::uint32_t>(digit);
    }
    pos_ += 5;
    return code;
  }

  static void append_utf8(std::string& out, std::uint32_t code) {
    if (code < 0x80) {
      out += static_cast<char>(code);
    } else if (code < 0x800) {
      out += static_cast<char>(0xC0 | code >> 6);
      out += static_cast<char>(0x80 | (code & 0x3F));
    } else if (code < 0x10000) {
      out += static_cast<char>(0xE0 | code >> 12);
      out += static_cast<char>(0x80 | (code >> 6 & 0x3F));
      out += static_cast<char>(0x80 | (code & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | code >> 18);
      out += static_cast<char>(0x80 | (code >> 12 & 0x3F));
      out += static_cast<char>(0x80 | (code >> 6 & 0x3F));
      out += static_cast<char>(0x80 | (code & 0x3F));
    }
  }

  // A string at pos_ (the opening quote); `verbatim` is cleared when it holds an escape.
  std::string string(const std::string& path, bool& verbatim) {
    const std::size_t start = pos_;
    ++pos_;
    std::string out;
    for (;;) {
      if (pos_ >= text_.size()) fail_at(start, path, "string not closed: missing '\"'");
      const char c = text_[pos_];
      if (c == '"') break;
      if (static_cast<unsigned char>(c) < 0x20) {
        fail(path, c == '\n'
                       ? "line break in a string: write \\n, or close the string with '\"'"
                       : "control character in a string: write it as an escape (\\t, \\u0001)");
      }
      if (c != '\\') {
        out += c;
        ++pos_;
        continue;
      }
      verbatim = false;
      const std::size_t escape = pos_;
      ++pos_;
      if (pos_ >= text_.size()) fail_at(start, path, "string not closed: missing '\"'");
      const char e = text_[pos_];
      static constexpr std::string_view kFrom = "\"\\/bfnrt";
      static constexpr std::string_view kTo = "\"\\/\b\f\n\r\t";
      if (const std::size_t k = kFrom.find(e); k != std::string_view::npos) {
        out += kTo[k];
        ++pos_;
        continue;
      }
      if (e != 'u') {
        fail_at(escape, path,
                options_.redact ? "unknown escape in a string"
                                : "unknown escape '\\" + std::string(1, e) +
                                      "' in a string (write \\\\ for a backslash)");
      }
      std::uint32_t code = unicode_escape(path);
      if (code >= 0xDC00 && code <= 0xDFFF)
        fail_at(escape, path, "\\u escape of a lone low surrogate");
      if (code >= 0xD800 && code <= 0xDBFF) {
        if (text_.substr(pos_, 2) != "\\u")
          fail_at(escape, path, "\\u escape of a high surrogate without its low surrogate");
        ++pos_;
        const std::uint32_t low = unicode_escape(path);
        if (low < 0xDC00 || low > 0xDFFF)
          fail_at(escape, path, "\\u escape of a high surrogate without its low surrogate");
        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
      }
      if (code == 0) fail_at(escape, path, "\\u0000 is not allowed in a string");
      append_utf8(out, code);
    }
    const std::string_view raw = text_.substr(start + 1, pos_ - start - 1);
    if (const std::size_t bad = mqtt::find_invalid_utf8(raw); bad != std::string_view::npos)
      fail_at(start + 1 + bad, path, "invalid UTF-8 in a string");
    ++pos_;  // the closing quote
    return out;
  }

  nlohmann::json number(const std::string& path) {
    const std::size_t start = pos_;
    auto digits = [&] {
      const std::size_t from = pos_;
      while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9')
        ++pos_;
      return pos_ - from;
    };
    if (text_[pos_] == '-') ++pos_;
    const std::size_t int_start = pos_;
    const std::size_t int_digits = digits();
    if (int_digits == 0) fail(path, "expected a digit after '-', found " + found());
    if (int_digits > 1 && text_[int_start] == '0')
      fail_at(int_start, path, "a number cannot start with 0 (JSON has no octal)");
    bool integral = true;
    if (pos_ < text_.size() && text_[pos_] == '.') {
      ++pos_;
      integral = false;
      if (digits() == 0) fail(path, "expected a digit after '.', found " + found());
    }
    if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
      ++pos_;
      integral = false;
      if (pos_ < text_.size() && (text_[pos_] == '+' || text_[pos_] == '-')) ++pos_;
      if (digits() == 0) fail(path, "expected a digit in the exponent, found " + found());
    }
    const char* first = text_.data() + start;
    const char* last = text_.data() + pos_;
    if (integral) {
      std::int64_t i = 0;
      if (std::from_chars(first, last, i).ec == std::errc{}) return i;
      std::uint64_t u = 0;
      if (std::from_chars(first, last, u).ec == std::errc{}) return u;
    }
    double d = 0;
    const auto [end, ec] = std::from_chars(first, last, d);
    if (ec != std::errc{} || end != last || !std::isfinite(d))
      fail_at(start, path, "number out of range");
    return d;
  }

  std::string_view text_;
  JsonReadOptions options_;
  std::size_t pos_ = 0;
  std::vector<std::size_t> line_starts_;
  std::size_t cursor_offset_ = 0;  // the last position computed, on its line
  std::uint32_t cursor_column_ = 1;
  std::unordered_map<std::string, JsonDocument::Place>* places_ = nullptr;
  std::vector<JsonProblem> problems_;
};

JsonReadResult read_json(std::string_view text, const JsonReadOptions& options) {
  return JsonReader(text, options).read();
}

}  // namespace psos::system
