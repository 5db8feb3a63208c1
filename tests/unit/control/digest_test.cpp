// psos::control's SHA-256 (FIPS 180-4, computed by psos): the standard's examples, and
// agreement with OpenSSL's for every length around the padding boundaries, fed in pieces.
#include "control/digest.hpp"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <fstream>
#include <random>
#include <string>

namespace psos::control {
namespace {

std::string openssl_sha256_hex(const std::string& bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EXPECT_EQ(EVP_Digest(bytes.data(), bytes.size(), digest, &size, EVP_sha256(), nullptr), 1);
  return to_hex(std::string_view(reinterpret_cast<const char*>(digest), size));
}

TEST(Sha256, TheStandardsExamples) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(sha256_hex(std::string(1'000'000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256, AgreesWithOpenSslAtEveryLengthAndSplit) {
  std::mt19937 random(7);
  std::string bytes;
  for (std::size_t length = 0; length <= 300; ++length) {
    const std::string expected = openssl_sha256_hex(bytes);
    ASSERT_EQ(sha256_hex(bytes), expected) << "length " << length;
    // The same bytes in random pieces (empty ones included).
    Sha256 pieces;
    for (std::size_t at = 0; at < bytes.size();) {
      const std::size_t n = std::min<std::size_t>(random() % 70, bytes.size() - at);
      pieces.update(std::string_view(bytes).substr(at, n));
      at += n;
    }
    ASSERT_EQ(pieces.hex(), expected) << "length " << length << " in pieces";
    bytes += static_cast<char>(random());
  }
}

TEST(Sha256, AFileIsHashedAsItsContent) {
  const std::filesystem::path path =
      std::filesystem::temp_directory_path() / ("psos-digest-test-" + std::to_string(::getpid()));
  const std::string content(200'000, 'z');
  {
    std::ofstream out(path, std::ios::binary);
    out << content;
  }
  EXPECT_EQ(sha256_file(path), openssl_sha256_hex(content));
  std::filesystem::remove(path);
  EXPECT_EQ(sha256_file(path), std::nullopt);
}

}  // namespace
}  // namespace psos::control
