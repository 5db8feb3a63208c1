// Tests of the password file: hashing against an independent PBKDF2-SHA512 vector, salts, the
// file format and its errors, atomic saves with mode 0600, and the CONNECT decision.
#include "router/security/password_file.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>

#include "router/security/security_file.hpp"

namespace psos::router {
namespace {

namespace fs = std::filesystem;
constexpr std::uint32_t kFast = PasswordFile::kMinIterations;  // keeps the tests quick

std::vector<std::string> load_problems(std::string_view text) {
  try {
    PasswordFile::parse(text, "pw");
  } catch (const SecurityFileError& error) {
    return error.problems();
  }
  return {};
}

class TempDir : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "psos-pwfile-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

unsigned mode_of(const fs::path& path) {
  struct stat info {};
  EXPECT_EQ(::stat(path.c_str(), &info), 0);
  return info.st_mode & 07777;
}

TEST(PasswordFile, SetThenVerifyRoundTrips) {
  PasswordFile file;
  file.set("alice", "correct horse", kFast);
  EXPECT_TRUE(file.contains("alice"));
  EXPECT_EQ(file.size(), 1u);
  EXPECT_TRUE(file.verify("alice", "correct horse"));
}

TEST(PasswordFile, RejectsWrongPasswordAndUnknownUser) {
  PasswordFile file;
  file.set("alice", "correct horse", kFast);
  EXPECT_FALSE(file.verify("alice", "correct hors"));
  EXPECT_FALSE(file.verify("alice", "correct horse "));
  EXPECT_FALSE(file.verify("alice", ""));
  EXPECT_FALSE(file.verify("Alice", "correct horse"));
  EXPECT_FALSE(file.verify("bob", "correct horse"));
  EXPECT_FALSE(PasswordFile{}.verify("alice", "correct horse"));
}

// Expected hashes computed independently with Python's hashlib.pbkdf2_hmac('sha512', ...) and
// checked against `openssl kdf -kdfopt digest:SHA512 ... PBKDF2`.
TEST(PasswordFile, VerifiesKnownPbkdf2Sha512Vectors) {
  const PasswordFile file = PasswordFile::parse(
      "alice:$pbkdf2-sha512$100000$oKGio6SlpqeoqaqrrK2urw==$j46Rb7kKfSHjnmCyHoyYPAkQWiqho9XdzDlC/"
      "OSJjuIIDMgA1L4iJalHAJyIsQNhw3QquSHobfOdN849KS75TA==\n"
      "b\xC3\xB6"
      "b:$pbkdf2-sha512$120000$MDEyMzQ1Njc4OWFiY2RlZg==$/gime/"
      "rWknioO1lrIRKUT8XNu17V2L3GkeNPgZH2gqfg"
      "KjR9yQtyeOScR5xaefBXZ++JwuSCBB+uGyH/oV+3dQ==\n",
      "vectors");
  EXPECT_TRUE(file.verify("alice", "correct horse battery staple"));
  EXPECT_FALSE(file.verify("alice", "correct horse battery stapler"));
  EXPECT_TRUE(
      file.verify("b\xC3\xB6"
                  "b",
                  "p\xC3\xA4ss:w$rd"));
  EXPECT_FALSE(
      file.verify("b\xC3\xB6"
                  "b",
                  "pass:w$rd"));
}

TEST(PasswordFile, WritesTheDocumentedFormatWithDefaultIterations) {
  PasswordFile file;
  file.set("alice", "secret");
  const std::regex line(
      R"(alice:\$pbkdf2-sha512\$210000\$[A-Za-z0-9+/]{22}==\$[A-Za-z0-9+/]{86}==\n)");
  EXPECT_TRUE(std::regex_match(file.to_string(), line)) << file.to_string();
}

TEST(PasswordFile, EverySetDrawsANewSalt) {
  PasswordFile file;
  file.set("alice", "same password", kFast);
  file.set("bob", "same password", kFast);
  const std::string first = file.to_string();
  const auto salt_of = [](const std::string& text, std::string_view user) {
    const std::size_t line = text.find(std::string(user) + ":");
    const std::size_t start = text.find('$', text.find('$', text.find('$', line) + 1) + 1) + 1;
    return text.substr(start, text.find('$', start) - start);
  };
  EXPECT_NE(salt_of(first, "alice"), salt_of(first, "bob"));
  file.set("alice", "same password", kFast);
  EXPECT_NE(salt_of(file.to_string(), "alice"), salt_of(first, "alice"));
  EXPECT_TRUE(file.verify("alice", "same password"));
  EXPECT_TRUE(file.verify("bob", "same password"));
}

TEST(PasswordFile, KeepsCommentsAndOrderOnRewrite) {
  const std::string alice =
      "alice:$pbkdf2-sha512$100000$oKGio6SlpqeoqaqrrK2urw==$j46Rb7kKfSHjnmCyHoyYPAkQWiqho9XdzDl"
      "C/OSJjuIIDMgA1L4iJalHAJyIsQNhw3QquSHobfOdN849KS75TA==";
  PasswordFile file =
      PasswordFile::parse("# users of the greenhouse\r\n\r\n" + alice + "  \r\n  # carol left\n" +
                              "carol" + alice.substr(5) + "\n",
                          "pw");
  file.set("bob", "x", kFast);
  EXPECT_TRUE(file.remove("carol"));
  EXPECT_FALSE(file.remove("carol"));
  const std::string text = file.to_string();
  EXPECT_EQ(text.substr(0, text.find("bob:")),
            "# users of the greenhouse\n\n" + alice + "\n  # carol left\n");
  EXPECT_TRUE(file.verify("alice", "correct horse battery staple"));
  EXPECT_FALSE(file.contains("carol"));
}

TEST(PasswordFile, ReportsEveryBadLineWithItsNumber) {
  const std::string salt = "oKGio6SlpqeoqaqrrK2urw==";
  const std::string hash =
      "j46Rb7kKfSHjnmCyHoyYPAkQWiqho9XdzDlC/OSJjuIIDMgA1L4iJalHAJyIsQNhw3QquSHobfOdN849KS75TA==";
  const std::string good = "$" + salt + "$" + hash;
  const std::vector<std::string> lines = {
      "# header",                                       // 1
      "alice:$pbkdf2-sha512$100000" + good,             // 2
      "no colon here",                                  // 3
      ":$pbkdf2-sha512$100000" + good,                  // 4
      "m:$7$101$c2FsdA==$aGFzaA==",                     // 5
      "b:$pbkdf2-sha512$1000" + good,                   // 6
      "c:$pbkdf2-sha512$12x" + good,                    // 7
      "d:$pbkdf2-sha512$100000$not*base64$" + hash,     // 8
      "e:$pbkdf2-sha512$100000$c2FsdA==$" + hash,       // 9
      "f:$pbkdf2-sha512$100000$" + salt + "$c2FsdA==",  // 10
      "g:$pbkdf2-sha512$100000$" + salt,                // 11
      "alice:$pbkdf2-sha512$100000" + good,             // 12
      "h:pbkdf2-sha512$100000" + good,                  // 13
  };
  std::string text;
  for (const std::string& line : lines)
    text += line + "\n";
  const std::vector<std::string> expected = {
      "pw:3: expected USER:$pbkdf2-sha512$ITERATIONS$SALT$HASH (no ':' found)",
      "pw:4: user name is empty",
      "pw:5: user 'm': unknown hash scheme '$7' (only $pbkdf2-sha512 is supported); this looks "
      "like a Mosquitto hash, which cannot be converted: set the password again with psos passwd",
      "pw:6: user 'b': iteration count 1000 is outside 100000..10000000: set the password again "
      "with psos passwd",
      "pw:7: user 'c': iteration count '12x' is not a number between 100000 and 10000000",
      "pw:8: user 'd': salt is not valid base64",
      "pw:9: user 'e': salt has 4 bytes, at least 16 needed",
      "pw:10: user 'f': hash has 4 bytes, 64 expected",
      "pw:11: user 'g': expected USER:$pbkdf2-sha512$ITERATIONS$SALT$HASH (4 '$'-separated "
      "fields, found 3)",
      "pw:12: user 'alice' is already defined on line 2",
      "pw:13: user 'h': expected USER:$pbkdf2-sha512$ITERATIONS$SALT$HASH after the user name",
  };
  EXPECT_EQ(load_problems(text), expected);
}

TEST(PasswordFile, ErrorMessageJoinsProblemsOnePerLine) {
  try {
    PasswordFile::parse("x\ny\n", "f");
    FAIL() << "no error";
  } catch (const SecurityFileError& error) {
    EXPECT_STREQ(error.what(),
                 "f:1: expected USER:$pbkdf2-sha512$ITERATIONS$SALT$HASH (no ':' found)\n"
                 "f:2: expected USER:$pbkdf2-sha512$ITERATIONS$SALT$HASH (no ':' found)");
  }
}

TEST(PasswordFile, UserNameRules) {
  EXPECT_EQ(user_name_problem("alice"), nullptr);
  EXPECT_EQ(user_name_problem("r\xC3\xA9my with spaces"), nullptr);
  EXPECT_STREQ(user_name_problem(""), "user name is empty");
  EXPECT_STREQ(user_name_problem("a:b"), "user name contains ':'");
  EXPECT_STREQ(user_name_problem("a\nb"), "user name contains a control character");
  EXPECT_STREQ(user_name_problem("a\tb"), "user name contains a control character");
  EXPECT_STREQ(user_name_problem("#root"),
               "user name starts with '#' (the file would read a comment)");
  EXPECT_STREQ(user_name_problem(" alice"), "user name starts with whitespace");
  EXPECT_STREQ(user_name_problem("\xC3"), "user name is not well-formed UTF-8");
}

TEST(PasswordFile, SetRejectsBadInput) {
  PasswordFile file;
  EXPECT_THROW(file.set("a:b", "x", kFast), std::invalid_argument);
  EXPECT_THROW(file.set("alice", "", kFast), std::invalid_argument);
  EXPECT_THROW(file.set("alice", "x", PasswordFile::kMinIterations - 1), std::invalid_argument);
  EXPECT_THROW(file.set("alice", "x", PasswordFile::kMaxIterations + 1), std::invalid_argument);
  EXPECT_EQ(file.size(), 0u);
}

TEST_F(TempDir, SaveThenLoadRoundTripsWithMode0600) {
  PasswordFile file;
  file.set("alice", "one", kFast);
  file.set("bob", "two", kFast);
  const fs::path path = dir_ / "passwd";
  file.save(path);
  EXPECT_EQ(mode_of(path), 0600u);
  EXPECT_EQ(read_text(path), file.to_string());
  const PasswordFile loaded = PasswordFile::load(path);
  EXPECT_TRUE(loaded.verify("alice", "one"));
  EXPECT_TRUE(loaded.verify("bob", "two"));
  EXPECT_FALSE(loaded.verify("bob", "one"));
  // Only the file itself is left: the temporary file was renamed over it.
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator{}), 1);
}

