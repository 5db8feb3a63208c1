// What the broker's security files (password file, ACL) share: whole-file reads, line splitting,
// and one error that lists every problem of a file as FILE:LINE: message.
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

// "SOURCE:LINE: message"
std::string located(std::string_view source, std::size_t line, std::string_view message);

}  // namespace psos::router
