// Tests of control/request: the request text and payload a signer writes, and every check of
// the gate with its code and exact message, in order: bad requests of many shapes, retained,
// wrong target, untrusted key, forged signatures, the time rules at their exact boundaries,
// replays, and the bounded nonce memory.
#include "control/request.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <variant>

#include "router/security/base64.hpp"

namespace psos::control {
namespace {

using Json = nlohmann::json;
using router::base64_decode;
using router::base64_encode;

constexpr std::int64_t kStart = 1'700'000'000'000;  // when the node started
constexpr std::int64_t kNow = kStart + 10'000;

const PrivateKey& alice() {
  static const PrivateKey key = PrivateKey::generate();
  return key;
}
const PrivateKey& bob() {
  static const PrivateKey key = PrivateKey::generate();
  return key;
}

// The payload for an arbitrary request text, signed by `key` as a signer would.
std::string signed_payload(const std::string& text, const PrivateKey& key = alice()) {
  const std::string signature = key.sign(std::string(kSignedPrefix) + text);
  return Json{{"req", text}, {"sig", base64_encode(signature)}}.dump();
}

Request ping(std::int64_t now = kNow) {
  return new_request("greenhouse", "gw", "ping", Json::object(), now);
}

class Gate : public ::testing::Test {
 protected:
  RequestGate gate_{"greenhouse", "gw", {{"alice", alice().public_key()}}, kStart};

  CheckResult check(const std::string& payload, std::string_view verb = "ping",
                    bool retained = false, std::int64_t now = kNow) {
    return gate_.check(verb, payload, retained, now);
  }

  // The refusal of `payload`, failing the test when it was accepted.
  Refusal refused(const std::string& payload, std::string_view verb = "ping", bool retained = false,
                  std::int64_t now = kNow) {
    CheckResult result = check(payload, verb, retained, now);
    if (const Refusal* refusal = std::get_if<Refusal>(&result)) return *refusal;
    ADD_FAILURE() << "accepted: " << payload;
    return {};
  }

  void expect_accepted(const std::string& payload, std::string_view verb = "ping",
                       std::int64_t now = kNow) {
    const CheckResult result = check(payload, verb, false, now);
    if (const Refusal* refusal = std::get_if<Refusal>(&result))
      ADD_FAILURE() << "refused: " << code_name(refusal->code) << ": " << refusal->message;
  }

  // The message of a bad_request, checking the code too.
  std::string bad_request(const std::string& payload) {
    const Refusal refusal = refused(payload);
    EXPECT_EQ(refusal.code, RefusalCode::bad_request) << refusal.message;
    return refusal.message;
  }

