// SHA-256 digests (a deploy bundle's files, a definition's hash in $info) and random bytes (nonces,
// request and transfer ids), in the forms the control plane writes them: lowercase hex.
// SHA-256 is computed here (FIPS 180-4), not by OpenSSL: every node hashes its definition at
// start, and OpenSSL 3's first digest loads its providers, about 2 MB of a node's memory.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace psos::control {

// Lowercase hex of `bytes`.
std::string to_hex(std::string_view bytes);
// `count` random bytes from OpenSSL's generator; std::runtime_error if it fails.
std::string random_bytes(std::size_t count);

// A SHA-256 computed piece by piece.
class Sha256 {
 public:
  void update(std::string_view bytes);
  // The digest in lowercase hex (64 characters); the object is spent.
  std::string hex();

 private:
  // The 32-byte digest; the object is spent.
  std::array<unsigned char, 32> digest();
  void compress(const unsigned char* block) noexcept;

  std::array<std::uint32_t, 8> state_{0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                      0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  std::array<unsigned char, 64> block_{};
  std::size_t used_ = 0;      // bytes in block_
  std::uint64_t length_ = 0;  // bytes hashed so far
};

// SHA-256 of `bytes`, in lowercase hex.
std::string sha256_hex(std::string_view bytes);
// SHA-256 of a file's content, in lowercase hex; nullopt when it cannot be read.
std::optional<std::string> sha256_file(const std::filesystem::path& path);

}  // namespace psos::control
