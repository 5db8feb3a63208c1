// The revisions a node keeps in its state directory: state.json written and read back, a
// malformed one named in the error, the manifest kept beside a revision's files, discard().
#include "control/revisions.hpp"

#include <gtest/gtest.h>

#include <fstream>

#include "control/digest.hpp"

namespace psos::control {
namespace {

namespace fs = std::filesystem;

fs::path fresh_dir(const std::string& name) {
  const fs::path dir =
      fs::temp_directory_path() / ("psos-revisions-" + name + "-" + to_hex(random_bytes(4)));
  fs::create_directories(dir);
  return dir;
}

TEST(Revisions, StateIsWrittenAndReadBack) {
  const fs::path dir = fresh_dir("state");
  const RevisionStore store(dir);
  EXPECT_EQ(store.load().committed, 0u);  // nothing deployed yet: the command-line file
  store.save({.committed = 4, .previous = {0, 2}, .highest = 5});
  const RevisionState back = store.load();
  EXPECT_EQ(back.committed, 4u);
  EXPECT_EQ(back.previous, (std::vector<std::uint64_t>{0, 2}));
  EXPECT_EQ(back.highest, 5u);
  store.discard();
  EXPECT_FALSE(fs::exists(dir / "revisions"));
  EXPECT_EQ(store.load().highest, 0u);
  fs::remove_all(dir);
}

TEST(Revisions, AMalformedStateIsNamed) {
  const fs::path dir = fresh_dir("bad");
  fs::create_directories(dir / "revisions");
  std::ofstream(dir / "revisions" / "state.json") << "{\"committed\": \"x\"}";
  try {
    RevisionStore(dir).load();
    FAIL() << "no error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("revisions/state.json"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("--from-file"), std::string::npos) << e.what();
  }
  fs::remove_all(dir);
}

TEST(Revisions, TheDefinitionOfAKeptRevision) {
  const fs::path dir = fresh_dir("kept");
  const RevisionStore store(dir);
  EXPECT_FALSE(store.definition(3));
  Manifest m;
  m.system = "fleet";
  m.node = "gw";
  m.revision = 3;
  m.definition = "sub/system.json";
  m.files = {{"sub/system.json", 2, sha256_hex("{}")}};
  const SignedManifest signed_manifest = sign_manifest(m, PrivateKey::generate());
  RevisionStore::write_manifest(store.directory(3), signed_manifest);
  EXPECT_FALSE(store.definition(3));  // the manifest alone: its definition file is missing
  fs::create_directories(store.directory(3) / "sub");
  std::ofstream(store.directory(3) / "sub" / "system.json") << "{}";
  ASSERT_TRUE(store.definition(3));
  EXPECT_EQ(*store.definition(3), store.directory(3) / "sub" / "system.json");
  const auto read = RevisionStore::read_manifest(store.directory(3));
  ASSERT_TRUE(read);
  EXPECT_EQ(read->text, signed_manifest.text);
  EXPECT_EQ(RevisionStore::parse_manifest(read->text).files.at(0).sha256, sha256_hex("{}"));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace psos::control
