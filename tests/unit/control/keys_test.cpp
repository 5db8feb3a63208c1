// Tests of control/keys: the public key text and its errors, Ed25519 against RFC 8032, PEM key
// files (mode 0600, never replaced unless asked), the key directory, the user's key pair, and
// trust files in both forms with their FILE:LINE errors.
#include "control/keys.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <optional>
#include <stdexcept>
#include <string>

#include "control_test_support.hpp"
#include "router/security/base64.hpp"
#include "router/security/security_file.hpp"

namespace psos::control {
namespace {

using namespace test;
using router::base64_encode;

std::string unhex(std::string_view hex) {
  std::string out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
    out += static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16));
  return out;
}

// A PEM PKCS#8 private key for a 32-byte seed: the DER prefix is the fixed PrivateKeyInfo header
// of RFC 8410 for the algorithm OID (1.3.101.112 Ed25519, 1.3.101.110 X25519).
std::string pkcs8_pem(std::string_view oid_byte, std::string_view seed) {
  const std::string der =
      unhex("302e020100300506032b65") + unhex(oid_byte) + unhex("04220420") + std::string(seed);
  return "-----BEGIN PRIVATE KEY-----\n" + base64_encode(der) + "\n-----END PRIVATE KEY-----\n";
}

// RFC 8032 section 7.1, TEST 1 (empty message) and TEST 2 (one byte, 0x72).
const std::string kSecret1 =
    unhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
const std::string kPublic1 =
    unhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
const std::string kSignature1 = unhex(
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9"
    "b46bd25bf5f0595bbe24655141438e7a100b");
const std::string kPublic2 =
    unhex("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c");
const std::string kSignature2 = unhex(
    "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f1"
    "1d8c387b2eaeb4302aeeb00d291612bb0c00");

std::string parse_error(std::string_view text) {
  try {
    PublicKey::parse(text);
  } catch (const std::invalid_argument& error) {
    return error.what();
  }
  return "(accepted)";
}

std::vector<std::string> trust_problems(std::string_view text) {
  try {
    parse_trust_file(text, "trust");
  } catch (const router::SecurityFileError& error) {
    return error.problems();
  }
  return {};
}

TEST(PublicKey, TextRoundTrips) {
  const PrivateKey key = PrivateKey::generate();
  const std::string text = key.public_key().to_string();
  EXPECT_TRUE(text.starts_with("ed25519:"));
  EXPECT_EQ(text.size(), 8u + 44u);  // 32 bytes are 44 base64 characters with one '='
  const PublicKey parsed = PublicKey::parse(text);
  EXPECT_EQ(parsed, key.public_key());
  EXPECT_EQ(parsed.raw().size(), 32u);
  EXPECT_EQ(parsed.to_string(), text);
}

TEST(PublicKey, TextOfTheRfc8032Key) {
  EXPECT_EQ(PublicKey::from_raw(kPublic1).to_string(),
            "ed25519:11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=");
}

TEST(PublicKey, ParseErrorsSayWhatIsWrong) {
  EXPECT_EQ(parse_error(""), "a public key starts with 'ed25519:' (the text is empty)");
  EXPECT_EQ(parse_error("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI"),
            "a public key starts with 'ed25519:', not 'ssh-ed25519 AAAA...'");
  EXPECT_EQ(parse_error("ED25519:11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="),
            "a public key starts with 'ed25519:', not 'ED25519:11qYAYKx...'");
  // Control characters and non-ASCII bytes of an untrusted text are not copied into messages.
  EXPECT_EQ(parse_error("key\n\xc3\xa9"),
            "a public key starts with 'ed25519:', not 'key" + std::string(3, '?') + "'");
  const std::string not_base64 =
      "the public key after 'ed25519:' is not base64 (A-Z a-z 0-9 + / with '=' padding)";
  EXPECT_EQ(parse_error("ed25519:"), not_base64);
  EXPECT_EQ(parse_error("ed25519:11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo"), not_base64);
  EXPECT_EQ(parse_error("ed25519:11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo="), not_base64);
  EXPECT_EQ(parse_error("ed25519: 11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="), not_base64);
  EXPECT_EQ(parse_error("ed25519:11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo= "), not_base64);
  EXPECT_EQ(parse_error("ed25519:" + base64_encode(std::string(31, 'x'))),
            "the public key has 31 bytes; an Ed25519 public key has 32");
  EXPECT_EQ(parse_error("ed25519:" + base64_encode(std::string(64, 'x'))),
            "the public key has 64 bytes; an Ed25519 public key has 32");
  EXPECT_THROW(PublicKey::from_raw(std::string(33, 'x')), std::invalid_argument);
}

