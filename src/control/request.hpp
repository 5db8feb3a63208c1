// Signed control requests: what a caller signs and sends to psos/<system>/<node>/$cmd/<verb>,
// and the gate a node passes every request through before it acts on one. Pure logic: no
// sockets, no clock (time comes in as a parameter). The wire format is docs/control.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <variant>
#include <vector>

#include "control/keys.hpp"

namespace psos::control {

// What precedes the request text in the signed bytes: a signature made for anything else
// (another protocol, a later version of this one) never verifies as a request.
inline constexpr std::string_view kSignedPrefix = "psos-cmd-v1\n";
inline constexpr std::int64_t kDefaultLifetimeMs = 60'000;  // what signers give a request
inline constexpr std::int64_t kDefaultSkewMs = 30'000;      // clock difference a node allows
inline constexpr std::int64_t kMaxLifetimeMs = 600'000;     // longest lifetime a node accepts
inline constexpr std::size_t kMinNonceBytes = 16;
inline constexpr std::size_t kMaxNonceBytes = 64;
inline constexpr std::size_t kMaxIdBytes = 256;

// One request: the fields of the request text ("req" in the payload).
struct Request {
  std::string id;  // chosen by the caller, echoed in the reply
  std::string system;
  std::string node;
  std::string verb;
  nlohmann::json args = nlohmann::json::object();
  std::int64_t issued_ms = 0;        // epoch milliseconds
  std::int64_t expires_ms = 0;       // epoch milliseconds
  std::string nonce;                 // base64 of kMinNonceBytes..kMaxNonceBytes random bytes
  std::string key;                   // the signer's public key, "ed25519:BASE64"
  std::optional<std::string> reply;  // reply topic, for MQTT 3.1.1 (no Response Topic)
};

// "psos/<system>/<node>/$cmd/<verb>"
std::string command_topic(std::string_view system, std::string_view node, std::string_view verb);

// A request issued at `now_ms`, expiring `lifetime_ms` later, with a random id and a random
// 16-byte nonce; its key is filled in by sign_request().
Request new_request(std::string system, std::string node, std::string verb, nlohmann::json args,
                    std::int64_t now_ms, std::int64_t lifetime_ms = kDefaultLifetimeMs);

// The request text: a compact JSON object with the fields in the documented order.
std::string request_text(const Request& request);

// The payload to publish, {"req": "<request text>", "sig": "<base64 signature>"}, with the
// request's key set to `key`'s public key and the signature over kSignedPrefix + text.
// Throws nlohmann::json::type_error when a string in the request is not valid UTF-8.
std::string sign_request(Request request, const PrivateKey& key);

// Why a node did not execute a request. The names (code_name) are the stable "code" of the
// reply; the order is the order of the checks.
enum class RefusalCode {
  bad_request,    // not JSON, a missing or mistyped field, an unknown "v"
  retained,       // published with the retain flag
  wrong_target,   // for another system, node, or another verb than the topic's
  untrusted_key,  // signed by a key this node does not trust
  bad_signature,  // the signature does not match the request and key
  not_yet_valid,  // issued more than the skew allowance in the future
  expired,        // now > expires + skew allowance
  too_long,       // expires - issued > the longest lifetime accepted
  stale,          // issued before this node started
  replayed,       // its nonce was seen within its lifetime
  busy,           // too many nonces remembered: the cache is full
};
inline constexpr std::size_t kRefusalCodeCount = 11;
std::string_view code_name(RefusalCode code) noexcept;

struct Refusal {
  RefusalCode code = RefusalCode::bad_request;
  std::string message;  // one line for a person: what was wrong, and where
  // Read from the request text when it could be (a string id; a valid reply topic), so the node
  // can answer even a refused request.
  std::optional<std::string> id;
  std::optional<std::string> reply;
};

struct Accepted {
  Request request;
  std::string signer;  // the trusted key's name ("" when it has none)
};

using CheckResult = std::variant<Accepted, Refusal>;

struct GateOptions {
  std::int64_t skew_ms = kDefaultSkewMs;
  std::int64_t max_lifetime_ms = kMaxLifetimeMs;
  std::size_t max_nonces = 100'000;         // past this many, new requests are refused: busy
  std::size_t max_payload_bytes = 1 << 20;  // larger payloads are refused: bad_request
};

// The checks a node makes on every request, in the order of RefusalCode, and the memory of
// nonces that makes a request execute at most once. One per node; not thread-safe.
class RequestGate {
 public:
  // `started_ms`: when the node started (epoch ms); requests issued before are stale.
  RequestGate(std::string system, std::string node, std::vector<TrustedKey> trusted,
              std::int64_t started_ms, GateOptions options = {});

  // Checks one request published to psos/<system>/<node>/$cmd/<verb> (`verb` is that last
  // level). Never throws for any payload: untrusted bytes come in, a Refusal goes out. An
  // accepted request's nonce is remembered until now_ms passes its expires + skew.
  CheckResult check(std::string_view verb, std::string_view payload, bool retained,
                    std::int64_t now_ms);

  const std::vector<TrustedKey>& trusted() const noexcept { return trusted_; }
  std::size_t remembered_nonces() const noexcept { return nonces_.size(); }

 private:
  CheckResult check_unguarded(std::string_view verb, std::string_view payload, bool retained,
                              std::int64_t now_ms);
  void forget_nonces(std::int64_t now_ms);

  std::string system_;
  std::string node_;
  std::vector<TrustedKey> trusted_;
  std::int64_t started_ms_;
  GateOptions options_;
  // Nonces by when they may be forgotten (expires + skew), and views of the same strings for
  // lookup (a multimap node does not move, so the views stay valid until it is erased).
  std::multimap<std::int64_t, std::string> nonces_by_expiry_;
  std::unordered_set<std::string_view> nonces_;
};

}  // namespace psos::control