TEST_F(TempDir, SaveReplacesAWorldReadableFileWithMode0600) {
  const fs::path path = dir_ / "passwd";
  std::ofstream(path) << "# old\n";
  ASSERT_EQ(::chmod(path.c_str(), 0644), 0);
  PasswordFile file = PasswordFile::load(path);
  file.set("alice", "one", kFast);
  file.save(path);
  EXPECT_EQ(mode_of(path), 0600u);
  EXPECT_EQ(read_text(path).substr(0, 12), "# old\nalice:");
}

TEST_F(TempDir, SaveThroughASymlinkReplacesTheTarget) {
  const fs::path target = dir_ / "real";
  const fs::path link = dir_ / "link";
  std::ofstream(target) << "";
  fs::create_symlink(target, link);
  PasswordFile file;
  file.set("alice", "one", kFast);
  file.save(link);
  EXPECT_TRUE(fs::is_symlink(link));
  EXPECT_TRUE(PasswordFile::load(target).verify("alice", "one"));
}

TEST_F(TempDir, SaveIntoAMissingDirectoryFailsWithTheReason) {
  PasswordFile file;
  const fs::path path = dir_ / "missing" / "passwd";
  try {
    file.save(path);
    FAIL() << "no error";
  } catch (const std::runtime_error& error) {
    EXPECT_EQ(std::string(error.what()),
              "cannot write " + path.string() +
                  ": cannot create a temporary file beside it: No such file or directory");
  }
}

