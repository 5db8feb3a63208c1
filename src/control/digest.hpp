// SHA-256 digests (a deploy bundle's files, a definition's hash in $info) and random bytes (nonces,
// request and transfer ids), over OpenSSL, in the forms the control plane writes them: lowercase
// hex.
#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

struct evp_md_ctx_st;  // OpenSSL's EVP_MD_CTX, kept out of this header

namespace psos::control {

// Lowercase hex of `bytes`.
std::string to_hex(std::string_view bytes);
// `count` random bytes from OpenSSL's generator; std::runtime_error if it fails.
std::string random_bytes(std::size_t count);

// A SHA-256 computed piece by piece.
class Sha256 {
 public:
  Sha256();
  void update(std::string_view bytes);
  // The digest in lowercase hex (64 characters); the object is spent.
  std::string hex();

 private:
  std::unique_ptr<evp_md_ctx_st, void (*)(evp_md_ctx_st*)> context_;
};

// SHA-256 of `bytes`, in lowercase hex.
std::string sha256_hex(std::string_view bytes);
// SHA-256 of a file's content, in lowercase hex; nullopt when it cannot be read.
std::optional<std::string> sha256_file(const std::filesystem::path& path);

}  // namespace psos::control