  // A request text made of `request`'s fields with `edit` applied, signed by alice.
  template <typename Edit>
  std::string edited(Edit edit, Request request = ping()) {
    request.key = alice().public_key().to_string();
    Json fields = Json::parse(request_text(request));
    edit(fields);
    return signed_payload(fields.dump());
  }
};

TEST(RequestText, FieldsInTheDocumentedOrder) {
  Request request;
  request.id = "r1";
  request.system = "greenhouse";
  request.node = "gw";
  request.verb = "call";
  request.args = {{"service", "archive"}, {"function", "stats"}, {"args", Json::object()}};
  request.issued_ms = 1700000000000;
  request.expires_ms = 1700000060000;
  request.nonce = "AAAAAAAAAAAAAAAAAAAAAA==";
  request.key = "ed25519:11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
  EXPECT_EQ(request_text(request),
            R"({"v":1,"id":"r1","system":"greenhouse","node":"gw","verb":"call",)"
            R"("args":{"args":{},"function":"stats","service":"archive"},)"
            R"("issued":1700000000000,"expires":1700000060000,"nonce":"AAAAAAAAAAAAAAAAAAAAAA==",)"
            R"("key":"ed25519:11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="})");
  request.reply = "replies/cli-1";
  EXPECT_TRUE(request_text(request).ends_with(R"(,"reply":"replies/cli-1"})"));
  request.args = Json::array();
  EXPECT_THROW(request_text(request), std::invalid_argument);
}

TEST(RequestText, NewRequestsHaveFreshIdsAndNonces) {
  const Request a = ping();
  const Request b = ping();
  EXPECT_NE(a.id, b.id);
  EXPECT_NE(a.nonce, b.nonce);
  EXPECT_EQ(base64_decode(a.nonce)->size(), kMinNonceBytes);
  EXPECT_EQ(a.issued_ms, kNow);
  EXPECT_EQ(a.expires_ms, kNow + kDefaultLifetimeMs);
}

TEST(RequestText, PayloadSignsThePrefixAndTheExactText) {
  const Json payload = Json::parse(sign_request(ping(), alice()));
  ASSERT_EQ(payload.size(), 2u);
  const std::string text = payload["req"];
  EXPECT_EQ(Json::parse(text)["key"], alice().public_key().to_string());
  const std::optional<std::string> signature = base64_decode(payload["sig"].get<std::string>());
  ASSERT_TRUE(signature);
  EXPECT_TRUE(alice().public_key().verify(std::string(kSignedPrefix) + text, *signature));
  EXPECT_FALSE(alice().public_key().verify(text, *signature));
}

TEST(CommandTopic, IsUnderTheNodesControlTopics) {
  EXPECT_EQ(command_topic("greenhouse", "gw", "call"), "psos/greenhouse/gw/$cmd/call");
}

TEST(RefusalCodes, HaveDistinctStableNames) {
  const std::vector<std::string_view> names = {
      "bad_request", "retained", "wrong_target", "untrusted_key", "bad_signature", "not_yet_valid",
      "expired",     "too_long", "stale",        "replayed",      "busy"};
  ASSERT_EQ(names.size(), kRefusalCodeCount);
  for (std::size_t i = 0; i < kRefusalCodeCount; ++i)
    EXPECT_EQ(code_name(static_cast<RefusalCode>(i)), names[i]);
}

TEST_F(Gate, AcceptsASignedRequestAndSaysWhoSignedIt) {
  Request request = new_request("greenhouse", "gw", "call",
                                {{"service", "archive"}, {"function", "stats"}}, kNow);
  request.reply = "replies/x";
  const CheckResult result = check(sign_request(request, alice()), "call");
  const Accepted* accepted = std::get_if<Accepted>(&result);
  ASSERT_NE(accepted, nullptr) << code_name(std::get<Refusal>(result).code) << ": "
                               << std::get<Refusal>(result).message;
  EXPECT_EQ(accepted->signer, "alice");
  EXPECT_EQ(accepted->request.id, request.id);
  EXPECT_EQ(accepted->request.verb, "call");
  EXPECT_EQ(accepted->request.args, request.args);
  EXPECT_EQ(accepted->request.issued_ms, kNow);
  EXPECT_EQ(accepted->request.expires_ms, kNow + kDefaultLifetimeMs);
  EXPECT_EQ(accepted->request.nonce, request.nonce);
  EXPECT_EQ(accepted->request.key, alice().public_key().to_string());
  EXPECT_EQ(accepted->request.reply, "replies/x");
  EXPECT_EQ(gate_.remembered_nonces(), 1u);
}

TEST_F(Gate, PayloadsThatAreNotARequestPayload) {
  EXPECT_EQ(bad_request(""),
            "payload is not JSON: at line 1, column 1: syntax error while parsing value - "
            "unexpected end of input; expected '[', '{', or a literal");
  EXPECT_EQ(bad_request("{\"req\":"),
            "payload is not JSON: at line 1, column 8: syntax error while parsing value - "
            "unexpected end of input; expected '[', '{', or a literal");
  EXPECT_EQ(bad_request("{\"req\": \"\xff\"}"),
            "payload is not JSON: at line 1, column 10: syntax error while parsing value - "
            "invalid string: ill-formed UTF-8 byte");
  EXPECT_EQ(bad_request("{\"req\": 1e400}"),
            "payload is not JSON: number overflow parsing '1e400'");
  EXPECT_EQ(bad_request("[1]"),
            "payload must be a JSON object {\"req\": ..., \"sig\": ...}, not a list");
  EXPECT_EQ(bad_request("\"x\""),
            "payload must be a JSON object {\"req\": ..., \"sig\": ...}, not a string");
  EXPECT_EQ(bad_request("null"),
            "payload must be a JSON object {\"req\": ..., \"sig\": ...}, not null");
  EXPECT_EQ(bad_request("{}"), "payload has no \"req\" (the request text)");
  EXPECT_EQ(bad_request("{\"sig\": \"\"}"), "payload has no \"req\" (the request text)");
  EXPECT_EQ(bad_request("{\"req\": {}, \"sig\": \"\"}"),
            "payload \"req\" must be a string (the request text), not an object");
  EXPECT_EQ(bad_request("{\"req\": \"{}\"}"), "payload has no \"sig\" (the signature)");
  EXPECT_EQ(bad_request("{\"req\": \"{}\", \"sig\": 7}"),
            "payload \"sig\" must be a string (base64 of the signature), not the number 7");
  EXPECT_EQ(bad_request("{\"req\": \"{}\", \"sig\": \"not base64!\"}"),
            "payload \"sig\" is not base64");
  EXPECT_EQ(bad_request("{\"req\": \"{}\", \"sig\": \"" + base64_encode("short") + "\"}"),
            "payload \"sig\" has 5 bytes; an Ed25519 signature has 64");
  EXPECT_EQ(bad_request("{\"req\": \"{}\", \"sig\": \"\", \"key\": \"x\"}"),
            "payload has an unknown field \"key\" (a payload has \"req\" and \"sig\" only)");
}

TEST_F(Gate, RequestTextsThatAreNotARequest) {
  EXPECT_EQ(bad_request(signed_payload("")),
            "request text is not JSON: at line 1, column 1: syntax error while parsing value - "
            "unexpected end of input; expected '[', '{', or a literal");
  EXPECT_EQ(bad_request(signed_payload("{\"v\":1,}")),
            "request text is not JSON: at line 1, column 8: syntax error while parsing object "
            "key - unexpected '}'; expected string literal");
  EXPECT_EQ(bad_request(signed_payload("{\"v\":1,\"args\":{\"x\":-1e999}}")),
            "request text is not JSON: number overflow parsing '-1e999'");
  EXPECT_EQ(bad_request(signed_payload("[]")), "request text must be a JSON object, not a list");
  EXPECT_EQ(bad_request(signed_payload("{}")), "request has no \"v\" (the format version, 1)");
  EXPECT_EQ(bad_request(signed_payload("{\"v\":\"1\"}")),
            "request \"v\" must be the number 1, not a string");
  EXPECT_EQ(bad_request(signed_payload("{\"v\":1.0}")),
            "request \"v\" must be the number 1, not the number 1.0");
  EXPECT_EQ(bad_request(signed_payload("{\"v\":2}")),
            "request \"v\" is 2: this node reads version 1 only");
  EXPECT_EQ(bad_request(signed_payload(std::string(100, '[') + std::string(100, ']'))),
            "request text nests deeper than 64 levels");
  EXPECT_EQ(bad_request(signed_payload("{\"v\":1,\"args\":{\"a\":" + std::string(64, '[') +
                                       std::string(64, ']') + "}}")),
            "request text nests deeper than 64 levels");
  EXPECT_EQ(bad_request(signed_payload("{\"v\":1,\"v\":1}")),
            "request text has the key \"v\" twice in one object");
  EXPECT_EQ(bad_request(signed_payload("{\"v\":1,\"args\":{\"a\":[{\"b\":1,\"b\":2}]}}")),
            "request text has the key \"b\" twice in one object");
}

TEST_F(Gate, EqualKeysInDifferentObjectsAreNotRepeats) {
  expect_accepted(edited([](Json& f) {
    f["args"] = Json::parse(R"({"id": 1, "v": {"v": [{"v": 2}, {"v": 3}]}, "args": {}})");
  }));
}

TEST_F(Gate, EachFieldMissingOrMistyped) {
  const auto without = [&](const char* name) {
    return bad_request(edited([name](Json& f) { f.erase(name); }));
  };
  const auto with = [&](const char* name, Json value) {
    return bad_request(edited([name, value](Json& f) { f[name] = value; }));
  };
  EXPECT_EQ(without("id"), "request has no \"id\" (a string echoed in the reply)");
  EXPECT_EQ(without("system"), "request has no \"system\" (the target system)");
  EXPECT_EQ(without("node"), "request has no \"node\" (the target node)");
  EXPECT_EQ(without("verb"), "request has no \"verb\" (the command)");
  EXPECT_EQ(without("args"), "request has no \"args\" (an object, may be empty)");
  EXPECT_EQ(without("issued"), "request has no \"issued\" (epoch milliseconds)");
  EXPECT_EQ(without("expires"), "request has no \"expires\" (epoch milliseconds)");
  EXPECT_EQ(without("nonce"), "request has no \"nonce\" (base64 of 16 to 64 random bytes)");
  EXPECT_EQ(without("key"), "request has no \"key\" (the signer's public key, ed25519:BASE64)");

  EXPECT_EQ(with("id", 5), "request \"id\" must be a string, not the number 5");
  EXPECT_EQ(with("id", std::string(257, 'i')), "request \"id\" has 257 bytes; at most 256");
  EXPECT_EQ(with("system", nullptr), "request \"system\" must be a string, not null");
  EXPECT_EQ(with("node", true), "request \"node\" must be a string, not true");
  EXPECT_EQ(with("verb", Json::array()), "request \"verb\" must be a string, not a list");
  EXPECT_EQ(with("args", Json::array()), "request \"args\" must be an object, not a list");
  EXPECT_EQ(with("args", "{}"), "request \"args\" must be an object, not a string");
  const std::string integer = "must be an integer of epoch milliseconds (0 to 9007199254740991)";
  EXPECT_EQ(with("issued", 1.5), "request \"issued\" " + integer + ", not the number 1.5");
  EXPECT_EQ(with("issued", -1), "request \"issued\" " + integer + ", not the number -1");
  EXPECT_EQ(with("issued", "1700000000000"), "request \"issued\" " + integer + ", not a string");
  EXPECT_EQ(with("expires", 9007199254740992u),
            "request \"expires\" " + integer + ", not the number 9007199254740992");
  EXPECT_EQ(with("expires", kNow - 1),
            "request \"expires\" (1700000009999) is before \"issued\" (1700000010000)");
  EXPECT_EQ(with("nonce", 12), "request \"nonce\" must be a string, not the number 12");
  EXPECT_EQ(with("nonce", "abc"), "request \"nonce\" is not base64");
  EXPECT_EQ(with("nonce", base64_encode(std::string(15, 'n'))),
            "request \"nonce\" has 15 bytes; a nonce has 16 to 64 random bytes");
  EXPECT_EQ(with("nonce", base64_encode(std::string(65, 'n'))),
            "request \"nonce\" has 65 bytes; a nonce has 16 to 64 random bytes");
  EXPECT_EQ(with("key", "ed25519:abc"),
            "request \"key\" is not a public key: the public key after 'ed25519:' is not base64 "
            "(A-Z a-z 0-9 + / with '=' padding)");
  EXPECT_EQ(with("reply", 1), "request \"reply\" must be a string (a topic), not the number 1");
  EXPECT_EQ(with("reply", "replies/#"),
            "request \"reply\" is not a valid topic name: topic name contains a wildcard ('+' or "
            "'#')");
  EXPECT_EQ(with("extra", 1), "request has an unknown field \"extra\"");
}

TEST_F(Gate, ABadRequestStillCarriesItsIdAndReplyTopic) {
  Request request = ping();
  request.reply = "replies/cli";
  const Refusal refusal = refused(edited([](Json& f) { f.erase("nonce"); }, request));
  EXPECT_EQ(refusal.code, RefusalCode::bad_request);
  EXPECT_EQ(refusal.id, request.id);
  EXPECT_EQ(refusal.reply, "replies/cli");

  const Refusal no_id = refused(edited([](Json& f) {
    f["id"] = 3;
    f["reply"] = "bad/+";
  }));
  EXPECT_EQ(no_id.id, std::nullopt);
  EXPECT_EQ(no_id.reply, std::nullopt);
  EXPECT_EQ(refused("{}").id, std::nullopt);
}

TEST_F(Gate, PayloadLargerThanTheLimit) {
  RequestGate small{"greenhouse",
                    "gw",
                    {{"alice", alice().public_key()}},
                    kStart,
                    GateOptions{.max_payload_bytes = 100}};
  const CheckResult result = small.check("ping", std::string(101, ' '), false, kNow);
  ASSERT_TRUE(std::holds_alternative<Refusal>(result));
  EXPECT_EQ(std::get<Refusal>(result).message, "payload has 101 bytes; at most 100");
}

TEST_F(Gate, RetainedRequestsAreRefusedAfterTheFormatChecks) {
  const Request request = ping();
  const Refusal refusal = refused(sign_request(request, alice()), "ping", true);
  EXPECT_EQ(refusal.code, RefusalCode::retained);
  EXPECT_EQ(refusal.message,
            "request was published with the retain flag: retained requests are never executed");
  EXPECT_EQ(refusal.id, request.id);
  EXPECT_EQ(refused("{}", "ping", true).code, RefusalCode::bad_request);
  EXPECT_EQ(gate_.remembered_nonces(), 0u);
}

TEST_F(Gate, RequestsForAnotherNodeOrVerb) {
  const auto target = [&](const char* system, const char* node, const char* verb,
                          std::string_view topic_verb) {
    const Refusal refusal = refused(
        sign_request(new_request(system, node, verb, Json::object(), kNow), alice()), topic_verb);
    EXPECT_EQ(refusal.code, RefusalCode::wrong_target);
    return refusal.message;
  };
  EXPECT_EQ(target("greenhouse", "e01", "ping", "ping"),
            "request is for node \"greenhouse/e01\", this is \"greenhouse/gw\"");
  EXPECT_EQ(target("barn", "gw", "ping", "ping"),
            "request is for node \"barn/gw\", this is \"greenhouse/gw\"");
  EXPECT_EQ(target("greenhouse", "gw", "restart", "ping"),
            "request is for verb \"restart\" but was published to $cmd/ping");
  // Retained comes before the target: a retained request for another node is "retained".
  EXPECT_EQ(refused(sign_request(new_request("barn", "gw", "ping", Json::object(), kNow), alice()),
                    "ping", true)
                .code,
            RefusalCode::retained);
}

TEST_F(Gate, KeysThatAreNotTrusted) {
  const Refusal refusal = refused(sign_request(ping(), bob()));
  EXPECT_EQ(refusal.code, RefusalCode::untrusted_key);
  EXPECT_EQ(refusal.message,
            "key " + bob().public_key().to_string() + " is not trusted by this node");
  // A request naming alice's key but signed by bob: the key is trusted, the signature is not.
  Request request = ping();
  request.key = alice().public_key().to_string();
  EXPECT_EQ(refused(signed_payload(request_text(request), bob())).code, RefusalCode::bad_signature);
}

TEST_F(Gate, ForgedSignatures) {
  const std::string payload = sign_request(ping(), alice());
  const Json original = Json::parse(payload);
  const std::string signature_message = "signature does not match the request text and its key";

  // One byte of the request text changed (the last digit of "expires"): still a valid request.
  std::string text = original["req"];
  const std::size_t digit = text.find(",\"nonce\"") - 1;
  text[digit] = text[digit] == '0' ? '1' : '0';
  const Refusal changed_text = refused(Json{{"req", text}, {"sig", original["sig"]}}.dump());
  EXPECT_EQ(changed_text.code, RefusalCode::bad_signature);
  EXPECT_EQ(changed_text.message, signature_message);

  // One bit of the signature flipped, in each of its 64 bytes.
  const std::string signature = *base64_decode(original["sig"].get<std::string>());
  for (std::size_t i = 0; i < signature.size(); ++i) {
    std::string flipped = signature;
    flipped[i] = static_cast<char>(flipped[i] ^ (1 << (i % 8)));
    const Refusal refusal =
        refused(Json{{"req", original["req"]}, {"sig", base64_encode(flipped)}}.dump());
    EXPECT_EQ(refusal.code, RefusalCode::bad_signature) << "byte " << i;
  }

  // A signature of the text without the "psos-cmd-v1\n" prefix.
  const std::string bare = original["req"];
  EXPECT_EQ(refused(Json{{"req", bare}, {"sig", base64_encode(alice().sign(bare))}}.dump()).code,
            RefusalCode::bad_signature);
  // The same text re-serialised (different bytes, same JSON): the signature covers the bytes.
  const std::string reserialised = Json::parse(bare).dump(1);
  EXPECT_EQ(refused(Json{{"req", reserialised}, {"sig", original["sig"]}}.dump()).code,
            RefusalCode::bad_signature);
  expect_accepted(payload);
}

TEST_F(Gate, IssuedInTheFutureUpToTheSkew) {
  Request request = ping();
  request.issued_ms = kNow + kDefaultSkewMs + 1;
  request.expires_ms = request.issued_ms + 1000;
  const Refusal refusal = refused(sign_request(request, alice()));
  EXPECT_EQ(refusal.code, RefusalCode::not_yet_valid);
  EXPECT_EQ(refusal.message,
            "request was issued 30001 ms in the future (clock skew allowance 30000 ms): check "
            "the clocks of the caller and the node");
  request.issued_ms = kNow + kDefaultSkewMs;
  expect_accepted(sign_request(request, alice()));
}

TEST_F(Gate, ExpiredAfterTheSkew) {
  const Request request = ping();
  const std::string payload = sign_request(request, alice());
  const std::int64_t last = request.expires_ms + kDefaultSkewMs;
  const Refusal refusal = refused(payload, "ping", false, last + 1);
  EXPECT_EQ(refusal.code, RefusalCode::expired);
  EXPECT_EQ(refusal.message, "request expired 30001 ms ago (clock skew allowance 30000 ms)");
  expect_accepted(payload, "ping", last);
}

TEST_F(Gate, LifetimeLongerThanTheMaximum) {
  Request request = ping();
  request.expires_ms = request.issued_ms + kMaxLifetimeMs + 1;
  const Refusal refusal = refused(sign_request(request, alice()));
  EXPECT_EQ(refusal.code, RefusalCode::too_long);
  EXPECT_EQ(refusal.message,
            "request lifetime is 600001 ms (from \"issued\" to \"expires\"); this node accepts at "
            "most 600000 ms");
  request.expires_ms = request.issued_ms + kMaxLifetimeMs;
  expect_accepted(sign_request(request, alice()));
}

TEST_F(Gate, IssuedBeforeTheNodeStarted) {
  Request request = ping(kStart - 1);
  const Refusal refusal = refused(sign_request(request, alice()));
  EXPECT_EQ(refusal.code, RefusalCode::stale);
  EXPECT_EQ(refusal.message,
            "request was issued 1 ms before this node started: requests from before a start are "
            "never executed");
  expect_accepted(sign_request(ping(kStart), alice()));
}

TEST_F(Gate, ARequestIsExecutedOnce) {
  const Request request = ping();
  const std::string payload = sign_request(request, alice());
  expect_accepted(payload);
  const Refusal refusal = refused(payload, "ping", false, kNow + 1);
  EXPECT_EQ(refusal.code, RefusalCode::replayed);
  EXPECT_EQ(refusal.message,
            "request was already received (its nonce was seen): a request is executed at most "
            "once");
  EXPECT_EQ(refusal.id, request.id);
  // Until the very last moment it could be accepted, and after that it is expired.
  const std::int64_t last = request.expires_ms + kDefaultSkewMs;
  EXPECT_EQ(refused(payload, "ping", false, last).code, RefusalCode::replayed);
  EXPECT_EQ(refused(payload, "ping", false, last + 1).code, RefusalCode::expired);
  // Another request with the same nonce is a replay too, whatever else differs.
  Request same_nonce = new_request("greenhouse", "gw", "ping", {{"x", 1}}, kNow);
  same_nonce.nonce = request.nonce;
  EXPECT_EQ(refused(sign_request(same_nonce, alice())).code, RefusalCode::replayed);
}

TEST_F(Gate, NonceMemoryIsBoundedAndForgetsExpiredRequests) {
  RequestGate gate{
      "greenhouse", "gw", {{"alice", alice().public_key()}}, kStart, GateOptions{.max_nonces = 3}};
  std::vector<std::string> payloads;
  for (int i = 0; i < 4; ++i) {
    Request request = ping(kNow + i);
    request.expires_ms = kNow + 1000 * (i + 1);
    payloads.push_back(sign_request(request, alice()));
  }
  for (int i = 0; i < 3; ++i)
    EXPECT_TRUE(std::holds_alternative<Accepted>(gate.check("ping", payloads[i], false, kNow + i)));
  EXPECT_EQ(gate.remembered_nonces(), 3u);

  const CheckResult full = gate.check("ping", payloads[3], false, kNow + 3);
  ASSERT_TRUE(std::holds_alternative<Refusal>(full));
  EXPECT_EQ(std::get<Refusal>(full).code, RefusalCode::busy);
  EXPECT_EQ(std::get<Refusal>(full).message,
            "too many recent requests (3 nonces remembered): try again later");
  // A replay is still called a replay when the memory is full.
  EXPECT_EQ(std::get<Refusal>(gate.check("ping", payloads[0], false, kNow + 3)).code,
            RefusalCode::replayed);

  // The first request's nonce is forgotten once its expires + skew has passed.
  const std::int64_t first_gone = kNow + 1000 + kDefaultSkewMs + 1;
  EXPECT_TRUE(std::holds_alternative<Accepted>(gate.check("ping", payloads[3], false, first_gone)));
  EXPECT_EQ(gate.remembered_nonces(), 3u);
  // Much later every one is forgotten by the next check, whatever its outcome.
  gate.check("ping", "{}", false, kNow + 10 * kMaxLifetimeMs);
  EXPECT_EQ(gate.remembered_nonces(), 3u) << "a bad request is refused before the nonce memory";
  Request late = ping(kNow + 10 * kMaxLifetimeMs);
  EXPECT_TRUE(std::holds_alternative<Accepted>(
      gate.check("ping", sign_request(late, alice()), false, kNow + 10 * kMaxLifetimeMs)));
  EXPECT_EQ(gate.remembered_nonces(), 1u);
}

TEST_F(Gate, TrustedKeyWithoutAName) {
  RequestGate gate{"greenhouse", "gw", {{"", bob().public_key()}}, kStart};
  const CheckResult result = gate.check("ping", sign_request(ping(), bob()), false, kNow);
  ASSERT_TRUE(std::holds_alternative<Accepted>(result));
  EXPECT_EQ(std::get<Accepted>(result).signer, "");
}

TEST_F(Gate, NeverThrowsOnArbitraryBytes) {
  const std::string valid = sign_request(ping(), alice());
  std::mt19937 random(12345);  // fixed seed: the same inputs on every run
  for (int round = 0; round < 2000; ++round) {
    std::string payload = valid;
    const int edits = 1 + static_cast<int>(random() % 8);
    for (int e = 0; e < edits; ++e) {
      const std::size_t at = random() % payload.size();
      switch (random() % 3) {
        case 0:
          payload[at] = static_cast<char>(random() % 256);
          break;
        case 1:
          payload.erase(at, 1 + random() % 16);
          break;
        default:
          payload.insert(at, 1, "{}[]\",:\\u0"[random() % 11]);
      }
      if (payload.empty()) payload = "x";
    }
    EXPECT_NO_THROW(gate_.check("ping", payload, random() % 2 == 0, kNow));
  }
}

}  // namespace
}  // namespace psos::control
