// A JSON reader that remembers where every value and key came from (line and column), so that
// definition errors can point into the file, and that names the path of a syntax error.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace psos::system {

// 1-based line and column; columns count characters (UTF-8 code points), a tab as one.
struct Position {
  std::uint32_t line = 1;
  std::uint32_t column = 1;
  friend auto operator<=>(const Position&, const Position&) = default;
};

// Paths are JSON Pointers without the leading '/': "nodes/e01/services/1/every"; "" is the whole
// document. A key holding '/' or '~' is escaped as in RFC 6901 ("~1", "~0").
std::string child_path(std::string_view parent, std::string_view key);
std::string child_path(std::string_view parent, std::size_t index);

struct JsonProblem {
  Position at;
  std::string path;
  std::string message;
};

class JsonDocument {
 public:
  const nlohmann::json& root() const { return root_; }
  // Where the value at `path` starts; for a member its key's position is key_at(). Both fall
  // back to the nearest enclosing value the document knows (the root: 1:1).
  Position at(std::string_view path) const;
  Position key_at(std::string_view path) const;
  // The position of character `offset` (a byte offset) of the string at `path`, when the string
  // is written in the file as it reads (no escapes); otherwise the string's own position.
  Position inside(std::string_view path, std::size_t offset) const;

 private:
  friend class JsonReader;
  struct Place {
    Position value;
    Position key;
    bool verbatim = false;   // a string with no escapes: its characters map 1:1 onto the file
    std::size_t offset = 0;  // of the value's first byte in text_
  };
  const Place* find(std::string_view path) const;

  nlohmann::json root_;
  std::unordered_map<std::string, Place> places_;
  std::string text_;  // the source, to count columns inside verbatim strings
};

struct JsonReadResult {
  std::optional<JsonDocument> document;  // absent after a syntax error
  // The syntax error (last, when there is one) and duplicate keys, in file order.
  std::vector<JsonProblem> problems;
};

struct JsonReadOptions {
  // Leave the input out of messages ("unexpected character" rather than "unexpected 'x'"):
  // for files of secrets.
  bool redact = false;
  std::size_t max_depth = 200;
};

// Reads one JSON value filling all of `text` (a UTF-8 byte order mark is skipped). Strings must be
// valid UTF-8 without U+0000. A repeated key in an object is a problem, not an error: the first
// value stays and reading goes on.
JsonReadResult read_json(std::string_view text, const JsonReadOptions& options = {});

}  // namespace psos::system
