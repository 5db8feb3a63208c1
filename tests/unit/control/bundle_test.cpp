// Deploy bundles: the manifest's text and signature, the node's checks in their order with
// their codes, paths a bundle may carry, transfer plans, chunks and acknowledgements.
#include "control/bundle.hpp"

#include <gtest/gtest.h>

#include "control/digest.hpp"
#include "control/request.hpp"
#include "router/security/base64.hpp"

namespace psos::control {
namespace {

constexpr std::int64_t kNow = 1'767'225'600'000;

const PrivateKey& admin() {
  static const PrivateKey key = PrivateKey::generate();
  return key;
}

Manifest manifest(std::uint64_t revision = 3) {
  Manifest m;
  m.system = "fleet";
  m.node = "gw";
  m.revision = revision;
  m.issued_ms = kNow;
  m.expires_ms = kNow + kBundleLifetimeMs;
  m.definition = "system.json";
  m.files = {{"system.json", 12, sha256_hex("{\"psos\": 1}\n")},
             {"lua/count.lua", 5, sha256_hex("x = 1")}};
  return m;
}

std::variant<CheckedManifest, BundleRefusal> check(const SignedManifest& s, std::uint64_t floor = 2,
                                                   std::int64_t now = kNow) {
  return check_manifest(s.text, s.signature, {{"alice", admin().public_key()}}, "fleet", "gw",
                        floor, now, 30'000);
}

std::string code_of(const std::variant<CheckedManifest, BundleRefusal>& result) {
  if (const auto* r = std::get_if<BundleRefusal>(&result)) return r->code;
  return "accepted";
}

TEST(Bundle, ASignedManifestIsAcceptedAsWritten) {
  const SignedManifest s = sign_manifest(manifest(), admin());
  EXPECT_EQ(s.text.substr(0, 52),
            "{\"v\":1,\"system\":\"fleet\",\"node\":\"gw\",\"revision\":3,\"is");
  const auto result = check(s);
  ASSERT_EQ(code_of(result), "accepted");
  const CheckedManifest& checked = std::get<CheckedManifest>(result);
  EXPECT_EQ(checked.signer, "alice");
  EXPECT_EQ(checked.manifest.revision, 3u);
  EXPECT_EQ(checked.manifest.files.size(), 2u);
  EXPECT_EQ(checked.manifest.file("lua/count.lua")->size, 5u);
  EXPECT_EQ(checked.manifest.total_bytes(), 17u);
  EXPECT_EQ(manifest_text(checked.manifest), s.text);
}

TEST(Bundle, RefusalsInTheirOrder) {
  SignedManifest s = sign_manifest(manifest(), admin());
  // The same text signed as a request is not a signed manifest.
  SignedManifest as_request = s;
  as_request.signature = router::base64_encode(admin().sign(std::string(kSignedPrefix) + s.text));
  EXPECT_EQ(code_of(check(as_request)), "bad_signature");
  EXPECT_EQ(code_of(check({s.text, "nope"})), "bad_bundle");
  SignedManifest tampered = s;
  tampered.text.replace(tampered.text.find("\"revision\":3"), 12, "\"revision\":4");
  EXPECT_EQ(code_of(check(tampered)), "bad_signature");
  EXPECT_EQ(code_of(check(sign_manifest(manifest(), PrivateKey::generate()))), "untrusted_key");
  Manifest other = manifest();
  other.node = "e01";
  EXPECT_EQ(code_of(check(sign_manifest(other, admin()))), "wrong_target");
  EXPECT_EQ(code_of(check(s, 2, kNow + kBundleLifetimeMs + 30'001)), "expired");
  EXPECT_EQ(code_of(check(s, 2, kNow - 30'001)), "not_yet_valid");
  Manifest forever = manifest();
  forever.expires_ms = kNow + kMaxBundleLifetimeMs + 1;
  EXPECT_EQ(code_of(check(sign_manifest(forever, admin()))), "too_long");
  const auto old = check(s, 3);
  ASSERT_EQ(code_of(old), "old_revision");
  EXPECT_EQ(std::get<BundleRefusal>(old).message,
            "bundle revision 3 is not higher than 3, the highest this node has accepted: a "
            "revision is never applied twice or downgraded (psos rollback goes back)");
  Manifest big = manifest();
  big.files[1].size = kMaxFileBytes + 1;
  EXPECT_EQ(code_of(check(sign_manifest(big, admin()))), "too_large");
}

TEST(Bundle, MalformedManifestsSayWhat) {
  const auto message = [](const std::string& text) {
    const PrivateKey& key = admin();
    const std::string sig =
        sign_manifest(manifest(), key).signature;  // any 64 bytes: the text fails first
    const auto result = check({text, sig});
    EXPECT_EQ(code_of(result), "bad_bundle") << text;
    return std::get_if<BundleRefusal>(&result) ? std::get<BundleRefusal>(result).message : "";
  };
  EXPECT_EQ(message("[1]"), "manifest must be a JSON object, not a list");
  EXPECT_EQ(message("{\"v\":1,\"v\":1}"), "manifest has the key \"v\" twice in one object");
  EXPECT_EQ(message("{\"v\":2}"), "manifest \"v\" must be the number 1, not the number 2");
  EXPECT_EQ(message("{\"v\":1,\"x\":1}"), "manifest has an unknown field \"x\"");
  std::string text = manifest_text(manifest());
  text.replace(text.find("lua/count.lua"), 13, "../count.lua");
  EXPECT_EQ(message(text),
            "manifest file 1 path \"../count.lua\" has a '..' step: a deployed file must be in "
            "the definition's directory or below it");
}

TEST(Bundle, Paths) {
  EXPECT_EQ(bundle_path_problem("a/b.lua"), "");
  EXPECT_NE(bundle_path_problem("/etc/passwd"), "");
  EXPECT_NE(bundle_path_problem("a//b"), "");
  EXPECT_NE(bundle_path_problem("a/"), "");
  EXPECT_NE(bundle_path_problem("./a"), "");
  EXPECT_NE(bundle_path_problem("a\\b"), "");
  EXPECT_NE(bundle_path_problem(std::string(256, 'a')), "");
  EXPECT_NE(bundle_path_problem(""), "");
}

TEST(Bundle, PlansNumberChunksAcrossFiles) {
  const TransferPlan plan({{"a", 10, 0}, {"empty", 0, 0}, {"b", 25, 1}, {"c", 4, 0}}, 8);
  EXPECT_EQ(plan.chunks(), 2u + 0u + 3u + 1u);
  EXPECT_EQ(plan.bytes(), 10u + 17u + 4u);
  auto p = plan.piece(1);
  EXPECT_EQ(p.file, 0u);
  EXPECT_EQ(p.offset, 8u);
  EXPECT_EQ(p.length, 2u);
  EXPECT_TRUE(p.last);
  p = plan.piece(2);
  EXPECT_EQ(p.file, 2u);
  EXPECT_EQ(p.offset, 8u);
  EXPECT_EQ(p.length, 8u);
  EXPECT_FALSE(p.last);
  p = plan.piece(4);
  EXPECT_EQ(p.file, 2u);
  EXPECT_EQ(p.offset, 24u);
  EXPECT_EQ(p.length, 1u);
  p = plan.piece(5);
  EXPECT_EQ(p.file, 3u);
  EXPECT_EQ(p.length, 4u);
  EXPECT_THROW(TransferPlan({{"a", 10, 3}}, 8), std::invalid_argument);

  TransferStart start{"ab12", 16, plan};
  const TransferStart back = decode_transfer_start(transfer_start_json(start));
  EXPECT_EQ(back.transfer, "ab12");
  EXPECT_EQ(back.window, 16u);
  EXPECT_EQ(back.plan.chunks(), plan.chunks());
  nlohmann::json wrong = transfer_start_json(start);
  wrong["chunks"] = 7;
  EXPECT_THROW(decode_transfer_start(wrong), std::invalid_argument);
}

TEST(Bundle, ChunksAndAcks) {
  const std::string payload = encode_chunk(0x01020304, "data");
  EXPECT_EQ(payload, std::string("\x01\x01\x02\x03\x04"
                                 "data",
                                 9));
  const Chunk chunk = decode_chunk(payload);
  EXPECT_EQ(chunk.seq, 0x01020304u);
  EXPECT_EQ(chunk.data, "data");
  try {
    decode_chunk(std::string_view("\x02\x00\x00\x00\x00", 5));
    ADD_FAILURE() << "format 2 was taken";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "chunk format 2 is not 1");
  }
  try {
    decode_chunk("\x01");
    ADD_FAILURE() << "a header alone was taken";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "a chunk has a 5-byte header; this payload has 1 bytes");
  }

  EXPECT_EQ(encode_ack({7, false, "", ""}), "{\"next\":7}");
  EXPECT_EQ(encode_ack({9, true, "", ""}), "{\"done\":true,\"next\":9}");
  const Ack error = decode_ack(encode_ack({0, false, "bad_hash", "file a: no"}));
  EXPECT_EQ(error.error_code, "bad_hash");
  EXPECT_EQ(error.error_message, "file a: no");
  EXPECT_EQ(decode_ack("{\"next\":3,\"done\":true}").next, 3u);
  EXPECT_THROW(decode_ack("{\"next\":-1}"), std::invalid_argument);
  EXPECT_THROW(decode_ack("[]"), std::invalid_argument);
  EXPECT_EQ(chunk_topic("s", "n", "ab"), "psos/s/n/$deploy/ab/data");
  EXPECT_EQ(ack_topic("s", "n", "ab"), "psos/s/n/$deploy/ab/ack");
  EXPECT_EQ(deploy_topic("s", "n"), "psos/s/n/$deploy");
}

}  // namespace
}  // namespace psos::control