TEST_F(TempDir, LoadOfAMissingFileNamesIt) {
  const fs::path path = dir_ / "nope";
  try {
    PasswordFile::load(path);
    FAIL() << "no error";
  } catch (const SecurityFileError& error) {
    EXPECT_EQ(std::string(error.what()),
              path.string() + ": cannot read: No such file or directory");
  }
}

TEST(CheckLogin, WithoutAPasswordFileEveryoneIsAccepted) {
  EXPECT_EQ(check_login(nullptr, false, std::nullopt, std::nullopt), mqtt::ReasonCode::Success);
  EXPECT_EQ(check_login(nullptr, false, "anyone", "anything"), mqtt::ReasonCode::Success);
}

TEST(CheckLogin, WithAPasswordFileAnonymousNeedsPermission) {
  PasswordFile file;
  file.set("alice", "secret", kFast);
  EXPECT_EQ(check_login(&file, false, std::nullopt, std::nullopt), mqtt::ReasonCode::NotAuthorized);
  EXPECT_EQ(check_login(&file, false, std::nullopt, "secret"), mqtt::ReasonCode::NotAuthorized);
  EXPECT_EQ(check_login(&file, true, std::nullopt, std::nullopt), mqtt::ReasonCode::Success);
  EXPECT_EQ(check_login(&file, false, "alice", "secret"), mqtt::ReasonCode::Success);
  EXPECT_EQ(check_login(&file, false, "alice", "wrong"), mqtt::ReasonCode::BadUserNameOrPassword);
  EXPECT_EQ(check_login(&file, false, "alice", std::nullopt),
            mqtt::ReasonCode::BadUserNameOrPassword);
  // A client that names a user must prove it, even where anonymous clients are welcome.
  EXPECT_EQ(check_login(&file, true, "mallory", "secret"), mqtt::ReasonCode::BadUserNameOrPassword);
}

}  // namespace
}  // namespace psos::router