TEST(Ed25519, MatchesRfc8032Vectors) {
  const PrivateKey key = PrivateKey::from_pem(pkcs8_pem("70", kSecret1), "rfc8032");
  EXPECT_EQ(key.public_key().raw(), kPublic1);
  EXPECT_EQ(key.sign(""), kSignature1);
  EXPECT_TRUE(PublicKey::from_raw(kPublic1).verify("", kSignature1));
  EXPECT_TRUE(PublicKey::from_raw(kPublic2).verify("\x72", kSignature2));
}

TEST(Ed25519, RefusesWhatWasNotSignedByTheKey) {
  const PrivateKey key = PrivateKey::generate();
  const PublicKey& pub = key.public_key();
  const std::string signature = key.sign("psos-cmd-v1\n{\"v\":1}");
  EXPECT_TRUE(pub.verify("psos-cmd-v1\n{\"v\":1}", signature));
  EXPECT_FALSE(pub.verify("psos-cmd-v1\n{\"v\":2}", signature));
  EXPECT_FALSE(pub.verify("psos-cmd-v1\n{\"v\":1} ", signature));
  std::string flipped = signature;
  flipped[10] = static_cast<char>(flipped[10] ^ 0x01);
  EXPECT_FALSE(pub.verify("psos-cmd-v1\n{\"v\":1}", flipped));
  EXPECT_FALSE(pub.verify("psos-cmd-v1\n{\"v\":1}", signature.substr(0, 63)));
  EXPECT_FALSE(pub.verify("psos-cmd-v1\n{\"v\":1}", signature + "x"));
  EXPECT_FALSE(pub.verify("psos-cmd-v1\n{\"v\":1}", ""));
  EXPECT_FALSE(PrivateKey::generate().public_key().verify("psos-cmd-v1\n{\"v\":1}", signature));
  // 32 bytes that are not a point on the curve: refused, not an exception.
  const PublicKey not_a_point = PublicKey::from_raw(std::string(32, '\xff'));
  EXPECT_FALSE(not_a_point.verify("psos-cmd-v1\n{\"v\":1}", signature));
}

TEST(PrivateKey, PemRoundTrips) {
  const PrivateKey key = PrivateKey::generate();
  const std::string pem = key.to_pem();
  EXPECT_TRUE(pem.starts_with("-----BEGIN PRIVATE KEY-----\n")) << pem;
  EXPECT_TRUE(pem.ends_with("-----END PRIVATE KEY-----\n")) << pem;
  const PrivateKey again = PrivateKey::from_pem(pem, "mem");
  EXPECT_EQ(again.public_key(), key.public_key());
  EXPECT_TRUE(key.public_key().verify("m", again.sign("m")));
}

TEST(PrivateKey, PemErrorsNameTheSourceAndTheProblem) {
  const auto error = [](std::string_view pem) -> std::string {
    try {
      PrivateKey::from_pem(pem, "keyfile");
    } catch (const std::runtime_error& e) {
      return e.what();
    }
    return "(accepted)";
  };
  EXPECT_TRUE(error("").starts_with(
      "keyfile: not a PEM private key (expected '-----BEGIN PRIVATE KEY-----' as psos keygen "
      "writes; OpenSSL says: "))
      << error("");
  EXPECT_TRUE(error("ed25519:11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\n")
                  .starts_with("keyfile: not a PEM private key"));
  EXPECT_EQ(error("-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIGbMFcGCSqGSIb3DQEFDTBKMCkGCSqGSIb3\n"
                  "-----END ENCRYPTED PRIVATE KEY-----\n"),
            "keyfile: the key is encrypted with a passphrase; psos reads unencrypted keys only "
            "(protect the file with mode 0600 instead)");
  EXPECT_EQ(error(pkcs8_pem("6e", kSecret1)),
            "keyfile: a X25519 key; psos needs an Ed25519 key (psos keygen, or openssl genpkey "
            "-algorithm ed25519)");
}

