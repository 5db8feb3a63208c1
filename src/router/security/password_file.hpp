// The broker's password file: user names with salted PBKDF2-HMAC-SHA512 hashes, written by
// `psos passwd` and read by the router to check CONNECT credentials. Format: docs/security.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "mqtt/reason_code.hpp"

namespace psos::router {

class PasswordFile {
 public:
  // Below 100,000 iterations a stolen file is cheap to brute-force: such lines are load errors.
  static constexpr std::uint32_t kMinIterations = 100'000;
  // OWASP's recommendation for PBKDF2-HMAC-SHA512.
  static constexpr std::uint32_t kDefaultIterations = 210'000;
  // Above this one login would cost tens of seconds of CPU: certainly a mistake.
  static constexpr std::uint32_t kMaxIterations = 10'000'000;
  static constexpr std::size_t kSaltSize = 16;  // bytes written by set(); shorter salts rejected
  static constexpr std::size_t kHashSize = 64;  // bytes: one SHA-512 block of output

  // No users: every verify() fails.
  PasswordFile() = default;

  // Throws SecurityFileError listing every problem as FILE:LINE: message.
  static PasswordFile load(const std::filesystem::path& path);
  // The same from text in memory; `source` names it in error messages.
  static PasswordFile parse(std::string_view text, std::string_view source);

  // Does `password` match the stored hash of `user`? An unknown user costs the same PBKDF2 run
  // as a known one, so timing does not reveal which user names exist; the comparison is
  // constant-time. Slow on purpose (about 0.1-0.3 s at the default iterations): call it off the
  // event loop. Safe to call from several threads at once.
  bool verify(std::string_view user, std::string_view password) const;

  // Adds `user` or replaces its hash, with a new random salt. A new user goes at the end of the
  // file; an existing one keeps its line. Throws std::invalid_argument for a user name that
  // user_name_problem() rejects, an empty password or iterations outside
  // [kMinIterations, kMaxIterations]; std::runtime_error when no random salt can be had.
  void set(std::string_view user, std::string_view password,
           std::uint32_t iterations = kDefaultIterations);
  // Removes `user`; false when there was no such user.
  bool remove(std::string_view user);

  bool contains(std::string_view user) const;
  std::size_t size() const noexcept { return index_.size(); }

  // The file's text: comments and blank lines where they were, one line per user.
  std::string to_string() const;
  // Writes to_string() atomically: a temporary file in the same directory with mode 0600,
  // fsync, rename over `path` (over the target when `path` is a symbolic link), fsync of the
  // directory. Throws std::runtime_error naming the file and the reason.
  void save(const std::filesystem::path& path) const;

 private:
  struct Credential {
    std::uint32_t iterations = 0;
    std::string salt;  // raw bytes
    std::string hash;  // raw bytes, kHashSize of them
  };
  // A line of the file: a user, or (user empty) a comment or blank line kept verbatim.
  struct Line {
    std::string user;
    Credential credential;
    std::string verbatim;
  };
  struct StringHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept {
      return std::hash<std::string_view>{}(s);
    }
  };

  void reindex();

  std::vector<Line> lines_;
  std::unordered_map<std::string, std::size_t, StringHash, std::equal_to<>> index_;
};

// Why `user` cannot be a user name in a password file, or nullptr when it can. A user name is
// non-empty well-formed UTF-8 without ':' or control characters, and does not start with '#' or
// whitespace (the file would read it as a comment or a different name).
const char* user_name_problem(std::string_view user) noexcept;

// The CONNECT decision: Success, BadUserNameOrPassword (v3.1.1 return code 4) or NotAuthorized
// (v3.1.1 return code 5). Without a password file (`passwords` null) every client is accepted.
// With one, a client without a user name is accepted only when `allow_anonymous`; a client with
// a user name must send that user's password, even when anonymous clients are allowed. Verifies
// a password, so it is as slow as PasswordFile::verify.
mqtt::ReasonCode check_login(const PasswordFile* passwords, bool allow_anonymous,
                             std::optional<std::string_view> user,
                             std::optional<std::string_view> password);

}  // namespace psos::router
