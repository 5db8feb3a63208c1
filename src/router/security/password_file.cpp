// Password file parsing, PBKDF2-HMAC-SHA512 hashing (OpenSSL) and atomic rewriting.
#include "router/security/password_file.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <charconv>
#include <stdexcept>

#include "mqtt/topic.hpp"
#include "router/security/base64.hpp"
#include "router/security/security_file.hpp"

namespace psos::router {
namespace {

constexpr std::string_view kScheme = "pbkdf2-sha512";
constexpr std::string_view kLineFormat = "USER:$pbkdf2-sha512$ITERATIONS$SALT$HASH";

std::string pbkdf2_sha512(std::string_view password, std::string_view salt,
                          std::uint32_t iterations) {
  std::string out(PasswordFile::kHashSize, '\0');
  const int ok =
      PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                        reinterpret_cast<const unsigned char*>(salt.data()),
                        static_cast<int>(salt.size()), static_cast<int>(iterations), EVP_sha512(),
                        static_cast<int>(out.size()), reinterpret_cast<unsigned char*>(out.data()));
  if (ok != 1) throw std::runtime_error("PBKDF2-HMAC-SHA512 failed in OpenSSL");
  return out;
}

bool is_blank(char c) noexcept {
  return c == ' ' || c == '\t';
}

std::string_view trim_end(std::string_view s) noexcept {
  while (!s.empty() && is_blank(s.back()))
    s.remove_suffix(1);
  return s;
}

bool is_comment_or_blank(std::string_view line) noexcept {
  std::size_t i = 0;
  while (i < line.size() && is_blank(line[i]))
    ++i;
  return i == line.size() || line[i] == '#';
}

// Reads "$pbkdf2-sha512$ITERATIONS$SALT$HASH" into the out-parameters, or says what is wrong.
std::optional<std::string> parse_credential(std::string_view text, std::uint32_t& iterations,
                                            std::string& salt, std::string& hash) {
  std::vector<std::string_view> fields;
  while (true) {
    const std::size_t dollar = text.find('$');
    fields.push_back(text.substr(0, dollar));
    if (dollar == std::string_view::npos) break;
    text.remove_prefix(dollar + 1);
  }
  if (fields.size() < 2 || !fields[0].empty())
    return "expected " + std::string(kLineFormat) + " after the user name";
  if (fields[1] != kScheme) {
    std::string message =
        "unknown hash scheme '$" + std::string(fields[1]) + "' (only $pbkdf2-sha512 is supported)";
    if (fields[1] == "6" || fields[1] == "7")
      message += "; this looks like a Mosquitto hash, which cannot be converted";
    return message + ": set the password again with psos passwd";
  }
  if (fields.size() != 5)
    return "expected " + std::string(kLineFormat) + " (4 '$'-separated fields, found " +
           std::to_string(fields.size() - 1) + ")";
  const std::string_view count = fields[2];
  const auto [end, error] = std::from_chars(count.data(), count.data() + count.size(), iterations);
  if (count.empty() || error != std::errc{} || end != count.data() + count.size())
    return "iteration count '" + std::string(count) + "' is not a number between " +
           std::to_string(PasswordFile::kMinIterations) + " and " +
           std::to_string(PasswordFile::kMaxIterations);
  if (iterations < PasswordFile::kMinIterations || iterations > PasswordFile::kMaxIterations)
    return "iteration count " + std::to_string(iterations) + " is outside " +
           std::to_string(PasswordFile::kMinIterations) + ".." +
           std::to_string(PasswordFile::kMaxIterations) +
           ": set the password again with psos passwd";
  std::optional<std::string> decoded = base64_decode(fields[3]);
  if (!decoded) return "salt is not valid base64";
  if (decoded->size() < PasswordFile::kSaltSize)
    return "salt has " + std::to_string(decoded->size()) + " bytes, at least " +
           std::to_string(PasswordFile::kSaltSize) + " needed";
  salt = std::move(*decoded);
  decoded = base64_decode(fields[4]);
  if (!decoded) return "hash is not valid base64";
  if (decoded->size() != PasswordFile::kHashSize)
    return "hash has " + std::to_string(decoded->size()) + " bytes, " +
           std::to_string(PasswordFile::kHashSize) + " expected";
  hash = std::move(*decoded);
  return std::nullopt;
}

}  // namespace

const char* user_name_problem(std::string_view user) noexcept {
  if (user.empty()) return "user name is empty";
  if (!mqtt::is_valid_utf8(user)) return "user name is not well-formed UTF-8";
  if (user.find(':') != std::string_view::npos) return "user name contains ':'";
  for (const char c : user) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7F) return "user name contains a control character";
  }
  if (user.front() == '#') return "user name starts with '#' (the file would read a comment)";
  if (is_blank(user.front())) return "user name starts with whitespace";
  return nullptr;
}

PasswordFile PasswordFile::load(const std::filesystem::path& path) {
  return parse(read_security_file(path), path.string());
}