TEST_F(TempDir, SaveWritesMode0600AndLoadReadsItBack) {
  const PrivateKey key = PrivateKey::generate();
  const fs::path path = dir_ / "admin.key";
  ::umask(0);  // the mode must not depend on the umask
  key.save(path);
  ::umask(022);
  EXPECT_EQ(mode_of(path), 0600u);
  EXPECT_EQ(PrivateKey::load(path).public_key(), key.public_key());
}

TEST_F(TempDir, SaveNewLeavesAnExistingFileAlone) {
  const fs::path path = dir_ / "admin.key";
  const PrivateKey first = PrivateKey::generate();
  ASSERT_TRUE(first.save_new(path));
  EXPECT_EQ(mode_of(path), 0600u);
  EXPECT_FALSE(PrivateKey::generate().save_new(path));
  EXPECT_EQ(PrivateKey::load(path).public_key(), first.public_key());
  const PrivateKey second = PrivateKey::generate();
  second.save(path);  // save() replaces
  EXPECT_EQ(PrivateKey::load(path).public_key(), second.public_key());
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 1)
      << "no temporary file is left behind";
}

TEST_F(TempDir, LoadOfAMissingFileNamesIt) {
  try {
    PrivateKey::load(dir_ / "none.key");
    FAIL() << "loaded a missing file";
  } catch (const std::runtime_error& error) {
    EXPECT_EQ(std::string(error.what()),
              (dir_ / "none.key").string() + ": cannot read: No such file or directory");
  }
}

TEST(KeyPaths, PublicKeyFileBesideThePrivateOne) {
  EXPECT_EQ(public_key_path("/h/.config/psos/admin.key"), fs::path("/h/.config/psos/admin.pub"));
  EXPECT_EQ(public_key_path("/tmp/ops"), fs::path("/tmp/ops.pub"));
  EXPECT_EQ(public_key_path("ops.pem"), fs::path("ops.pem.pub"));
  EXPECT_EQ(private_key_path("/k"), fs::path("/k/admin.key"));
}

// Sets (or with nullptr unsets) an environment variable for one test, restoring it after.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    value ? ::setenv(name, value, 1) : ::unsetenv(name);
  }
  ~ScopedEnv() { old_ ? ::setenv(name_, old_->c_str(), 1) : ::unsetenv(name_); }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

TEST(KeyPaths, DefaultKeyDirFollowsXdgThenHome) {
  {
    ScopedEnv xdg("XDG_CONFIG_HOME", "/x/config");
    ScopedEnv home("HOME", "/home/ann");
    EXPECT_EQ(default_key_dir(), fs::path("/x/config/psos"));
  }
  {
    ScopedEnv xdg("XDG_CONFIG_HOME", "relative/config");  // invalid by the XDG spec: ignored
    ScopedEnv home("HOME", "/home/ann");
    EXPECT_EQ(default_key_dir(), fs::path("/home/ann/.config/psos"));
  }
  {
    ScopedEnv xdg("XDG_CONFIG_HOME", nullptr);
    ScopedEnv home("HOME", "/home/ann");
    EXPECT_EQ(default_key_dir(), fs::path("/home/ann/.config/psos"));
  }
}

TEST_F(TempDir, UserKeyIsCreatedOnceThenLoaded) {
  const fs::path dir = dir_ / "config" / "psos";
  const UserKey made = load_or_create_user_key(dir);
  EXPECT_TRUE(made.created);
  EXPECT_EQ(made.path, dir / "admin.key");
  EXPECT_EQ(mode_of(dir), 0700u);
  EXPECT_EQ(mode_of(dir / "admin.key"), 0600u);
  EXPECT_EQ(mode_of(dir / "admin.pub"), 0644u);
  EXPECT_EQ(read_text(dir / "admin.pub"),
            made.key.public_key().to_string() + " " + default_key_name() + "\n");

  const UserKey again = load_or_create_user_key(dir);
  EXPECT_FALSE(again.created);
  EXPECT_EQ(again.key.public_key(), made.key.public_key());
}

