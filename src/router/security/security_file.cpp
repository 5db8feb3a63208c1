// Whole-file reads, FILE:LINE error reporting and private atomic writes for security files.
#include "router/security/security_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <system_error>

namespace psos::router {
namespace {

std::string join_lines(const std::vector<std::string>& lines) {
  std::string joined;
  for (const std::string& line : lines) {
    if (!joined.empty()) joined += '\n';
    joined += line;
  }
  return joined;
}

// Writes `text` to a new temporary file beside `target` with `perms`, then puts it at `target`:
// by rename(2) when `replace`, else by link(2), which fails with EEXIST rather than replace.
bool put_file(const std::filesystem::path& path, std::string_view text,
              std::filesystem::perms perms, bool replace) {
  std::filesystem::path target = path;
  std::error_code error;
  if (std::filesystem::is_symlink(path, error)) target = std::filesystem::weakly_canonical(path);
  const auto fail = [&](const std::string& what, int code) {
    return std::runtime_error("cannot write " + target.string() + ": " + what + ": " +
                              std::strerror(code));
  };

  std::string temporary = target.string() + ".tmp.XXXXXX";
  const int fd = ::mkstemp(temporary.data());  // mode 0600, O_EXCL
  if (fd < 0) throw fail("cannot create a temporary file beside it", errno);
  const auto abandon = [&](const std::string& what) {
    const int code = errno;
    ::close(fd);
    ::unlink(temporary.c_str());
    return fail(what, code);
  };
  if (::fchmod(fd, static_cast<mode_t>(perms & std::filesystem::perms::mask)) != 0)
    throw abandon("fchmod");
  std::size_t written = 0;
  while (written < text.size()) {
    const ssize_t n = ::write(fd, text.data() + written, text.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw abandon("write");
    written += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) throw abandon("fsync");
  if (::close(fd) != 0) {
    const int code = errno;
    ::unlink(temporary.c_str());
    throw fail("close", code);
  }
  if (replace) {
    if (::rename(temporary.c_str(), target.c_str()) != 0) {
      const int code = errno;
      ::unlink(temporary.c_str());
      throw fail("rename", code);
    }
  } else {
    const int linked = ::link(temporary.c_str(), target.c_str());
    const int code = errno;
    ::unlink(temporary.c_str());
    if (linked != 0 && code == EEXIST) return false;
    if (linked != 0) throw fail("link", code);
  }
  // The new name is durable only once the directory entry is on disk.
  const std::filesystem::path directory =
      target.has_parent_path() ? target.parent_path() : std::filesystem::path(".");
  const int dir_fd = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    ::fsync(dir_fd);
    ::close(dir_fd);
  }
  return true;
}

}  // namespace

SecurityFileError::SecurityFileError(std::vector<std::string> problems)
    : std::runtime_error(join_lines(problems)), problems_(std::move(problems)) {}

std::string read_security_file(const std::filesystem::path& path) {
  const auto fail = [&](const char* reason) {
    return SecurityFileError({path.string() + ": cannot read: " + reason});
  };
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw fail(std::strerror(errno));
  struct stat info {};
  if (::fstat(fd, &info) == 0 && S_ISDIR(info.st_mode)) {
    ::close(fd);
    throw fail("it is a directory");
  }
  std::string text;
  char buffer[8192];
  while (true) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      const int error = errno;
      ::close(fd);
      throw fail(std::strerror(error));
    }
    text.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return text;
}

std::vector<std::string_view> split_lines(std::string_view text) {
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    const std::size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    if (line.ends_with('\r')) line.remove_suffix(1);
    lines.push_back(line);
    if (end == std::string_view::npos) break;
    text.remove_prefix(end + 1);
  }
  return lines;
}

std::string_view trim(std::string_view s) noexcept {
  const auto blank = [](char c) { return c == ' ' || c == '\t'; };
  while (!s.empty() && blank(s.front()))
    s.remove_prefix(1);
  while (!s.empty() && blank(s.back()))
    s.remove_suffix(1);
  return s;
}

std::string_view take_word(std::string_view& s) noexcept {
  const std::size_t end = std::min(s.find_first_of(" \t"), s.size());
  const std::string_view word = s.substr(0, end);
  s = trim(s.substr(end));
  return word;
}

std::string located(std::string_view source, std::size_t line, std::string_view message) {
  std::string out(source);
  out += ':';
  out += std::to_string(line);
  out += ": ";
  out += message;
  return out;
}

void write_file_atomically(const std::filesystem::path& path, std::string_view text,
                           std::filesystem::perms perms) {
  put_file(path, text, perms, true);
}

bool create_file_atomically(const std::filesystem::path& path, std::string_view text,
                            std::filesystem::perms perms) {
  return put_file(path, text, perms, false);
}

}  // namespace psos::router
