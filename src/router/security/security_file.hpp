// What security files (the broker's password file and ACL, control/'s keys and trust files)
// share: whole-file reads, line splitting, one error that lists every problem of a file as
// FILE:LINE: message, and atomic writes readable by their owner only.
#pragma once

#include <cstddef>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace psos::router {

// what() is the problems joined by newlines, each "FILE:LINE: message" (or "FILE: message" for
// the file as a whole), in file order.
class SecurityFileError : public std::runtime_error {
 public:
  explicit SecurityFileError(std::vector<std::string> problems);
  const std::vector<std::string>& problems() const noexcept { return problems_; }

 private:
  std::vector<std::string> problems_;
};

// The whole file; throws SecurityFileError("FILE: cannot read: <reason>").
std::string read_security_file(const std::filesystem::path& path);

// The lines of `text` without their '\n' or "\r\n"; no empty last line for a final '\n'.
std::vector<std::string_view> split_lines(std::string_view text);

// `s` without leading and trailing blanks (spaces and tabs).
std::string_view trim(std::string_view s) noexcept;
// Splits off the first blank-separated word of `s` (already trimmed); `s` keeps the rest,
// trimmed.
std::string_view take_word(std::string_view& s) noexcept;

// "SOURCE:LINE: message"
std::string located(std::string_view source, std::size_t line, std::string_view message);

// Replaces `path` with `text` atomically: a temporary file in the same directory with `perms`
// (the umask does not apply), fsync, rename over `path` (over the target when `path` is a
// symbolic link), fsync of the directory. A reader sees the old file or the new one, never a
// part. Throws std::runtime_error "cannot write FILE: what: reason".
void write_file_atomically(const std::filesystem::path& path, std::string_view text,
                           std::filesystem::perms perms);
// The same, but only when nothing is at `path`: false, and `path` left alone, when something is
// (even when it appears meanwhile: the file is put in place with link(2), which never replaces).
bool create_file_atomically(const std::filesystem::path& path, std::string_view text,
                            std::filesystem::perms perms);

}  // namespace psos::router
