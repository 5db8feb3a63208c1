// Ed25519 with OpenSSL 3's EVP interface; key files and trust files.
#include "control/keys.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <pwd.h>
#include <unistd.h>

#include <cstdlib>
#include <mutex>
#include <stdexcept>
#include <system_error>

#include "router/security/base64.hpp"
#include "router/security/security_file.hpp"
#include "system/json_document.hpp"

namespace psos::control {
namespace {

namespace fs = std::filesystem;
using router::located;
using router::SecurityFileError;

constexpr fs::perms kPrivateFile = fs::perms::owner_read | fs::perms::owner_write;
constexpr fs::perms kPublicFile = kPrivateFile | fs::perms::group_read | fs::perms::others_read;

std::shared_ptr<evp_pkey_st> own(EVP_PKEY* key) {
  return std::shared_ptr<evp_pkey_st>(key, EVP_PKEY_free);
}

// OpenSSL's reason for the last failure, and an empty error queue: a failure left in the
// thread's queue would be blamed on the next TLS operation of the same thread.
std::string openssl_reason() {
  const unsigned long code = ERR_peek_last_error();
  char text[256] = "unknown OpenSSL error";
  if (code != 0) ERR_error_string_n(code, text, sizeof text);
  ERR_clear_error();
  return text;
}

struct DigestContext {
  DigestContext() : ctx(EVP_MD_CTX_new()) {}
  ~DigestContext() { EVP_MD_CTX_free(ctx); }
  DigestContext(const DigestContext&) = delete;
  DigestContext& operator=(const DigestContext&) = delete;
  EVP_MD_CTX* ctx;
};

const unsigned char* bytes(std::string_view s) {
  static const unsigned char kEmpty = 0;  // OpenSSL wants a pointer even for no bytes
  return s.empty() ? &kEmpty : reinterpret_cast<const unsigned char*>(s.data());
}

// The raw public key of an Ed25519 EVP_PKEY.
std::string raw_public_key(EVP_PKEY* key) {
  std::string raw(PublicKey::kSize, '\0');
  std::size_t size = raw.size();
  if (EVP_PKEY_get_raw_public_key(key, reinterpret_cast<unsigned char*>(raw.data()), &size) != 1 ||
      size != PublicKey::kSize)
    throw std::runtime_error("OpenSSL could not give the public key: " + openssl_reason());
  return raw;
}

// Refuses to prompt on the terminal for a passphrase: psos reads unencrypted keys only.
extern "C" int no_passphrase(char*, int, int, void*) {
  return 0;
}

std::string in_quotes(std::string_view s) {
  return "\"" + std::string(s) + "\"";
}

std::vector<TrustedKey> parse_key_lines(std::string_view text, std::string_view source,
                                        std::vector<std::string>& problems) {
  std::vector<TrustedKey> keys;
  std::size_t number = 0;
  for (const std::string_view raw : router::split_lines(text)) {
    ++number;
    std::string_view line = router::trim(raw);
    if (line.empty() || line.front() == '#') continue;
    try {
      PublicKey key = PublicKey::parse(router::take_word(line));
      keys.push_back(TrustedKey{std::string(line), std::move(key)});
    } catch (const std::invalid_argument& error) {
      problems.push_back(located(source, number, error.what()));
    }
  }
  return keys;
}

std::vector<TrustedKey> parse_key_object(std::string_view text, std::string_view source,
                                         std::vector<std::string>& problems) {
  std::vector<TrustedKey> keys;
  const system::JsonReadResult read = system::read_json(text);
  for (const system::JsonProblem& problem : read.problems)
    problems.push_back(located(source, problem.at.line, problem.message));
  if (!read.document) return keys;
  const system::JsonDocument& document = *read.document;
  if (!document.root().is_object()) {
    problems.push_back(
        located(source, 1,
                "a JSON trust file holds one object of names to keys, like {\"alice\": "
                "\"ed25519:BASE64\"}"));
    return keys;
  }
  for (const auto& [name, value] : document.root().items()) {
    const std::string path = system::child_path("", name);
    if (!value.is_string()) {
      problems.push_back(located(source, document.at(path).line,
                                 in_quotes(name) + ": a key is a string \"ed25519:BASE64\""));
      continue;
    }
    try {
      keys.push_back(TrustedKey{name, PublicKey::parse(value.get<std::string>())});
    } catch (const std::invalid_argument& error) {
      problems.push_back(
          located(source, document.at(path).line, in_quotes(name) + ": " + error.what()));
    }
  }
  return keys;
}

}  // namespace

PublicKey PublicKey::parse(std::string_view text) {
  if (!text.starts_with(kPrefix)) {
    const std::string message = "a public key starts with 'ed25519:'";
    if (text.empty()) throw std::invalid_argument(message + " (the text is empty)");
    // The start of what was given, as printable ASCII: it may come from an untrusted request.
    std::string shown;
    for (const char c : text.substr(0, 16))
      shown += c >= ' ' && c <= '~' ? c : '?';
    throw std::invalid_argument(message + ", not '" + shown + (text.size() > 16 ? "...'" : "'"));
  }
  const std::optional<std::string> raw = router::base64_decode(text.substr(kPrefix.size()));
  if (!raw)
    throw std::invalid_argument(
        "the public key after 'ed25519:' is not base64 (A-Z a-z 0-9 + / "
        "with '=' padding)");
  if (raw->size() != kSize)
    throw std::invalid_argument("the public key has " + std::to_string(raw->size()) +
                                " bytes; an Ed25519 public key has 32");
  return from_raw(*raw);
}

struct PublicKey::Evp {
  Evp() = default;
  Evp(const Evp&) = delete;
  Evp& operator=(const Evp&) = delete;
  ~Evp() { EVP_PKEY_free(key); }

