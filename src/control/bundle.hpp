// Deploy bundles (docs/control.md, "Deploy"): the signed manifest that describes a revision of a
// node's definition and the files it reads, the chunks that carry the files and the node's
// acknowledgements, and the transfer plan both sides derive chunk positions from. Pure logic:
// no sockets, no files, no clock (time comes in as a parameter).
#pragma once

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "control/keys.hpp"

namespace psos::control {

// What precedes the manifest text in the signed bytes: distinct from requests' "psos-cmd-v1\n",
// so a signed request is never a valid manifest, nor the other way round.
inline constexpr std::string_view kBundlePrefix = "psos-bundle-v1\n";
inline constexpr std::uint64_t kMaxFileBytes = 16u << 20;    // one file
inline constexpr std::uint64_t kMaxBundleBytes = 64u << 20;  // all files of a bundle
inline constexpr std::size_t kMaxBundleFiles = 256;
inline constexpr std::size_t kMaxPathBytes = 255;
inline constexpr std::int64_t kMaxBundleLifetimeMs = 24 * 3600 * 1000;
inline constexpr std::int64_t kBundleLifetimeMs = 3600 * 1000;  // what psos deploy gives one
inline constexpr std::size_t kMaxManifestBytes = 256 * 1024;

struct BundleFile {
  std::string path;  // relative, '/'-separated, as the definition names it
  std::uint64_t size = 0;
  std::string sha256;  // lowercase hex
};

// A revision of one node: its definition and every file its services read.
struct Manifest {
  std::string system;
  std::string node;
  std::uint64_t revision = 0;  // higher than every revision the node has accepted
  std::int64_t issued_ms = 0;
  std::int64_t expires_ms = 0;
  std::string key;         // the signer's public key, "ed25519:BASE64"
  std::string definition;  // the path of the definition among `files`
  std::vector<BundleFile> files;

  const BundleFile* file(std::string_view path) const;
  std::uint64_t total_bytes() const;
};

// The manifest text: a compact JSON object with the fields in the documented order.
std::string manifest_text(const Manifest& manifest);

// A manifest text and its signature (base64 of 64 bytes) over kBundlePrefix + text.
struct SignedManifest {
  std::string text;
  std::string signature;
};
// Sets the manifest's key to `key`'s public key and signs it.
SignedManifest sign_manifest(Manifest manifest, const PrivateKey& key);

// Why a path cannot travel in a bundle ("" when it can): absolute, empty, a "." or ".." step,
// a backslash or a control character, not UTF-8, longer than kMaxPathBytes.
std::string bundle_path_problem(std::string_view path);

// Why a node refuses a bundle: a stable code ("bad_bundle", "wrong_target", "untrusted_key",
// "bad_signature", "not_yet_valid", "expired", "too_long", "old_revision", "too_large") and one
// line for a person.
struct BundleRefusal {
  std::string code;
  std::string message;
};

struct CheckedManifest {
  Manifest manifest;
  std::string signer;  // the trusted key's name ("" when it has none)
};

// The checks a node makes on a manifest, in this order: it reads as a manifest (bad_bundle,
// too_large), is for this node (wrong_target), is signed by a trusted key (untrusted_key,
// bad_signature), is valid now (not_yet_valid, expired, too_long), and its revision is above
// `floor`, the highest the node has accepted (old_revision). Never throws.
std::variant<CheckedManifest, BundleRefusal> check_manifest(
    std::string_view text, std::string_view signature_base64,
    const std::vector<TrustedKey>& trusted, std::string_view system, std::string_view node,
    std::uint64_t floor, std::int64_t now_ms, std::int64_t skew_ms);

// ---- the transfer ----

// A file the node still needs, from chunk `from` on (the chunks before it it has).
struct NeededFile {
  std::string path;
  std::uint64_t size = 0;
  std::uint32_t from = 0;
};

// The chunks of a transfer: those of each needed file from its `from`, in the order given,
// numbered from 0. Both sides derive where chunk `seq` belongs from the same plan.
class TransferPlan {
 public:
  TransferPlan() = default;
  // Throws std::invalid_argument when `chunk_bytes` is 0 or a file's `from` is past its end.
  TransferPlan(std::vector<NeededFile> files, std::uint32_t chunk_bytes);

  struct Piece {
    std::size_t file = 0;  // index into files()
    std::uint64_t offset = 0;
    std::uint32_t length = 0;
    bool last = false;  // the file's last chunk
  };
  // Where chunk `seq` (< chunks()) goes.
  Piece piece(std::uint32_t seq) const;
  std::uint32_t chunks() const noexcept { return chunks_; }
  std::uint64_t bytes() const noexcept { return bytes_; }
  std::uint32_t chunk_bytes() const noexcept { return chunk_bytes_; }
  const std::vector<NeededFile>& files() const noexcept { return files_; }

 private:
  std::vector<NeededFile> files_;
  std::vector<std::uint32_t> first_;  // the seq of each file's first chunk to send
  std::uint32_t chunk_bytes_ = 1;
  std::uint32_t chunks_ = 0;
  std::uint64_t bytes_ = 0;
};
// The chunks of a file of `size` bytes.
std::uint32_t chunk_count(std::uint64_t size, std::uint32_t chunk_bytes);

// The begin reply: the transfer's id, chunk size, window and plan.
struct TransferStart {
  std::string transfer;  // hex id: the topics' level psos/<system>/<node>/$deploy/<transfer>/...
  std::uint32_t window = 0;
  TransferPlan plan;
};
nlohmann::json transfer_start_json(const TransferStart& start);
// Throws std::invalid_argument saying what is wrong.
TransferStart decode_transfer_start(const nlohmann::json& result);

// A chunk's payload: the byte 1 (the format), the sequence number (4 bytes, big-endian), then the
// data.
inline constexpr std::size_t kChunkHeaderBytes = 5;
std::string encode_chunk(std::uint32_t seq, std::string_view data);
struct Chunk {
  std::uint32_t seq = 0;
  std::string_view data;  // into the payload
};
// Throws std::invalid_argument saying why a payload is not a chunk.
Chunk decode_chunk(std::string_view payload);

// The node's acknowledgement on .../$deploy/<transfer>/ack: every chunk below `next` is stored;
// `done` once every file is complete and matches its hash; or an error that ends the transfer.
struct Ack {
  std::uint32_t next = 0;
  bool done = false;
  std::string error_code;  // empty: no error
  std::string error_message;
};
std::string encode_ack(const Ack& ack);
// Throws std::invalid_argument saying what is wrong.
Ack decode_ack(std::string_view payload);

// The topics of a transfer: psos/<system>/<node>/$deploy/<transfer>/data and .../ack, and the
// node's retained deploy status psos/<system>/<node>/$deploy.
std::string deploy_topic(std::string_view system, std::string_view node);
std::string chunk_topic(std::string_view system, std::string_view node, std::string_view transfer);
std::string ack_topic(std::string_view system, std::string_view node, std::string_view transfer);

}  // namespace psos::control