TEST_F(TempDir, UserKeyRewritesAMissingPublicKeyFile) {
  const UserKey made = load_or_create_user_key(dir_);
  fs::remove(dir_ / "admin.pub");
  const UserKey again = load_or_create_user_key(dir_);
  EXPECT_FALSE(again.created);
  const std::vector<TrustedKey> keys = load_trust_file(dir_ / "admin.pub");
  ASSERT_EQ(keys.size(), 1u);
  EXPECT_EQ(keys[0].key, made.key.public_key());
}

TEST_F(TempDir, UserKeyRefusesAPublicKeyFileOfAnotherKey) {
  load_or_create_user_key(dir_);
  const PrivateKey other = PrivateKey::generate();
  write_text(dir_ / "admin.pub", public_key_line(other.public_key(), "other@host"));
  try {
    load_or_create_user_key(dir_);
    FAIL() << "accepted an admin.pub of another key";
  } catch (const std::runtime_error& error) {
    const std::string pub = (dir_ / "admin.pub").string();
    EXPECT_EQ(std::string(error.what()), pub + " holds another public key than " +
                                             (dir_ / "admin.key").string() + ": delete " + pub +
                                             " to have it written again from the key");
  }
}

TEST_F(TempDir, UserPublicKeyIsReadFromThePublicKeyFile) {
  // What a node trusts: made with the pair when there is none, ...
  const UserPublicKey made = load_or_create_user_public_key(dir_);
  EXPECT_TRUE(made.created);
  EXPECT_EQ(made.path, dir_ / "admin.key");
  const UserKey pair = load_or_create_user_key(dir_);
  EXPECT_EQ(made.key, pair.key.public_key());
  // ... then read from admin.pub alone: the private key is not parsed (here it is garbage).
  write_text(dir_ / "admin.key", "not a key");
  const UserPublicKey read = load_or_create_user_public_key(dir_);
  EXPECT_FALSE(read.created);
  EXPECT_EQ(read.key, pair.key.public_key());
  // A key read that way verifies signatures like one made from the private key.
  const std::string signature = pair.key.sign("message");
  EXPECT_TRUE(read.key.verify("message", signature));
  EXPECT_FALSE(read.key.verify("massage", signature));
}

TEST_F(TempDir, UserPublicKeyRewritesAMissingPublicKeyFileFromThePair) {
  const UserKey pair = load_or_create_user_key(dir_);
  fs::remove(dir_ / "admin.pub");
  const UserPublicKey read = load_or_create_user_public_key(dir_);
  EXPECT_FALSE(read.created);
  EXPECT_EQ(read.key, pair.key.public_key());
  EXPECT_TRUE(fs::exists(dir_ / "admin.pub"));
}

TEST_F(TempDir, UserPublicKeyRefusesAPublicKeyFileOfTwoKeys) {
  load_or_create_user_key(dir_);
  write_text(dir_ / "admin.pub", public_key_line(PrivateKey::generate().public_key(), "a") +
                                     public_key_line(PrivateKey::generate().public_key(), "b"));
  try {
    load_or_create_user_public_key(dir_);
    FAIL() << "accepted an admin.pub of two keys";
  } catch (const std::runtime_error& error) {
    EXPECT_NE(std::string(error.what()).find("admin.pub holds 2 keys, not the one public key of"),
              std::string::npos)
        << error.what();
  }
}

TEST(TrustFile, LinesWithNamesCommentsAndBlankLines) {
  const PrivateKey a = PrivateKey::generate();
  const PrivateKey b = PrivateKey::generate();
  const std::string text = "# operators\n\n" + a.public_key().to_string() +
                           " alice@laptop\r\n   \t\n  " + b.public_key().to_string() +
                           "\t Bob Smith  \n  # end\n";
  const std::vector<TrustedKey> keys = parse_trust_file(text, "trust");
  ASSERT_EQ(keys.size(), 2u);
  EXPECT_EQ(keys[0].name, "alice@laptop");
  EXPECT_EQ(keys[0].key, a.public_key());
  EXPECT_EQ(keys[1].name, "Bob Smith");
  EXPECT_EQ(keys[1].key, b.public_key());
}