  std::once_flag made;
  EVP_PKEY* key = nullptr;
};

PublicKey PublicKey::from_raw(std::string_view bytes_in) {
  if (bytes_in.size() != kSize)
    throw std::invalid_argument("an Ed25519 public key has 32 bytes, not " +
                                std::to_string(bytes_in.size()));
  PublicKey key;
  key.raw_ = std::string(bytes_in);
  key.evp_ = std::make_shared<Evp>();
  return key;
}

std::string PublicKey::to_string() const {
  return std::string(kPrefix) + router::base64_encode(raw_);
}

bool PublicKey::verify(std::string_view message, std::string_view signature) const noexcept {
  if (signature.size() != kSignatureSize || !evp_) return false;
  std::call_once(evp_->made, [this] {
    // Any 32 bytes are taken: a key that is not a point on the curve fails every verify.
    evp_->key = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, bytes(raw_), raw_.size());
    if (evp_->key == nullptr) ERR_clear_error();
  });
  if (evp_->key == nullptr) return false;
  DigestContext digest;
  const bool ok = digest.ctx != nullptr &&
                  EVP_DigestVerifyInit(digest.ctx, nullptr, nullptr, nullptr, evp_->key) == 1 &&
                  EVP_DigestVerify(digest.ctx, bytes(signature), signature.size(), bytes(message),
                                   message.size()) == 1;
  if (!ok) ERR_clear_error();
  return ok;
}

PrivateKey::PrivateKey(std::shared_ptr<evp_pkey_st> key, PublicKey public_key)
    : key_(std::move(key)), public_(std::move(public_key)) {}

PrivateKey PrivateKey::generate() {
  EVP_PKEY* made = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  if (made == nullptr)
    throw std::runtime_error("OpenSSL could not generate an Ed25519 key: " + openssl_reason());
  auto key = own(made);
  return PrivateKey(key, PublicKey::from_raw(raw_public_key(made)));
}

PrivateKey PrivateKey::load(const fs::path& path) {
  return from_pem(router::read_security_file(path), path.string());
}

PrivateKey PrivateKey::from_pem(std::string_view pem, std::string_view source) {
  const auto fail = [&](const std::string& message) {
    return std::runtime_error(std::string(source) + ": " + message);
  };
  if (pem.find("-----BEGIN ENCRYPTED PRIVATE KEY-----") != std::string_view::npos)
    throw fail(
        "the key is encrypted with a passphrase; psos reads unencrypted keys only "
        "(protect the file with mode 0600 instead)");
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), BIO_free);
  EVP_PKEY* read =
      bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr) : nullptr;
  if (read == nullptr) {
    const std::string reason = openssl_reason();
    throw fail(
        "not a PEM private key (expected '-----BEGIN PRIVATE KEY-----' as psos keygen "
        "writes; OpenSSL says: " +
        reason + ")");
  }
  auto key = own(read);
  if (EVP_PKEY_get_id(read) != EVP_PKEY_ED25519) {
    const char* type = EVP_PKEY_get0_type_name(read);
    throw fail(std::string("a ") + (type ? type : "non-Ed25519") +
               " key; psos needs an Ed25519 key (psos keygen, or openssl genpkey -algorithm "
               "ed25519)");
  }
  return PrivateKey(key, PublicKey::from_raw(raw_public_key(read)));
}

std::string PrivateKey::to_pem() const {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
  if (!bio ||
      PEM_write_bio_PrivateKey(bio.get(), key_.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1)
    throw std::runtime_error("OpenSSL could not write the key as PEM: " + openssl_reason());
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(size));
}

void PrivateKey::save(const fs::path& path) const {
  router::write_file_atomically(path, to_pem(), kPrivateFile);
}

bool PrivateKey::save_new(const fs::path& path) const {
  return router::create_file_atomically(path, to_pem(), kPrivateFile);
}

std::string PrivateKey::sign(std::string_view message) const {
  std::string signature(PublicKey::kSignatureSize, '\0');
  std::size_t size = signature.size();
  DigestContext digest;
  if (digest.ctx == nullptr ||
      EVP_DigestSignInit(digest.ctx, nullptr, nullptr, nullptr, key_.get()) != 1 ||
      EVP_DigestSign(digest.ctx, reinterpret_cast<unsigned char*>(signature.data()), &size,
                     bytes(message), message.size()) != 1 ||
      size != PublicKey::kSignatureSize)
    throw std::runtime_error("OpenSSL could not sign: " + openssl_reason());
  return signature;
}

