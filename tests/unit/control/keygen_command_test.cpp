// Tests of `psos keygen`, run as the real binary: the user's key by default, --out, the refusal
// to replace a key without --force, modes, what is printed, usage errors and `psos help keygen`.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "control/keys.hpp"
#include "control_test_support.hpp"

namespace psos::control {
namespace {

using namespace test;

class Keygen : public TempDir {
 protected:
  // `psos keygen ARGS` with XDG_CONFIG_HOME in the scratch directory; stderr to `err`.
  Result keygen(const std::string& args) {
    return run("XDG_CONFIG_HOME=" + shell_quoted(dir_.string()) + " " + kPsos + " keygen " + args +
               " 2>" + shell_quoted((dir_ / "stderr").string()));
  }
  std::string err() const { return read_text(dir_ / "stderr"); }
};

TEST_F(Keygen, WritesTheUsersKeyPairByDefault) {
  const Result r = keygen("");
  ASSERT_EQ(r.status, 0) << err();
  const fs::path key = dir_ / "psos" / "admin.key";
  const fs::path pub = dir_ / "psos" / "admin.pub";
  EXPECT_EQ(mode_of(dir_ / "psos"), 0700u);
  EXPECT_EQ(mode_of(key), 0600u);
  EXPECT_EQ(mode_of(pub), 0644u);
  const PrivateKey loaded = PrivateKey::load(key);
  EXPECT_EQ(r.out, public_key_line(loaded.public_key(), default_key_name()));
  EXPECT_EQ(read_text(pub), r.out);
  EXPECT_EQ(err(), "psos keygen: wrote " + key.string() + " (private, mode 0600) and " +
                       pub.string() + "\n");
  // What `psos run` loads is this key, not a new one.
  const UserKey user = load_or_create_user_key(dir_ / "psos");
  EXPECT_FALSE(user.created);
  EXPECT_EQ(user.key.public_key(), loaded.public_key());
}

TEST_F(Keygen, OutNamesThePrivateKeyFile) {
  ASSERT_EQ(keygen("--out " + (dir_ / "ops.key").string()).status, 0) << err();
  EXPECT_EQ(mode_of(dir_ / "ops.key"), 0600u);
  const std::vector<TrustedKey> trusted = load_trust_file(dir_ / "ops.pub");
  ASSERT_EQ(trusted.size(), 1u);
  EXPECT_EQ(trusted[0].key, PrivateKey::load(dir_ / "ops.key").public_key());

  ASSERT_EQ(keygen("--out " + (dir_ / "deploy").string()).status, 0) << err();
  EXPECT_TRUE(fs::exists(dir_ / "deploy.pub"));
  EXPECT_FALSE(fs::exists(dir_ / "psos")) << "the default location is left alone";
}

TEST_F(Keygen, NeverReplacesAKeyWithoutForce) {
  const fs::path key = dir_ / "ops.key";
  ASSERT_EQ(keygen("--out " + key.string()).status, 0) << err();
  const std::string before = read_text(key);
  const Result again = keygen("--out " + key.string());
  EXPECT_EQ(again.status, 1);
  EXPECT_EQ(again.out, "");
  EXPECT_EQ(err(), "psos keygen: " + key.string() +
                       " already exists: use --force to replace it (nodes that trust its key "
                       "will then refuse commands signed with the new one)\n");
  EXPECT_EQ(read_text(key), before);

  // A public key file alone is not replaced either.
  fs::remove(key);
  EXPECT_EQ(keygen("--out " + key.string()).status, 1);
  EXPECT_EQ(err(), "psos keygen: " + (dir_ / "ops.pub").string() +
                       " already exists: use --force to replace it (nodes that trust its key "
                       "will then refuse commands signed with the new one)\n");
  EXPECT_FALSE(fs::exists(key));
}

TEST_F(Keygen, ForceReplacesBothFiles) {
  const fs::path key = dir_ / "ops.key";
  ASSERT_EQ(keygen("--out " + key.string()).status, 0) << err();
  const PublicKey first = PrivateKey::load(key).public_key();
  const Result r = keygen("--out " + key.string() + " --force");
  ASSERT_EQ(r.status, 0) << err();
  const PublicKey second = PrivateKey::load(key).public_key();
  EXPECT_FALSE(first == second);
  EXPECT_EQ(load_trust_file(dir_ / "ops.pub")[0].key, second);
  EXPECT_EQ(mode_of(key), 0600u);
}

TEST_F(Keygen, ErrorsAndUsage) {
  const Result missing_dir = keygen("--out " + (dir_ / "no" / "such" / "k.key").string());
  EXPECT_EQ(missing_dir.status, 1);
  EXPECT_TRUE(err().starts_with("psos keygen: cannot write " + (dir_ / "no/such/k.key").string() +
                                ": cannot create a temporary file beside it: "))
      << err();
  EXPECT_EQ(keygen("--bogus").status, 2);
  EXPECT_EQ(keygen("extra").status, 2);
}

TEST_F(Keygen, HelpDocumentsIt) {
  const Result help = run(kPsos + " help keygen");
  ASSERT_EQ(help.status, 0);
  for (const char* text : {"--out FILE", "--force", "admin.key", "mode 0600", "Exit status"})
    EXPECT_NE(help.out.find(text), std::string::npos) << text << " in:\n" << help.out;
  const Result top = run(kPsos + " help");
  EXPECT_NE(top.out.find("keygen"), std::string::npos) << top.out;
}

}  // namespace
}  // namespace psos::control