TEST(TrustFile, AnAdminPubAsItIs) {
  const PrivateKey a = PrivateKey::generate();
  const std::vector<TrustedKey> keys = parse_trust_file(public_key_line(a.public_key(), ""), "t");
  ASSERT_EQ(keys.size(), 1u);
  EXPECT_EQ(keys[0].name, "");
  EXPECT_EQ(keys[0].key, a.public_key());
}

TEST(TrustFile, JsonObjectLikeAdmins) {
  const PrivateKey a = PrivateKey::generate();
  const PrivateKey b = PrivateKey::generate();
  const std::string text = "\xEF\xBB\xBF  {\"alice\": \"" + a.public_key().to_string() +
                           "\",\n \"bob\": \"" + b.public_key().to_string() + "\"}\n";
  const std::vector<TrustedKey> keys = parse_trust_file(text, "trust");
  ASSERT_EQ(keys.size(), 2u);
  EXPECT_EQ(keys[0].name, "alice");
  EXPECT_EQ(keys[0].key, a.public_key());
  EXPECT_EQ(keys[1].name, "bob");
  EXPECT_EQ(keys[1].key, b.public_key());
}

TEST(TrustFile, LineErrorsNameEveryBadLine) {
  const std::string good = PrivateKey::generate().public_key().to_string();
  EXPECT_EQ(trust_problems("# keys\n" + good + " ok\nssh-ed25519 AAAA bob\n\ned25519:abc carol\n" +
                           "ed25519:" + base64_encode("short") + "\n"),
            (std::vector<std::string>{
                "trust:3: a public key starts with 'ed25519:', not 'ssh-ed25519'",
                "trust:5: the public key after 'ed25519:' is not base64 (A-Z a-z 0-9 + / with "
                "'=' padding)",
                "trust:6: the public key has 5 bytes; an Ed25519 public key has 32"}));
}

TEST(TrustFile, JsonErrorsNameTheLine) {
  const std::string good = PrivateKey::generate().public_key().to_string();
  EXPECT_EQ(trust_problems("{\n  \"alice\": \"" + good +
                           "\",\n  \"bob\": 42,\n  \"carol\": " + "\"ed25519:xyz\"\n}\n"),
            (std::vector<std::string>{
                "trust:3: \"bob\": a key is a string \"ed25519:BASE64\"",
                "trust:4: \"carol\": the public key after 'ed25519:' is not base64 (A-Z a-z 0-9 "
                "+ / with '=' padding)"}));
  const std::vector<std::string> syntax = trust_problems("{\n  \"alice\": \"" + good + "\"\n");
  ASSERT_EQ(syntax.size(), 1u);
  EXPECT_TRUE(syntax[0].starts_with("trust:3: ")) << syntax[0];
  EXPECT_EQ(trust_problems("[\"" + good + "\"]"),
            std::vector<std::string>{
                "trust:1: a JSON trust file holds one object of names to keys, like {\"alice\": "
                "\"ed25519:BASE64\"}"});
}

TEST(TrustFile, AFileWithoutKeysIsAnError) {
  const std::vector<std::string> expected{
      "trust: no keys (expected lines 'ed25519:BASE64 [NAME]' or a JSON object of names to "
      "keys)"};
  EXPECT_EQ(trust_problems(""), expected);
  EXPECT_EQ(trust_problems("# nobody yet\n\n"), expected);
  EXPECT_EQ(trust_problems("{}"), expected);
}

TEST_F(TempDir, LoadTrustFileReadsTheFileAndNamesIt) {
  const PrivateKey a = PrivateKey::generate();
  write_text(dir_ / "admins", public_key_line(a.public_key(), "alice") + "bad line\n");
  try {
    load_trust_file(dir_ / "admins");
    FAIL() << "accepted a bad line";
  } catch (const router::SecurityFileError& error) {
    EXPECT_EQ(error.problems(),
              std::vector<std::string>{(dir_ / "admins").string() +
                                       ":2: a public key starts with 'ed25519:', not 'bad'"});
  }
  write_text(dir_ / "admins", public_key_line(a.public_key(), "alice"));
  ASSERT_EQ(load_trust_file(dir_ / "admins").size(), 1u);
}

}  // namespace
}  // namespace psos::control
