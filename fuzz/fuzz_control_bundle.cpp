// libFuzzer harness for the decoders of deploy bundles (control/bundle.hpp): manifests (raw, and
// signed with a trusted key so that the checks after the signature are reached), chunk payloads,
// acknowledgements and the transfer start a caller reads from a node's reply.
// None may throw or crash; an accepted manifest really is signed by the trusted key, for this
// node, within its time rules, above the floor, with valid paths and sizes within the limits,
// and its text is read back from manifest_text() the same; a refusal is one line; every piece of
// a decoded transfer plan lies within its file.
//
// Input: byte 0 selects the decoder (0 raw manifest, 1 signed manifest, 2 chunk, 3 ack,
// 4 transfer start), byte 1 a floor revision; the rest is the text.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <variant>

#include "control/bundle.hpp"
#include "fuzz_keys.hpp"
#include "router/security/base64.hpp"

namespace {

using namespace psos;
using Json = nlohmann::json;

constexpr std::int64_t kNow = 1'767'225'600'000;

[[noreturn]] void finding(const char* what, const std::string& detail) {
  std::fprintf(stderr, "fuzz_control_bundle: %s: %s\n", what, detail.c_str());
  std::abort();
}

using fuzz::trusted_key;  // the key the seed corpus is signed with

void manifest(std::string_view text, bool sign, std::uint64_t floor) {
  const std::string signature = sign ? router::base64_encode(trusted_key().sign(
                                           std::string(control::kBundlePrefix) + std::string(text)))
                                     : std::string(88, 'A');
  const auto result =
      control::check_manifest(text, signature, {{"fuzzer", trusted_key().public_key()}},
                              "greenhouse", "gw", floor, kNow, 30'000);
  if (const auto* refusal = std::get_if<control::BundleRefusal>(&result)) {
    if (refusal->message.empty() || refusal->code.empty())
      finding("a refusal without a code or message", std::string(text));
    if (refusal->message.find('\n') != std::string::npos)
      finding("a refusal message of more than one line", refusal->message);
    if (refusal->message.starts_with("manifest could not be read"))
      finding("the check caught an exception", refusal->message);
    return;
  }
  if (!sign) finding("accepted a manifest without its signature", std::string(text));
  const control::Manifest& m = std::get<control::CheckedManifest>(result).manifest;
  if (m.system != "greenhouse" || m.node != "gw") finding("accepted another target", m.node);
  if (m.revision <= floor) finding("accepted a revision at or below the floor", std::string(text));
  if (m.issued_ms > kNow + 30'000 || kNow > m.expires_ms + 30'000 ||
      m.expires_ms - m.issued_ms > control::kMaxBundleLifetimeMs)
    finding("accepted a manifest outside its time rules", std::string(text));
  if (!m.file(m.definition)) finding("accepted a definition that is not a file", m.definition);
  if (m.total_bytes() > control::kMaxBundleBytes || m.files.size() > control::kMaxBundleFiles)
    finding("accepted a bundle over the limits", std::string(text));
  for (const control::BundleFile& f : m.files) {
    if (!control::bundle_path_problem(f.path).empty()) finding("accepted a bad path", f.path);
    if (f.size > control::kMaxFileBytes) finding("accepted a file over the limit", f.path);
  }
  // Re-encoding an accepted manifest gives a text that is accepted the same way.
  const std::string again = control::manifest_text(m);
  const std::string again_signature =
      router::base64_encode(trusted_key().sign(std::string(control::kBundlePrefix) + again));
  const auto second =
      control::check_manifest(again, again_signature, {{"fuzzer", trusted_key().public_key()}},
                              "greenhouse", "gw", floor, kNow, 30'000);
  if (!std::holds_alternative<control::CheckedManifest>(second))
    finding("a re-encoded manifest was refused", again);
}

void transfer_start(std::string_view text) {
  const Json j = Json::parse(text, nullptr, false);
  if (j.is_discarded()) return;
  control::TransferStart start;
  try {
    start = control::decode_transfer_start(j);
  } catch (const std::invalid_argument&) {
    return;
  }
  const control::TransferPlan& plan = start.plan;
  std::uint64_t bytes = 0;
  const std::uint32_t limit = std::min<std::uint32_t>(plan.chunks(), 4096);
  for (std::uint32_t seq = 0; seq < limit; ++seq) {
    const control::TransferPlan::Piece p = plan.piece(seq);
    if (p.file >= plan.files().size()) finding("a piece outside the files", std::string(text));
    const control::NeededFile& f = plan.files()[p.file];
    if (p.length == 0 || p.length > plan.chunk_bytes() || p.offset + p.length > f.size)
      finding("a piece outside its file", std::string(text));
    bytes += p.length;
  }
  if (limit == plan.chunks() && bytes != plan.bytes())
    finding("the pieces do not add up to the plan's bytes", std::string(text));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data) + 2, size - 2);
  switch (data[0] % 5) {
    case 0:
      manifest(text, false, data[1]);
      break;
    case 1:
      manifest(text, true, data[1]);
      break;
    case 2:
      try {
        const control::Chunk chunk = control::decode_chunk(text);
        if (chunk.data.size() + control::kChunkHeaderBytes != text.size())
          finding("a chunk's data is not the rest of its payload", std::string(text));
        if (control::encode_chunk(chunk.seq, chunk.data) != text)
          finding("a chunk does not encode back to its payload", std::string(text));
      } catch (const std::invalid_argument& e) {
        if (std::string_view(e.what()).empty())
          finding("a refused chunk without a reason", std::string(text));
      }
      break;
    case 3:
      try {
        const control::Ack ack = control::decode_ack(text);
        const control::Ack back = control::decode_ack(control::encode_ack(ack));
        if (back.next != ack.next || back.done != ack.done || back.error_code != ack.error_code)
          finding("an acknowledgement does not encode back", std::string(text));
      } catch (const std::invalid_argument&) {
      }
      break;
    default:
      transfer_start(text);
  }
  return 0;
}
