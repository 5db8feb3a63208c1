// Signing requests, and the gate's checks in the documented order.
#include "control/request.hpp"

#include <algorithm>
#include <array>
#include <stdexcept>

#include "control/digest.hpp"
#include "control/strict_json.hpp"
#include "mqtt/topic.hpp"
#include "router/security/base64.hpp"
#include "system/checker.hpp"

namespace psos::control {
namespace {

using Json = nlohmann::json;
using system::describe;  // "a string", "the number 5": what a mistyped value is

// Deep enough for any real arguments; shallow enough that code walking them recursively later
// (dump, Lua conversion) cannot run out of stack.
constexpr int kMaxDepth = 64;

constexpr std::array<std::string_view, 11> kFields = {
    "v", "id", "system", "node", "verb", "args", "issued", "expires", "nonce", "key", "reply"};

}  // namespace

std::string command_topic(std::string_view system, std::string_view node, std::string_view verb) {
  std::string topic = "psos/";
  topic += system;
  topic += '/';
  topic += node;
  topic += "/$cmd/";
  topic += verb;
  return topic;
}

Request new_request(std::string system, std::string node, std::string verb, nlohmann::json args,
                    std::int64_t now_ms, std::int64_t lifetime_ms) {
  Request request;
  request.id = to_hex(random_bytes(8));
  request.system = std::move(system);
  request.node = std::move(node);
  request.verb = std::move(verb);
  request.args = std::move(args);
  request.issued_ms = now_ms;
  request.expires_ms = now_ms + lifetime_ms;
  request.nonce = router::base64_encode(random_bytes(kMinNonceBytes));
  return request;
}

std::string request_text(const Request& request) {
  if (!request.args.is_object())
    throw std::invalid_argument("request args must be a JSON object, not " +
                                describe(request.args));
  std::string text = "{\"v\":1,\"id\":" + Json(request.id).dump();
  text += ",\"system\":" + Json(request.system).dump();
  text += ",\"node\":" + Json(request.node).dump();
  text += ",\"verb\":" + Json(request.verb).dump();
  text += ",\"args\":" + request.args.dump();
  text += ",\"issued\":" + std::to_string(request.issued_ms);
  text += ",\"expires\":" + std::to_string(request.expires_ms);
  text += ",\"nonce\":" + Json(request.nonce).dump();
  text += ",\"key\":" + Json(request.key).dump();
  if (request.reply) text += ",\"reply\":" + Json(*request.reply).dump();
  return text + "}";
}

std::string sign_request(Request request, const PrivateKey& key) {
  request.key = key.public_key().to_string();
  const std::string text = request_text(request);
  const std::string signature = key.sign(std::string(kSignedPrefix) + text);
  return "{\"req\":" + Json(text).dump() +
         ",\"sig\":" + Json(router::base64_encode(signature)).dump() + "}";
}

std::string_view code_name(RefusalCode code) noexcept {
  switch (code) {
    case RefusalCode::bad_request:
      return "bad_request";
    case RefusalCode::retained:
      return "retained";
    case RefusalCode::wrong_target:
      return "wrong_target";
    case RefusalCode::untrusted_key:
      return "untrusted_key";
    case RefusalCode::bad_signature:
      return "bad_signature";
    case RefusalCode::not_yet_valid:
      return "not_yet_valid";
    case RefusalCode::expired:
      return "expired";
    case RefusalCode::too_long:
      return "too_long";
    case RefusalCode::stale:
      return "stale";
    case RefusalCode::replayed:
      return "replayed";
    case RefusalCode::busy:
      return "busy";
  }
  return "bad_request";
}

RequestGate::RequestGate(std::string system, std::string node, std::vector<TrustedKey> trusted,
                         std::int64_t started_ms, GateOptions options)
    : system_(std::move(system)),
      node_(std::move(node)),
      trusted_(std::move(trusted)),
      started_ms_(started_ms),
      options_(options) {}

CheckResult RequestGate::check(std::string_view verb, std::string_view payload, bool retained,
                               std::int64_t now_ms) {
  try {
    return check_unguarded(verb, payload, retained, now_ms);
  } catch (const std::exception& error) {
    // Not expected for any input; a refusal rather than an exception through the node's loop.
    return Refusal{RefusalCode::bad_request,
                   std::string("request could not be read: ") + error.what(),
                   {},
                   {}};
  }
}

CheckResult RequestGate::check_unguarded(std::string_view verb, std::string_view payload,
                                         bool retained, std::int64_t now_ms) {
  Refusal refusal;
  const auto refuse = [&refusal](RefusalCode code, std::string message) {
    refusal.code = code;
    refusal.message = std::move(message);
    return refusal;
  };
  const auto bad = [&refuse](std::string message) {
    return refuse(RefusalCode::bad_request, std::move(message));
  };

  // The payload: {"req": "<request text>", "sig": "<base64>"}.
  if (payload.size() > options_.max_payload_bytes)
    return bad("payload has " + std::to_string(payload.size()) + " bytes; at most " +
               std::to_string(options_.max_payload_bytes));
  Json outer;
  try {
    outer = Json::parse(payload);
  } catch (const Json::exception& error) {
    return bad("payload is not JSON: " + parse_problem(error));
  }
  if (!outer.is_object())
    return bad("payload must be a JSON object {\"req\": ..., \"sig\": ...}, not " +
               describe(outer));
  for (const auto& [name, value] : outer.items())
    if (name != "req" && name != "sig")
      return bad("payload has an unknown field " + in_quotes(name) +
                 " (a payload has \"req\" and \"sig\" only)");
  const auto req = outer.find("req");
  if (req == outer.end()) return bad("payload has no \"req\" (the request text)");
  if (!req->is_string())
    return bad("payload \"req\" must be a string (the request text), not " + describe(*req));
  const auto sig = outer.find("sig");
  if (sig == outer.end()) return bad("payload has no \"sig\" (the signature)");
  if (!sig->is_string())
    return bad("payload \"sig\" must be a string (base64 of the signature), not " + describe(*sig));
  const std::string& text = req->get_ref<const std::string&>();
  const std::optional<std::string> signature =
      router::base64_decode(sig->get_ref<const std::string&>());
  if (!signature) return bad("payload \"sig\" is not base64");
  if (signature->size() != PublicKey::kSignatureSize)
    return bad("payload \"sig\" has " + std::to_string(signature->size()) +
               " bytes; an Ed25519 signature has 64");

  // The request text, read now to find the key and the target; nothing in it is acted upon
  // before the signature over its exact bytes has been checked.
  Json fields;
  TextProblems problems;
  try {
    fields = parse_strict(text, kMaxDepth, problems);
  } catch (const Json::exception& error) {
    return bad("request text is not JSON: " + parse_problem(error));
  }
  if (problems.too_deep)
    return bad("request text nests deeper than " + std::to_string(kMaxDepth) + " levels");
  if (!fields.is_object())
    return bad("request text must be a JSON object, not " + describe(fields));
  if (const auto id = fields.find("id"); id != fields.end() && id->is_string() &&
                                         id->get_ref<const std::string&>().size() <= kMaxIdBytes)
    refusal.id = id->get<std::string>();
  if (const auto reply = fields.find("reply");
      reply != fields.end() && reply->is_string() &&
      !mqtt::validate_topic_name(reply->get<std::string>()))
    refusal.reply = reply->get<std::string>();
  if (problems.duplicate)
    return bad("request text has the key " + in_quotes(*problems.duplicate) +
               " twice in one object");

  const auto version = fields.find("v");
  if (version == fields.end()) return bad("request has no \"v\" (the format version, 1)");
  if (!version->is_number_integer() && !version->is_number_unsigned())
    return bad("request \"v\" must be the number 1, not " + describe(*version));
  if (*version != 1)
    return bad("request \"v\" is " + version->dump() + ": this node reads version 1 only");
  for (const auto& [name, value] : fields.items())
    if (std::find(kFields.begin(), kFields.end(), name) == kFields.end())
      return bad("request has an unknown field " + in_quotes(name));

  Request request;
  FieldReader reader(fields, "request");
  const bool read = reader.string("id", "a string echoed in the reply", request.id) &&
                    reader.string("system", "the target system", request.system) &&
                    reader.string("node", "the target node", request.node) &&
                    reader.string("verb", "the command", request.verb) &&
                    reader.object("args", "an object, may be empty", request.args) &&
                    reader.time("issued", request.issued_ms) &&
                    reader.time("expires", request.expires_ms) &&
                    reader.string("nonce", "base64 of 16 to 64 random bytes", request.nonce) &&
                    reader.string("key", "the signer's public key, ed25519:BASE64", request.key);
  if (!read) return bad(reader.problem());
  if (request.id.size() > kMaxIdBytes)
    return bad("request \"id\" has " + std::to_string(request.id.size()) + " bytes; at most " +
               std::to_string(kMaxIdBytes));
  if (request.expires_ms < request.issued_ms)
    return bad("request \"expires\" (" + std::to_string(request.expires_ms) +
               ") is before \"issued\" (" + std::to_string(request.issued_ms) + ")");
  const std::optional<std::string> nonce = router::base64_decode(request.nonce);
  if (!nonce) return bad("request \"nonce\" is not base64");
  if (nonce->size() < kMinNonceBytes || nonce->size() > kMaxNonceBytes)
    return bad("request \"nonce\" has " + std::to_string(nonce->size()) +
               " bytes; a nonce has 16 to 64 random bytes");
  std::optional<PublicKey> key;
  try {
    key = PublicKey::parse(request.key);
  } catch (const std::invalid_argument& error) {
    return bad(std::string("request \"key\" is not a public key: ") + error.what());
  }
  if (const auto reply = fields.find("reply"); reply != fields.end()) {
    if (!reply->is_string())
      return bad("request \"reply\" must be a string (a topic), not " + describe(*reply));
    const std::string& topic = reply->get_ref<const std::string&>();
    if (const mqtt::Error error = mqtt::validate_topic_name(topic))
      return bad(std::string("request \"reply\" is not a valid topic name: ") + error.message);
    request.reply = topic;
  }

  if (retained)
    return refuse(RefusalCode::retained,
                  "request was published with the retain flag: retained requests are never "
                  "executed");

  if (request.system != system_ || request.node != node_)
    return refuse(RefusalCode::wrong_target, "request is for node " +
                                                 in_quotes(request.system + "/" + request.node) +
                                                 ", this is " + in_quotes(system_ + "/" + node_));
  if (request.verb != verb)
    return refuse(RefusalCode::wrong_target, "request is for verb " + in_quotes(request.verb) +
                                                 " but was published to $cmd/" + std::string(verb));

  const TrustedKey* signer = nullptr;
  for (const TrustedKey& trusted : trusted_)
    if (trusted.key == *key) {
      signer = &trusted;
      break;
    }
  if (signer == nullptr)
    return refuse(RefusalCode::untrusted_key,
                  "key " + request.key + " is not trusted by this node");

  if (!key->verify(std::string(kSignedPrefix) + text, *signature))
    return refuse(RefusalCode::bad_signature,
                  "signature does not match the request text and its key");

  const std::int64_t skew = options_.skew_ms;
  if (request.issued_ms > now_ms + skew)
    return refuse(RefusalCode::not_yet_valid,
                  "request was issued " + std::to_string(request.issued_ms - now_ms) +
                      " ms in the future (clock skew allowance " + std::to_string(skew) +
                      " ms): check the clocks of the caller and the node");
  if (now_ms > request.expires_ms + skew)
    return refuse(RefusalCode::expired,
                  "request expired " + std::to_string(now_ms - request.expires_ms) +
                      " ms ago (clock skew allowance " + std::to_string(skew) + " ms)");
  if (request.expires_ms - request.issued_ms > options_.max_lifetime_ms)
    return refuse(RefusalCode::too_long,
                  "request lifetime is " + std::to_string(request.expires_ms - request.issued_ms) +
                      " ms (from \"issued\" to \"expires\"); this node accepts at most " +
                      std::to_string(options_.max_lifetime_ms) + " ms");
  if (request.issued_ms < started_ms_)
    return refuse(RefusalCode::stale,
                  "request was issued " + std::to_string(started_ms_ - request.issued_ms) +
                      " ms before this node started: requests from before a start are never "
                      "executed");

  forget_nonces(now_ms);
  if (nonces_.contains(request.nonce))
    return refuse(RefusalCode::replayed,
                  "request was already received (its nonce was seen): a request is executed at "
                  "most once");
  if (nonces_.size() >= options_.max_nonces)
    return refuse(RefusalCode::busy, "too many recent requests (" + std::to_string(nonces_.size()) +
                                         " nonces remembered): try again later");
  const auto entry = nonces_by_expiry_.emplace(request.expires_ms + skew, request.nonce);
  nonces_.insert(entry->second);
  return Accepted{std::move(request), signer->name};
}

void RequestGate::forget_nonces(std::int64_t now_ms) {
  while (!nonces_by_expiry_.empty() && nonces_by_expiry_.begin()->first < now_ms) {
    nonces_.erase(nonces_by_expiry_.begin()->second);
    nonces_by_expiry_.erase(nonces_by_expiry_.begin());
  }
}

}  // namespace psos::control
