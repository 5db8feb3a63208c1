// Definition errors as people and editors read them: `FILE:LINE:COL: json/path: message`.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "system/json_document.hpp"

namespace psos::system {

struct Diagnostic {
  std::string file;  // as the user named it
  Position at;
  std::string path;  // "nodes/e01/services/1/every"; "" for the whole document
  std::string message;
  friend bool operator==(const Diagnostic&, const Diagnostic&) = default;
};

using Diagnostics = std::vector<Diagnostic>;

// A file that cannot be read at all (missing, a directory, not permitted): `psos check` exits 2
// for it, where the problems inside a file that was read are Diagnostics (exit 1). what() is
// "cannot read PATH: reason", or "cannot read the secrets file PATH: reason" when `kind` names it.
class UnreadableFile : public std::runtime_error {
 public:
  UnreadableFile(std::string path, std::string reason, std::string_view kind = {});
  const std::string& path() const noexcept { return path_; }
  // Why, in words: "No such file or directory".
  const std::string& reason() const noexcept { return reason_; }

 private:
  std::string path_;
  std::string reason_;
};

// "hello.json:12:17: nodes/e01/services/1/every: bad duration ..."; the whole document's path
// prints as "(root)".
std::string to_string(const Diagnostic& diagnostic);
// "12:17"
std::string to_string(Position position);
// Orders by file and position (stable for one position) and drops exact repeats: a broker
// checked once per node that uses it reports each problem once.
void sort_and_deduplicate(Diagnostics& diagnostics);

// `text` as a JSON string literal, for messages: "a\"b".
std::string in_quotes(std::string_view text);

// The candidate closest to `word` when it is close enough to be a likely typo; empty otherwise.
std::string_view closest(std::string_view word, const std::vector<std::string_view>& candidates);
// "; did you mean \"every\"?" or "".
std::string did_you_mean(std::string_view word, const std::vector<std::string_view>& candidates);

}  // namespace psos::system