std::string public_key_line(const PublicKey& key, std::string_view name) {
  std::string line = key.to_string();
  if (!name.empty()) line += ' ' + std::string(name);
  return line + '\n';
}

void save_public_key(const fs::path& path, const PublicKey& key, std::string_view name) {
  router::write_file_atomically(path, public_key_line(key, name), kPublicFile);
}

fs::path default_key_dir() {
  const char* config = std::getenv("XDG_CONFIG_HOME");
  // The XDG Base Directory spec: a relative XDG_CONFIG_HOME is invalid and must be ignored.
  if (config != nullptr && config[0] == '/') return fs::path(config) / "psos";
  const char* home = std::getenv("HOME");
  if (home == nullptr || home[0] == '\0') {
    const passwd* entry = ::getpwuid(::getuid());
    home = entry != nullptr ? entry->pw_dir : nullptr;
  }
  if (home == nullptr || home[0] == '\0')
    throw std::runtime_error(
        "cannot find the key directory: neither XDG_CONFIG_HOME nor HOME is set");
  return fs::path(home) / ".config" / "psos";
}

void create_key_dir(const fs::path& dir) {
  std::error_code error;
  if (fs::is_directory(dir, error)) return;
  if (!fs::create_directories(dir, error) && !fs::is_directory(dir))
    throw std::runtime_error("cannot create the key directory " + dir.string() + ": " +
                             error.message());
  fs::permissions(dir, fs::perms::owner_all, error);
}

fs::path private_key_path(const fs::path& dir) {
  return dir / "admin.key";
}

fs::path public_key_path(const fs::path& private_key) {
  fs::path path = private_key;
  if (path.extension() == ".key") return path.replace_extension(".pub");
  return path += ".pub";
}

std::string default_key_name() {
  std::string user;
  if (const passwd* entry = ::getpwuid(::getuid()); entry != nullptr) user = entry->pw_name;
  if (user.empty())
    if (const char* name = std::getenv("USER")) user = name;
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
  if (user.empty()) return host;
  return host[0] == '\0' ? user : user + "@" + host;
}

UserKey load_or_create_user_key(const fs::path& dir) {
  create_key_dir(dir);
  const fs::path key_path = private_key_path(dir);
  bool created = false;
  std::optional<PrivateKey> key;
  std::error_code error;
  if (!fs::exists(key_path, error)) {
    key = PrivateKey::generate();
    created = key->save_new(key_path);
  }
  if (!created) key = PrivateKey::load(key_path);  // there, or written meanwhile by another psos

  const fs::path pub_path = public_key_path(key_path);
  const std::string line = public_key_line(key->public_key(), default_key_name());
  if (!router::create_file_atomically(pub_path, line, kPublicFile)) {
    bool matches = false;
    for (const TrustedKey& trusted : load_trust_file(pub_path))
      matches = matches || trusted.key == key->public_key();
    if (!matches)
      throw std::runtime_error(pub_path.string() + " holds another public key than " +
                               key_path.string() + ": delete " + pub_path.string() +
                               " to have it written again from the key");
  }
  return UserKey{std::move(*key), key_path, created};
}

UserPublicKey load_or_create_user_public_key(const fs::path& dir) {
  const fs::path key_path = private_key_path(dir);
  const fs::path pub_path = public_key_path(key_path);
  std::error_code error;
  if (fs::exists(key_path, error) && fs::exists(pub_path, error)) {
    std::vector<TrustedKey> keys = load_trust_file(pub_path);
    if (keys.size() != 1)
      throw std::runtime_error(pub_path.string() + " holds " + std::to_string(keys.size()) +
                               " keys, not the one public key of " + key_path.string() +
                               ": delete " + pub_path.string() +
                               " to have it written again from the key");
    return UserPublicKey{std::move(keys.front().key), key_path, false};
  }
  UserKey made = load_or_create_user_key(dir);
  return UserPublicKey{made.key.public_key(), std::move(made.path), made.created};
}

std::vector<TrustedKey> load_trust_file(const fs::path& path) {
  return parse_trust_file(router::read_security_file(path), path.string());
}

std::vector<TrustedKey> parse_trust_file(std::string_view text, std::string_view source) {
  std::vector<std::string> problems;
  constexpr std::string_view kByteOrderMark = "\xEF\xBB\xBF";  // some editors write one
  if (text.starts_with(kByteOrderMark)) text.remove_prefix(kByteOrderMark.size());
  const std::size_t first = text.find_first_not_of(" \t\r\n");
  const bool is_json =
      first != std::string_view::npos && (text[first] == '{' || text[first] == '[');
  std::vector<TrustedKey> keys =
      is_json ? parse_key_object(text, source, problems) : parse_key_lines(text, source, problems);
  if (problems.empty() && keys.empty())
    problems.push_back(std::string(source) +
                       ": no keys (expected lines 'ed25519:BASE64 [NAME]' or a JSON object of "
                       "names to keys)");
  if (!problems.empty()) throw SecurityFileError(std::move(problems));
  return keys;
}

}  // namespace psos::control
