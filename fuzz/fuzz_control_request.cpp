// libFuzzer harness for the control plane's request gate (control::RequestGate): arbitrary
// payloads, and arbitrary request texts signed with a key the gate trusts so that the checks
// after the signature (time rules, nonces, the bounded nonce memory) are reached too.
// The gate must never throw (an exception it caught itself is a finding too); every refusal is
// one line of valid UTF-8 that survives a reply's encoding; an accepted request really is signed
// by the trusted key, within its time rules, and is refused as replayed when it comes again.
//
// Input: byte 0 holds flags (bit 0 retained, bit 1 "sign": each chunk is a request text that
// the harness signs, else a raw payload; bit 2 the topic's verb is "call" instead of "ping";
// bit 3 a nonce memory of 2 instead of the default); byte 1 is a signed step in seconds by
// which the clock advances between chunks; the rest is up to 8 chunks separated by the bytes
// FF FE (never found in UTF-8 text), checked in order by one gate.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "control/keys.hpp"
#include "control/reply.hpp"
#include "control/request.hpp"
#include "fuzz_keys.hpp"
#include "mqtt/topic.hpp"
#include "router/security/base64.hpp"

namespace {

using namespace psos;
using Json = nlohmann::json;

constexpr std::int64_t kNow = 1'700'000'000'000;
constexpr std::int64_t kStarted = kNow - 60'000;
constexpr std::string_view kSeparator = "\xff\xfe";

[[noreturn]] void finding(const char* what, const std::string& detail) {
  std::fprintf(stderr, "fuzz_control_request: %s: %s\n", what, detail.c_str());
  std::abort();
}

using fuzz::trusted_key;  // the key the seed corpus is signed with

std::string dump(const Json& value) {
  return value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

// The payload a signer would publish for `chunk` as request text (bad UTF-8 replaced first:
// a JSON string cannot carry it).
std::string signed_payload(std::string_view chunk) {
  const std::string text = Json::parse(dump(Json(std::string(chunk)))).get<std::string>();
  const std::string signature = trusted_key().sign(std::string(control::kSignedPrefix) + text);
  return "{\"req\":" + dump(Json(text)) + ",\"sig\":\"" + router::base64_encode(signature) + "\"}";
}

void check_refusal(const control::Refusal& refusal, std::string_view payload) {
  const std::string& message = refusal.message;
  if (message.empty()) finding("a refusal without a message", payload.data());
  if (message.starts_with("request could not be read"))
    finding("the gate caught an exception", message);
  if (message.find('\n') != std::string::npos || message.find('\r') != std::string::npos)
    finding("a refusal message of more than one line", message);
  if (mqtt::is_valid_utf8(payload) && !mqtt::is_valid_utf8(message))
    finding("a refusal message that is not valid UTF-8", message);
  if (refusal.id && refusal.id->size() > control::kMaxIdBytes)
    finding("a refusal with an id that is too long", *refusal.id);
  if (refusal.reply && mqtt::validate_topic_name(*refusal.reply))
    finding("a refusal with an invalid reply topic", *refusal.reply);
  const control::Reply reply = control::decode_reply(control::encode_refusal(refusal));
  if (reply.ok || reply.error_code != control::code_name(refusal.code))
    finding("a refusal's reply does not decode to its code", control::encode_refusal(refusal));
  if (mqtt::is_valid_utf8(message) && reply.error_message != message)
    finding("a refusal's reply does not decode to its message", message);
  if (reply.id != refusal.id && mqtt::is_valid_utf8(refusal.id.value_or("")))
    finding("a refusal's reply does not decode to its id", refusal.id.value_or("(none)"));
}

void check_accepted(const control::Accepted& accepted, std::string_view payload, std::int64_t now) {
  const control::Request& request = accepted.request;
  if (request.key != trusted_key().public_key().to_string())
    finding("accepted a request with another key", request.key);
  const Json outer = Json::parse(payload);
  const std::string text = outer.at("req");
  const std::string signature = *router::base64_decode(outer.at("sig").get<std::string>());
  if (!trusted_key().public_key().verify(std::string(control::kSignedPrefix) + text, signature))
    finding("accepted a request whose signature does not verify", text);
  const std::int64_t skew = control::kDefaultSkewMs;
  if (request.issued_ms > now + skew || now > request.expires_ms + skew ||
      request.expires_ms - request.issued_ms > control::kMaxLifetimeMs ||
      request.issued_ms < kStarted)
    finding("accepted a request outside its time rules", text);
  if (!request.args.is_object()) finding("accepted args that are not an object", text);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::uint8_t flags = data[0];
  const bool retained = (flags & 1) != 0;
  const bool sign = (flags & 2) != 0;
  const std::string_view verb = (flags & 4) != 0 ? "call" : "ping";
  control::GateOptions options;
  if ((flags & 8) != 0) options.max_nonces = 2;
  const std::int64_t step = static_cast<std::int8_t>(data[1]) * std::int64_t{1000};

  control::RequestGate gate("greenhouse", "gw", {{"fuzzer", trusted_key().public_key()}}, kStarted,
                            options);
  std::string_view rest(reinterpret_cast<const char*>(data) + 2, size - 2);
  std::int64_t now = kNow;
  for (int chunk = 0; chunk < 8 && !rest.empty(); ++chunk, now += step) {
    const std::size_t end = rest.find(kSeparator);
    const std::string_view piece = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 2);

    const std::string payload = sign ? signed_payload(piece) : std::string(piece);
    const control::CheckResult result = gate.check(verb, payload, retained, now);
    if (const auto* refusal = std::get_if<control::Refusal>(&result)) {
      check_refusal(*refusal, payload);
    } else {
      check_accepted(std::get<control::Accepted>(result), payload, now);
      const control::CheckResult again = gate.check(verb, payload, retained, now);
      const auto* second = std::get_if<control::Refusal>(&again);
      if (second == nullptr || second->code != control::RefusalCode::replayed)
        finding("an accepted request was not refused as replayed", payload);
    }
    if (gate.remembered_nonces() > options.max_nonces)
      finding("the nonce memory grew past its bound", std::to_string(gate.remembered_nonces()));
  }
  return 0;
}
