// The worked example of docs/control.md stays true: the C++ signer makes the documented
// request text and the same signature from the documented throwaway key (Ed25519 signatures are
// deterministic), and a node trusting that key accepts the documented payload at its time.
#include <gtest/gtest.h>

#include <string>
#include <variant>

#include "control/keys.hpp"
#include "control/request.hpp"
#include "control_test_support.hpp"

namespace psos::control {
namespace {

using namespace test;
using Json = nlohmann::json;

// The fenced block that follows "<!-- NAME -->" in docs/control.md, without its last newline.
std::string example_block(const std::string& name) {
  const std::string doc = read_text(std::string(PSOS_SOURCE_DIR) + "/docs/control.md");
  const std::size_t marker = doc.find("<!-- " + name + " -->");
  if (marker == std::string::npos) return "(no " + name + " in docs/control.md)";
  const std::size_t start = doc.find('\n', doc.find("```", marker)) + 1;
  const std::size_t end = doc.find("\n```", start);
  return doc.substr(start, end - start);
}

TEST(DocsExample, TheSignerMakesTheDocumentedPayload) {
  const PrivateKey key = PrivateKey::from_pem(example_block("example-private-key") + "\n", "doc");
  EXPECT_EQ(key.public_key().to_string(), "ed25519:UDqmbe8fMyUvY1IiWby9/B2DNjBkDAZH5qKUbUrpddM=");

  Request request;
  request.id = "7f3a9c1e0b2d4e65";
  request.system = "greenhouse";
  request.node = "gw";
  request.verb = "call";
  request.args = Json::parse(R"({"service": "archive", "function": "stats", "args": {}})");
  request.issued_ms = 1767225600000;
  request.expires_ms = request.issued_ms + kDefaultLifetimeMs;
  request.nonce = "UBO44/ELkXYZzwbLqo6x8w==";
  const Json signed_by_cpp = Json::parse(sign_request(request, key));

  const std::string text = example_block("example-request-text");
  const Json documented = Json::parse(example_block("example-payload"));
  EXPECT_EQ(documented["req"], text);
  EXPECT_EQ(signed_by_cpp["req"], text) << "the C++ signer writes the fields in another form";
  EXPECT_EQ(signed_by_cpp["sig"], documented["sig"]);
}

TEST(DocsExample, ANodeAcceptsTheDocumentedPayload) {
  const PrivateKey key = PrivateKey::from_pem(example_block("example-private-key") + "\n", "doc");
  constexpr std::int64_t kIssued = 1767225600000;
  RequestGate gate("greenhouse", "gw", {{"doc", key.public_key()}}, kIssued - 1000);
  const CheckResult result =
      gate.check("call", example_block("example-payload"), false, kIssued + 1000);
  ASSERT_TRUE(std::holds_alternative<Accepted>(result)) << std::get<Refusal>(result).message;
  EXPECT_EQ(std::get<Accepted>(result).request.args["service"], "archive");
}

}  // namespace
}  // namespace psos::control
