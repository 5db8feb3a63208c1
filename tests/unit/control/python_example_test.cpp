// The Python example (examples/python/psos_call.py, with Debian's python3-cryptography) and the
// C++ side agree: its signed requests pass the RequestGate, a tampered one does not, and keys
// written by either side are read by the other. Run with /usr/bin/python3, which owns the
// Debian python3-* packages.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <variant>

#include "control/keys.hpp"
#include "control/request.hpp"
#include "control_test_support.hpp"

namespace psos::control {
namespace {

using namespace test;
using Json = nlohmann::json;

const std::string kPython = "/usr/bin/python3";
const std::string kExample = std::string(PSOS_SOURCE_DIR) + "/examples/python/psos_call.py";

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class PythonExample : public TempDir {
 protected:
  void SetUp() override {
    TempDir::SetUp();
    key_.save(dir_ / "admin.key");
  }

  // psos_call.py ARGS with stderr to `err()`.
  Result example(const std::string& args) {
    return run(kPython + " " + kExample + " " + args + " 2>" +
               shell_quoted((dir_ / "stderr").string()));
  }
  std::string err() const { return read_text(dir_ / "stderr"); }

  // The payload psos_call.py prints for a call of archive.query on greenhouse/gw.
  std::string printed_request(const std::string& args_json) {
    const Result r =
        example("--key " + shell_quoted((dir_ / "admin.key").string()) +
                " --print-request greenhouse/gw archive query " + shell_quoted(args_json));
    EXPECT_EQ(r.status, 0) << err();
    EXPECT_EQ(err(), "topic: psos/greenhouse/gw/$cmd/call\n");
    return r.out;
  }

  CheckResult check(const std::string& payload, const PublicKey& trusted) {
    const std::int64_t now = now_ms();
    RequestGate gate("greenhouse", "gw", {{"python", trusted}}, now - 1000);
    return gate.check("call", payload, false, now);
  }

  PrivateKey key_ = PrivateKey::generate();
};

TEST_F(PythonExample, ItsSignedRequestPassesTheGate) {
  const std::string payload = printed_request(R"({"limit": 2, "where": "caf\u00e9"})");
  const CheckResult result = check(payload, key_.public_key());
  const Accepted* accepted = std::get_if<Accepted>(&result);
  ASSERT_NE(accepted, nullptr) << code_name(std::get<Refusal>(result).code) << ": "
                               << std::get<Refusal>(result).message << "\n"
                               << payload;
  EXPECT_EQ(accepted->signer, "python");
  EXPECT_EQ(accepted->request.verb, "call");
  EXPECT_EQ(accepted->request.args, Json::parse(R"({"service": "archive", "function": "query",
                            "args": {"limit": 2, "where": "café"}})"));
  EXPECT_EQ(accepted->request.expires_ms - accepted->request.issued_ms, kDefaultLifetimeMs);
  EXPECT_EQ(accepted->request.key, key_.public_key().to_string());
}

TEST_F(PythonExample, ATamperedRequestIsRefused) {
  const Json payload = Json::parse(printed_request(R"({"limit": 2})"));
  std::string text = payload["req"];
  text.replace(text.find("\"limit\":2"), 9, "\"limit\":3");
  const CheckResult result =
      check(Json{{"req", text}, {"sig", payload["sig"]}}.dump(), key_.public_key());
  ASSERT_TRUE(std::holds_alternative<Refusal>(result));
  EXPECT_EQ(std::get<Refusal>(result).code, RefusalCode::bad_signature);

  const CheckResult other = check(payload.dump(), PrivateKey::generate().public_key());
  ASSERT_TRUE(std::holds_alternative<Refusal>(other));
  EXPECT_EQ(std::get<Refusal>(other).code, RefusalCode::untrusted_key);
}

TEST_F(PythonExample, KeysWrittenByPythonAreReadByPsos) {
  const fs::path path = dir_ / "py.key";
  const Result r = run(kPython + " -c " +
                       shell_quoted(R"(
import sys
sys.path.insert(0, ')" + kExample.substr(0, kExample.rfind('/')) +
                                    R"(')
from psos_call import public_key_text
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
key = Ed25519PrivateKey.generate()
open(')" + path.string() + R"(', 'wb').write(key.private_bytes(serialization.Encoding.PEM,
    serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
print(public_key_text(key))
)"));
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(PrivateKey::load(path).public_key().to_string() + "\n", r.out);
}

TEST_F(PythonExample, UsageErrorsExitWith2) {
  const std::string key = "--key " + shell_quoted((dir_ / "admin.key").string());
  EXPECT_EQ(example(key + " --print-request gw archive query").status, 2);
  EXPECT_EQ(err(),
            "psos_call.py: --print-request needs SYSTEM/NODE (it does not ask the broker)\n");
  EXPECT_EQ(example(key + " --print-request g/gw archive query '[1]'").status, 2);
  EXPECT_EQ(err(), "psos_call.py: ARGS_JSON must be a JSON object, like {\"limit\": 10}\n");
  EXPECT_EQ(example("--key /no/such.key --print-request g/gw archive query").status, 2);
  EXPECT_EQ(err(),
            "psos_call.py: cannot use the key /no/such.key: [Errno 2] No such file or directory: "
            "'/no/such.key'\n");
  EXPECT_EQ(example(key + " g/gw archive").status, 2);
}

}  // namespace
}  // namespace psos::control