PasswordFile PasswordFile::parse(std::string_view text, std::string_view source) {
  PasswordFile file;
  std::vector<std::string> problems;
  std::unordered_map<std::string, std::size_t, StringHash, std::equal_to<>> first_line;
  std::size_t number = 0;
  for (const std::string_view raw : split_lines(text)) {
    ++number;
    if (is_comment_or_blank(raw)) {
      file.lines_.push_back(Line{{}, {}, std::string(raw)});
      continue;
    }
    const std::string_view line = trim_end(raw);
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) {
      problems.push_back(
          located(source, number, "expected " + std::string(kLineFormat) + " (no ':' found)"));
      continue;
    }
    const std::string_view user = line.substr(0, colon);
    if (const char* problem = user_name_problem(user)) {
      problems.push_back(located(source, number, problem));
      continue;
    }
    Line entry{std::string(user), {}, {}};
    if (auto problem = parse_credential(line.substr(colon + 1), entry.credential.iterations,
                                        entry.credential.salt, entry.credential.hash)) {
      problems.push_back(located(source, number, "user '" + entry.user + "': " + *problem));
      continue;
    }
    if (const auto seen = first_line.find(user); seen != first_line.end()) {
      problems.push_back(located(
          source, number,
          "user '" + entry.user + "' is already defined on line " + std::to_string(seen->second)));
      continue;
    }
    first_line.emplace(entry.user, number);
    file.lines_.push_back(std::move(entry));
  }
  if (!problems.empty()) throw SecurityFileError(std::move(problems));
  file.reindex();
  return file;
}

void PasswordFile::reindex() {
  index_.clear();
  for (std::size_t i = 0; i < lines_.size(); ++i)
    if (!lines_[i].user.empty()) index_.emplace(lines_[i].user, i);
}

bool PasswordFile::verify(std::string_view user, std::string_view password) const {
  // Stands in for an unknown user so that a failed lookup takes as long as a failed password.
  static const Credential kDecoy{kDefaultIterations, std::string(kSaltSize, '\0'),
                                 std::string(kHashSize, '\0')};
  const auto found = index_.find(user);
  const bool known = found != index_.end();
  const Credential& stored = known ? lines_[found->second].credential : kDecoy;
  const std::string derived = pbkdf2_sha512(password, stored.salt, stored.iterations);
  const bool equal = CRYPTO_memcmp(derived.data(), stored.hash.data(), kHashSize) == 0;
  return known && equal;
}

void PasswordFile::set(std::string_view user, std::string_view password, std::uint32_t iterations) {
  if (const char* problem = user_name_problem(user)) throw std::invalid_argument(problem);
  if (password.empty()) throw std::invalid_argument("password is empty");
  if (iterations < kMinIterations || iterations > kMaxIterations)
    throw std::invalid_argument("iteration count " + std::to_string(iterations) + " is outside " +
                                std::to_string(kMinIterations) + ".." +
                                std::to_string(kMaxIterations));
  Credential credential;
  credential.iterations = iterations;
  credential.salt.resize(kSaltSize);
  if (RAND_bytes(reinterpret_cast<unsigned char*>(credential.salt.data()),
                 static_cast<int>(kSaltSize)) != 1)
    throw std::runtime_error("OpenSSL could not generate a random salt (RAND_bytes failed)");
  credential.hash = pbkdf2_sha512(password, credential.salt, iterations);
  if (const auto found = index_.find(user); found != index_.end()) {
    lines_[found->second].credential = std::move(credential);
    return;
  }
  lines_.push_back(Line{std::string(user), std::move(credential), {}});
  index_.emplace(lines_.back().user, lines_.size() - 1);
}

bool PasswordFile::remove(std::string_view user) {
  const auto found = index_.find(user);
  if (found == index_.end()) return false;
  lines_.erase(lines_.begin() + static_cast<std::ptrdiff_t>(found->second));
  reindex();
  return true;
}

bool PasswordFile::contains(std::string_view user) const {
  return index_.contains(user);
}

std::string PasswordFile::to_string() const {
  std::string text;
  for (const Line& line : lines_) {
    if (line.user.empty()) {
      text += line.verbatim;
    } else {
      text += line.user;
      text += ":$";
      text += kScheme;
      text += '$';
      text += std::to_string(line.credential.iterations);
      text += '$';
      text += base64_encode(line.credential.salt);
      text += '$';
      text += base64_encode(line.credential.hash);
    }
    text += '\n';
  }
  return text;
}

void PasswordFile::save(const std::filesystem::path& path) const {
  write_file_atomically(path, to_string(),
                        std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
}

mqtt::ReasonCode check_login(const PasswordFile* passwords, bool allow_anonymous,
                             std::optional<std::string_view> user,
                             std::optional<std::string_view> password) {
  if (passwords == nullptr) return mqtt::ReasonCode::Success;
  if (!user) return allow_anonymous ? mqtt::ReasonCode::Success : mqtt::ReasonCode::NotAuthorized;
  if (!password || !passwords->verify(*user, *password))
    return mqtt::ReasonCode::BadUserNameOrPassword;
  return mqtt::ReasonCode::Success;
}

}  // namespace psos::router
