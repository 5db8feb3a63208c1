// Deploy bundles: manifests, chunks, acknowledgements, transfer plans (see bundle.hpp).
#include "control/bundle.hpp"

#include <algorithm>
#include <array>
#include <set>
#include <stdexcept>

#include "control/strict_json.hpp"
#include "mqtt/topic.hpp"
#include "router/security/base64.hpp"
#include "system/checker.hpp"

namespace psos::control {

namespace {

using Json = nlohmann::json;
using system::describe;

constexpr int kMaxManifestDepth = 4;
constexpr std::array<std::string_view, 9> kManifestFields = {
    "v", "system", "node", "revision", "issued", "expires", "key", "definition", "files"};
constexpr std::uint32_t kMaxChunkBytes = 1u << 20;
constexpr std::uint32_t kMaxWindow = 1024;

std::string dump(const Json& value) {
  return value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

std::string mib(std::uint64_t bytes) {
  return std::to_string(bytes >> 20) + " MiB";
}

bool is_sha256_hex(std::string_view text) {
  return text.size() == 64 && std::all_of(text.begin(), text.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

std::string base(std::string_view system, std::string_view node) {
  std::string topic = "psos/";
  topic += system;
  topic += '/';
  topic += node;
  topic += "/$deploy";
  return topic;
}

}  // namespace

const BundleFile* Manifest::file(std::string_view path) const {
  for (const BundleFile& f : files)
    if (f.path == path) return &f;
  return nullptr;
}

std::uint64_t Manifest::total_bytes() const {
  std::uint64_t total = 0;
  for (const BundleFile& f : files)
    total += f.size;
  return total;
}

std::string manifest_text(const Manifest& m) {
  std::string list = "[";
  for (std::size_t i = 0; i < m.files.size(); ++i) {
    const BundleFile& f = m.files[i];
    list += (i ? ",{\"path\":" : "{\"path\":") + dump(f.path) +
            ",\"size\":" + std::to_string(f.size) + ",\"sha256\":" + dump(f.sha256) + "}";
  }
  list += "]";
  return "{\"v\":1,\"system\":" + dump(m.system) + ",\"node\":" + dump(m.node) +
         ",\"revision\":" + std::to_string(m.revision) +
         ",\"issued\":" + std::to_string(m.issued_ms) +
         ",\"expires\":" + std::to_string(m.expires_ms) + ",\"key\":" + dump(m.key) +
         ",\"definition\":" + dump(m.definition) + ",\"files\":" + list + "}";
}

SignedManifest sign_manifest(Manifest manifest, const PrivateKey& key) {
  manifest.key = key.public_key().to_string();
  SignedManifest out;
  out.text = manifest_text(manifest);
  out.signature = router::base64_encode(key.sign(std::string(kBundlePrefix) + out.text));
  return out;
}

std::string bundle_path_problem(std::string_view path) {
  if (path.empty()) return "is empty";
  if (path.size() > kMaxPathBytes)
    return "has " + std::to_string(path.size()) + " bytes; at most " +
           std::to_string(kMaxPathBytes);
  if (!mqtt::is_valid_utf8(path)) return "is not valid UTF-8";
  if (path.front() == '/')
    return "is absolute: a deployed file is named relative to the definition";
  for (const char c : path) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) return "holds a control character";
    if (c == '\\') return "holds a backslash: separate directories with '/'";
  }
  std::size_t start = 0;
  while (start <= path.size()) {
    const std::size_t end = std::min(path.find('/', start), path.size());
    const std::string_view step = path.substr(start, end - start);
    if (step.empty()) return "has an empty step ('//' or a '/' at the end)";
    if (step == "." || step == "..")
      return "has a '" + std::string(step) +
             "' step: a deployed file must be in the definition's directory or below it";
    start = end + 1;
  }
  return {};
}

std::variant<CheckedManifest, BundleRefusal> check_manifest(
    std::string_view text, std::string_view signature_base64,
    const std::vector<TrustedKey>& trusted, std::string_view system, std::string_view node,
    std::uint64_t floor, std::int64_t now_ms, std::int64_t skew_ms) {
  const auto refuse = [](std::string code, std::string message) {
    return BundleRefusal{std::move(code), std::move(message)};
  };
  const auto bad = [&](std::string message) { return refuse("bad_bundle", std::move(message)); };
  try {
    if (text.size() > kMaxManifestBytes)
      return bad("manifest has " + std::to_string(text.size()) + " bytes; at most " +
                 std::to_string(kMaxManifestBytes));
    const std::optional<std::string> signature = router::base64_decode(signature_base64);
    if (!signature) return bad("manifest signature is not base64");
    if (signature->size() != PublicKey::kSignatureSize)
      return bad("manifest signature has " + std::to_string(signature->size()) +
                 " bytes; an Ed25519 signature has 64");

    Json fields;
    TextProblems problems;
    try {
      fields = parse_strict(text, kMaxManifestDepth, problems);
    } catch (const Json::exception& error) {
      return bad("manifest is not JSON: " + parse_problem(error));
    }
    if (problems.too_deep)
      return bad("manifest nests deeper than " + std::to_string(kMaxManifestDepth) + " levels");
    if (!fields.is_object()) return bad("manifest must be a JSON object, not " + describe(fields));
    if (problems.duplicate)
      return bad("manifest has the key " + in_quotes(*problems.duplicate) + " twice in one object");
    const auto version = fields.find("v");
    if (version == fields.end()) return bad("manifest has no \"v\" (the format version, 1)");
    if (!version->is_number_integer() || *version != 1)
      return bad("manifest \"v\" must be the number 1, not " + describe(*version));
    for (const auto& [name, value] : fields.items())
      if (std::find(kManifestFields.begin(), kManifestFields.end(), name) == kManifestFields.end())
        return bad("manifest has an unknown field " + in_quotes(name));

    Manifest m;
    FieldReader reader(fields, "manifest");
    std::int64_t revision = 0;
    Json files;
    const bool read =
        reader.string("system", "the target system", m.system) &&
        reader.string("node", "the target node", m.node) &&
        reader.count("revision", "the revision", 1, kMaxJsonInteger, revision) &&
        reader.time("issued", m.issued_ms) && reader.time("expires", m.expires_ms) &&
        reader.string("key", "the signer's public key, ed25519:BASE64", m.key) &&
        reader.string("definition", "the path of the definition among the files", m.definition) &&
        reader.array("files", "the files: [{\"path\", \"size\", \"sha256\"}]", files);
    if (!read) return bad(reader.problem());
    m.revision = static_cast<std::uint64_t>(revision);
    if (files.size() > kMaxBundleFiles)
      return refuse("too_large", "manifest names " + std::to_string(files.size()) +
                                     " files; a bundle has at most " +
                                     std::to_string(kMaxBundleFiles));
    std::set<std::string> paths;
    std::uint64_t total = 0;
    for (std::size_t i = 0; i < files.size(); ++i) {
      const Json& entry = files[i];
      const std::string where = "manifest file " + std::to_string(i);
      if (!entry.is_object()) return bad(where + " must be an object, not " + describe(entry));
      for (const auto& [name, value] : entry.items())
        if (name != "path" && name != "size" && name != "sha256")
          return bad(where + " has an unknown field " + in_quotes(name));
      BundleFile f;
      FieldReader file_reader(entry, where);
      std::int64_t size = 0;
      if (!file_reader.string("path", "relative to the definition", f.path) ||
          !file_reader.count("size", "bytes", 0, kMaxJsonInteger, size) ||
          !file_reader.string("sha256", "64 lowercase hex digits", f.sha256))
        return bad(file_reader.problem());
      if (const std::string problem = bundle_path_problem(f.path); !problem.empty())
        return bad(where + " path " + in_quotes(f.path) + " " + problem);
      if (!is_sha256_hex(f.sha256))
        return bad(where + " (" + f.path + ") sha256 must be 64 lowercase hex digits");
      f.size = static_cast<std::uint64_t>(size);
      if (f.size > kMaxFileBytes)
        return refuse("too_large", "file " + f.path + " has " + std::to_string(f.size) +
                                       " bytes; a deployed file has at most " + mib(kMaxFileBytes));
      total += f.size;
      if (!paths.insert(f.path).second) return bad("manifest names the file " + f.path + " twice");
      m.files.push_back(std::move(f));
    }
    // "a" and "a/b" cannot both be laid out: one would be a file and a directory.
    for (const std::string& p : paths)
      for (std::size_t slash = p.find('/'); slash != std::string::npos;
           slash = p.find('/', slash + 1))
        if (paths.count(p.substr(0, slash)))
          return bad("manifest names " + p.substr(0, slash) + " as a file and as a directory");
    if (total > kMaxBundleBytes)
      return refuse("too_large", "the bundle's files have " + std::to_string(total) +
                                     " bytes; at most " + mib(kMaxBundleBytes));
    if (!paths.count(m.definition))
      return bad("manifest \"definition\" " + in_quotes(m.definition) + " is not one of its files");
    std::optional<PublicKey> key;
    try {
      key = PublicKey::parse(m.key);
    } catch (const std::invalid_argument& error) {
      return bad(std::string("manifest \"key\" is not a public key: ") + error.what());
    }
    if (m.expires_ms < m.issued_ms)
      return bad("manifest \"expires\" (" + std::to_string(m.expires_ms) +
                 ") is before \"issued\" (" + std::to_string(m.issued_ms) + ")");

    if (m.system != system || m.node != node)
      return refuse("wrong_target", "bundle is for node " + in_quotes(m.system + "/" + m.node) +
                                        ", this is " +
                                        in_quotes(std::string(system) + "/" + std::string(node)));
    const TrustedKey* signer = nullptr;
    for (const TrustedKey& t : trusted)
      if (t.key == *key) signer = &t;
    if (!signer)
      return refuse("untrusted_key", "bundle key " + m.key + " is not trusted by this node");
    if (!key->verify(std::string(kBundlePrefix) + std::string(text), *signature))
      return refuse("bad_signature", "bundle signature does not match the manifest and its key");
    if (m.issued_ms > now_ms + skew_ms)
      return refuse("not_yet_valid", "bundle was issued " + std::to_string(m.issued_ms - now_ms) +
                                         " ms in the future (clock skew allowance " +
                                         std::to_string(skew_ms) +
                                         " ms): check the clocks of the caller and the node");
    if (now_ms > m.expires_ms + skew_ms)
      return refuse("expired", "bundle expired " + std::to_string(now_ms - m.expires_ms) +
                                   " ms ago (clock skew allowance " + std::to_string(skew_ms) +
                                   " ms)");
    if (m.expires_ms - m.issued_ms > kMaxBundleLifetimeMs)
      return refuse("too_long", "bundle lifetime is " + std::to_string(m.expires_ms - m.issued_ms) +
                                    " ms; this node accepts at most " +
                                    std::to_string(kMaxBundleLifetimeMs) + " ms");
    if (m.revision <= floor)
      return refuse("old_revision",
                    "bundle revision " + std::to_string(m.revision) + " is not higher than " +
                        std::to_string(floor) +
                        ", the highest this node has accepted: a revision is never applied "
                        "twice or downgraded (psos rollback goes back)");
    return CheckedManifest{std::move(m), signer->name};
  } catch (const std::exception& error) {
    return bad(std::string("manifest could not be read: ") + error.what());
  }
}

// ---- transfer plan ----

std::uint32_t chunk_count(std::uint64_t size, std::uint32_t chunk_bytes) {
  return static_cast<std::uint32_t>((size + chunk_bytes - 1) / chunk_bytes);
}

TransferPlan::TransferPlan(std::vector<NeededFile> files, std::uint32_t chunk_bytes)
    : files_(std::move(files)), chunk_bytes_(chunk_bytes) {
  if (chunk_bytes == 0) throw std::invalid_argument("a chunk has at least 1 byte");
  std::uint64_t chunks = 0;
  for (const NeededFile& f : files_) {
    if (f.size > kMaxFileBytes)
      throw std::invalid_argument("file " + f.path + " has " + std::to_string(f.size) +
                                  " bytes; at most " + mib(kMaxFileBytes));
    const std::uint32_t count = chunk_count(f.size, chunk_bytes);
    if (f.from > count)
      throw std::invalid_argument("file " + f.path + ": chunk " + std::to_string(f.from) +
                                  " is past its end (" + std::to_string(count) + " chunks)");
    first_.push_back(static_cast<std::uint32_t>(chunks));
    chunks += count - f.from;
    bytes_ += f.size - std::min<std::uint64_t>(f.size, std::uint64_t{f.from} * chunk_bytes);
    if (chunks > 0xFFFFFFFFu) throw std::invalid_argument("too many chunks");
  }
  chunks_ = static_cast<std::uint32_t>(chunks);
}

TransferPlan::Piece TransferPlan::piece(std::uint32_t seq) const {
  const auto it = std::upper_bound(first_.begin(), first_.end(), seq);
  const std::size_t index = static_cast<std::size_t>(it - first_.begin()) - 1;
  const NeededFile& f = files_[index];
  const std::uint64_t chunk = f.from + (seq - first_[index]);
  Piece p;
  p.file = index;
  p.offset = chunk * chunk_bytes_;
  p.length = static_cast<std::uint32_t>(std::min<std::uint64_t>(chunk_bytes_, f.size - p.offset));
  p.last = p.offset + p.length == f.size;
  return p;
}

Json transfer_start_json(const TransferStart& start) {
  Json files = Json::array();
  for (const NeededFile& f : start.plan.files())
    files.push_back({{"path", f.path}, {"size", f.size}, {"from", f.from}});
  return {{"transfer", start.transfer},  {"chunk", start.plan.chunk_bytes()},
          {"window", start.window},      {"chunks", start.plan.chunks()},
          {"bytes", start.plan.bytes()}, {"files", files}};
}

TransferStart decode_transfer_start(const Json& result) {
  const auto fail = [](const std::string& message) {
    return std::invalid_argument("transfer start " + message);
  };
  if (!result.is_object()) throw fail("is not an object");
  const auto number = [&](const char* name, std::uint64_t maximum) {
    const auto it = result.find(name);
    if (it == result.end() || !it->is_number_unsigned() || it->get<std::uint64_t>() > maximum)
      throw fail(std::string("has no \"") + name + "\" from 0 to " + std::to_string(maximum));
    return it->get<std::uint64_t>();
  };
  TransferStart start;
  const auto id = result.find("transfer");
  if (id == result.end() || !id->is_string() || id->get<std::string>().empty() ||
      id->get<std::string>().find_first_of("/+#") != std::string::npos)
    throw fail("has no \"transfer\" id usable as a topic level");
  start.transfer = id->get<std::string>();
  const auto chunk = static_cast<std::uint32_t>(number("chunk", kMaxChunkBytes));
  start.window = static_cast<std::uint32_t>(number("window", kMaxWindow));
  const std::uint64_t chunks = number("chunks", 0xFFFFFFFFu);
  if (chunk == 0 || start.window == 0) throw fail("has a chunk size or window of 0");
  const auto files = result.find("files");
  if (files == result.end() || !files->is_array()) throw fail("has no \"files\" list");
  std::vector<NeededFile> needed;
  for (const Json& f : *files) {
    if (!f.is_object() || !f.contains("path") || !f["path"].is_string() || !f.contains("size") ||
        !f["size"].is_number_unsigned() || !f.contains("from") || !f["from"].is_number_unsigned() ||
        f["from"].get<std::uint64_t>() > 0xFFFFFFFFu)
      throw fail("has a file that is not {\"path\", \"size\", \"from\"}");
    needed.push_back({f["path"].get<std::string>(), f["size"].get<std::uint64_t>(),
                      static_cast<std::uint32_t>(f["from"].get<std::uint64_t>())});
  }
  start.plan = TransferPlan(std::move(needed), chunk);
  if (start.plan.chunks() != chunks)
    throw fail("says " + std::to_string(chunks) + " chunks where its files make " +
               std::to_string(start.plan.chunks()));
  return start;
}

// ---- chunks and acknowledgements ----

std::string encode_chunk(std::uint32_t seq, std::string_view data) {
  std::string payload;
  payload.reserve(kChunkHeaderBytes + data.size());
  payload += '\x01';
  for (int shift = 24; shift >= 0; shift -= 8)
    payload += static_cast<char>((seq >> shift) & 0xFF);
  payload += data;
  return payload;
}

Chunk decode_chunk(std::string_view payload) {
  if (payload.size() < kChunkHeaderBytes)
    throw std::invalid_argument("a chunk has a 5-byte header; this payload has " +
                                std::to_string(payload.size()) + " bytes");
  if (payload[0] != '\x01')
    throw std::invalid_argument(
        "chunk format " + std::to_string(static_cast<unsigned char>(payload[0])) + " is not 1");
  Chunk chunk;
  for (std::size_t i = 1; i < kChunkHeaderBytes; ++i)
    chunk.seq = (chunk.seq << 8) | static_cast<unsigned char>(payload[i]);
  chunk.data = payload.substr(kChunkHeaderBytes);
  return chunk;
}

std::string encode_ack(const Ack& ack) {
  if (!ack.error_code.empty())
    return dump(Json{{"error", {{"code", ack.error_code}, {"message", ack.error_message}}}});
  Json j = {{"next", ack.next}};
  if (ack.done) j["done"] = true;
  return dump(j);
}

Ack decode_ack(std::string_view payload) {
  const auto fail = [](const std::string& message) {
    return std::invalid_argument("acknowledgement " + message);
  };
  const Json j = Json::parse(payload, nullptr, false);
  if (j.is_discarded() || !j.is_object()) throw fail("is not a JSON object");
  Ack ack;
  if (const auto error = j.find("error"); error != j.end()) {
    if (!error->is_object() || !error->contains("code") || !(*error)["code"].is_string() ||
        (*error)["code"].get<std::string>().empty() || !error->contains("message") ||
        !(*error)["message"].is_string())
      throw fail("\"error\" is not {\"code\", \"message\"}");
    ack.error_code = (*error)["code"].get<std::string>();
    ack.error_message = (*error)["message"].get<std::string>();
    return ack;
  }
  const auto next = j.find("next");
  if (next == j.end() || !next->is_number_unsigned() || next->get<std::uint64_t>() > 0xFFFFFFFFu)
    throw fail("has no \"next\" chunk number");
  ack.next = static_cast<std::uint32_t>(next->get<std::uint64_t>());
  if (const auto done = j.find("done"); done != j.end()) {
    if (!done->is_boolean()) throw fail("\"done\" is not true or false");
    ack.done = done->get<bool>();
  }
  return ack;
}

std::string deploy_topic(std::string_view system, std::string_view node) {
  return base(system, node);
}

std::string chunk_topic(std::string_view system, std::string_view node, std::string_view transfer) {
  return base(system, node) + "/" + std::string(transfer) + "/data";
}

std::string ack_topic(std::string_view system, std::string_view node, std::string_view transfer) {
  return base(system, node) + "/" + std::string(transfer) + "/ack";
}

}  // namespace psos::control
