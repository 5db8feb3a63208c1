// Ed25519 keys of the control plane: the public key text "ed25519:BASE64", private keys in PEM
// PKCS#8 files, signatures, where a user's keys live and the lists of keys a node trusts.
// The formats are specified in docs/control.md.
#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

struct evp_pkey_st;  // OpenSSL's EVP_PKEY, kept out of this header

namespace psos::control {

class PublicKey {
 public:
  static constexpr std::size_t kSize = 32;                 // raw bytes
  static constexpr std::size_t kSignatureSize = 64;        // bytes of an Ed25519 signature
  static constexpr std::string_view kPrefix = "ed25519:";  // then standard base64 with padding

  // "ed25519:" + the base64 of 32 bytes. Throws std::invalid_argument saying what is wrong
  // with `text` ("a public key starts with 'ed25519:'", "... is not base64", "... has 31
  // bytes; an Ed25519 public key has 32").
  static PublicKey parse(std::string_view text);
  // From the 32 raw bytes; throws std::invalid_argument for another length.
  static PublicKey from_raw(std::string_view bytes);

  // "ed25519:BASE64"
  std::string to_string() const;
  // The 32 raw bytes.
  const std::string& raw() const noexcept { return raw_; }

  // Is `signature` a valid Ed25519 signature of `message` by this key? false for any wrong
  // input (wrong length, not a point on the curve, forged), never an exception.
  bool verify(std::string_view message, std::string_view signature) const noexcept;

  friend bool operator==(const PublicKey& a, const PublicKey& b) noexcept {
    return a.raw_ == b.raw_;
  }

 private:
  PublicKey() = default;

  // OpenSSL's form, made at the first verify() and shared by the copies: parsing keys at start
  // would load OpenSSL's providers into every node (about 2 MB of memory) before any command.
  struct Evp;

  std::string raw_;
  std::shared_ptr<Evp> evp_;
};

class PrivateKey {
 public:
  // A new random key. Throws std::runtime_error if OpenSSL cannot make one.
  static PrivateKey generate();
  // An unencrypted Ed25519 key in PEM PKCS#8 ("-----BEGIN PRIVATE KEY-----"), as OpenSSL's
  // PEM_write_PrivateKey, `openssl genpkey -algorithm ed25519` and Python cryptography's
  // PrivateFormat.PKCS8 write it. Throws std::runtime_error "FILE: what is wrong".
  static PrivateKey load(const std::filesystem::path& path);
  // The same from text; `source` names it in error messages.
  static PrivateKey from_pem(std::string_view pem, std::string_view source);

  // The PEM PKCS#8 text of the key.
  std::string to_pem() const;
  // Writes to_pem() atomically with mode 0600, replacing `path`; std::runtime_error on failure.
  void save(const std::filesystem::path& path) const;
  // The same, but false (and `path` left alone) when something is already at `path`.
  bool save_new(const std::filesystem::path& path) const;

  const PublicKey& public_key() const noexcept { return public_; }
  // The 64-byte Ed25519 signature of `message`.
  std::string sign(std::string_view message) const;

 private:
  PrivateKey(std::shared_ptr<evp_pkey_st> key, PublicKey public_key);

  std::shared_ptr<evp_pkey_st> key_;
  PublicKey public_;
};

// A public key file line: "ed25519:BASE64 NAME\n", or "ed25519:BASE64\n" with no name.
std::string public_key_line(const PublicKey& key, std::string_view name);
// Writes public_key_line(key, name) to `path` atomically with mode 0644, replacing it.
void save_public_key(const std::filesystem::path& path, const PublicKey& key,
                     std::string_view name);

// Where a user's keys live: $XDG_CONFIG_HOME/psos when XDG_CONFIG_HOME is an absolute path,
// else $HOME/.config/psos (HOME from the password database when unset). Throws
// std::runtime_error when neither can be found.
std::filesystem::path default_key_dir();
// Creates `dir` (and its parents) when missing, `dir` itself with mode 0700: only its owner
// lists and enters it. Throws std::runtime_error naming it.
void create_key_dir(const std::filesystem::path& dir);
// The private key file in `dir`: admin.key.
std::filesystem::path private_key_path(const std::filesystem::path& dir);
// The public key file that goes with a private key file: NAME.key -> NAME.pub (admin.key ->
// admin.pub), any other FILE -> FILE.pub (as ssh-keygen's id_ed25519 -> id_ed25519.pub).
std::filesystem::path public_key_path(const std::filesystem::path& private_key);
// "user@host" of the running process, the name written into a new public key file.
std::string default_key_name();

// The user's key pair in `dir`: loaded when admin.key exists, else created (admin.key 0600,
// admin.pub 0644, `dir` made 0700 when missing). A missing admin.pub is written again from
// the key; an admin.pub that holds another key is an error. Safe when two processes do this
// at once: both end up with the same key. Throws std::runtime_error naming the file.
struct UserKey {
  PrivateKey key;
  std::filesystem::path path;  // of admin.key
  bool created = false;        // true when this call made the key
};
UserKey load_or_create_user_key(const std::filesystem::path& dir);

// The public half of the user's key pair in `dir`, for a node that trusts it: read from
// admin.pub when admin.key and admin.pub are both there (what load_or_create_user_key checks,
// the tools that sign check again), else as load_or_create_user_key makes or mends them. A node
// that only verifies then loads no private key, and no OpenSSL at start.
struct UserPublicKey {
  PublicKey key;
  std::filesystem::path path;  // of admin.key
  bool created = false;        // true when this call made the key pair
};
UserPublicKey load_or_create_user_public_key(const std::filesystem::path& dir);

// A key a node accepts commands from, and a name for logs and `psos run`'s summary.
struct TrustedKey {
  std::string name;  // may be empty (a key line without a name)
  PublicKey key;
};

// A trust file, in either of two forms (a first character, after whitespace, of '{' or '['
// means JSON):
// - a JSON object of names to keys, like a definition's "admins":
//     {"alice": "ed25519:BASE64", "bob": "ed25519:BASE64"}
// - lines "ed25519:BASE64 [NAME]" (an admin.pub as it is), '#' comments and blank lines.
// A file with no key is an error. Throws router::SecurityFileError listing every problem as
// FILE:LINE: message.
std::vector<TrustedKey> load_trust_file(const std::filesystem::path& path);
// The same from text in memory; `source` names it in error messages.
std::vector<TrustedKey> parse_trust_file(std::string_view text, std::string_view source);

}  // namespace psos::control
