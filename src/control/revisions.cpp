// The revisions in a node's state directory (see revisions.hpp).
#include "control/revisions.hpp"

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>

namespace psos::control {

namespace {

using Json = nlohmann::json;
namespace fs = std::filesystem;

void write_atomically(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  const fs::path temporary = path.string() + ".tmp";
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out.flush()) throw std::runtime_error("cannot write " + temporary.string());
  }
  fs::rename(temporary, path);
}

// A file's bytes; nullopt when it cannot be read.
std::optional<std::string> read_all(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

RevisionStore::RevisionStore(fs::path state_dir) : root_(std::move(state_dir) / "revisions") {}

RevisionState RevisionStore::load() const {
  RevisionState state;
  const fs::path path = root_ / "state.json";
  const std::optional<std::string> text = read_all(path);
  if (!text) return state;
  try {
    const Json j = Json::parse(*text);
    state.committed = j.at("committed").get<std::uint64_t>();
    state.previous = j.at("previous").get<std::vector<std::uint64_t>>();
    state.highest = j.at("highest").get<std::uint64_t>();
  } catch (const Json::exception& e) {
    throw std::runtime_error(path.string() +
                             " is not {\"committed\", \"previous\", \"highest\"}: " + e.what() +
                             " (psos run --from-file discards the deployed revisions)");
  }
  return state;
}

void RevisionStore::save(const RevisionState& state) const {
  const Json j = {
      {"committed", state.committed}, {"previous", state.previous}, {"highest", state.highest}};
  write_atomically(root_ / "state.json", j.dump() + "\n");
}

void RevisionStore::discard() const {
  fs::remove_all(root_);
}

fs::path RevisionStore::directory(std::uint64_t revision) const {
  return root_ / std::to_string(revision);
}

fs::path RevisionStore::incoming() const {
  return root_ / "incoming";
}

void RevisionStore::write_manifest(const fs::path& dir, const SignedManifest& manifest) {
  write_atomically(dir / ".manifest.json",
                   Json{{"text", manifest.text}, {"signature", manifest.signature}}.dump());
}

std::optional<SignedManifest> RevisionStore::read_manifest(const fs::path& dir) {
  const std::optional<std::string> text = read_all(dir / ".manifest.json");
  if (!text) return std::nullopt;
  const Json j = Json::parse(*text, nullptr, false);
  if (!j.is_object() || !j.contains("text") || !j["text"].is_string() || !j.contains("signature") ||
      !j["signature"].is_string())
    return std::nullopt;
  return SignedManifest{j["text"].get<std::string>(), j["signature"].get<std::string>()};
}

Manifest RevisionStore::parse_manifest(const std::string& text) {
  const Json j = Json::parse(text);
  Manifest m;
  m.system = j.at("system").get<std::string>();
  m.node = j.at("node").get<std::string>();
  m.revision = j.at("revision").get<std::uint64_t>();
  m.issued_ms = j.at("issued").get<std::int64_t>();
  m.expires_ms = j.at("expires").get<std::int64_t>();
  m.key = j.at("key").get<std::string>();
  m.definition = j.at("definition").get<std::string>();
  for (const Json& f : j.at("files"))
    m.files.push_back({f.at("path").get<std::string>(), f.at("size").get<std::uint64_t>(),
                       f.at("sha256").get<std::string>()});
  return m;
}

std::optional<fs::path> RevisionStore::definition(std::uint64_t revision) const {
  const fs::path dir = directory(revision);
  const std::optional<SignedManifest> signed_manifest = read_manifest(dir);
  if (!signed_manifest) return std::nullopt;
  try {
    const fs::path path = dir / parse_manifest(signed_manifest->text).definition;
    if (!fs::exists(path)) return std::nullopt;
    return path;
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;
  }
}

}  // namespace psos::control
