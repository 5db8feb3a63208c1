// The deployed revisions a node keeps in its state directory (docs/control.md, "Deploy"):
// revisions/<N>/ holds revision N's definition and files with its signed manifest, incoming/ the
// one being transferred, and revisions/state.json which revision is committed (last-good), the
// ones committed before it (for rollback) and the highest ever accepted (the floor a new bundle
// must be above). Revision 0 is the file on the node's command line. Files only, no Asio.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "control/bundle.hpp"

namespace psos::control {

struct RevisionState {
  std::uint64_t committed = 0;          // 0: the command-line file
  std::vector<std::uint64_t> previous;  // committed before, oldest first (rollback pops)
  std::uint64_t highest = 0;            // the highest revision applied, committed or not
};

class RevisionStore {
 public:
  explicit RevisionStore(std::filesystem::path state_dir);

  // Throws std::runtime_error naming the file when state.json is not readable JSON of its shape.
  RevisionState load() const;
  // Atomically (a temporary file renamed over it).
  void save(const RevisionState& state) const;
  // Removes every deployed revision (psos run --from-file).
  void discard() const;

  std::filesystem::path directory(std::uint64_t revision) const;  // revisions/<N>
  std::filesystem::path incoming() const;                         // revisions/incoming
  // The signed manifest kept beside a revision's files (and the incoming one's).
  static void write_manifest(const std::filesystem::path& dir, const SignedManifest& manifest);
  static std::optional<SignedManifest> read_manifest(const std::filesystem::path& dir);
  static Manifest parse_manifest(const std::string& text);  // a manifest the node accepted
  // The definition of a kept revision (N > 0): its path, or nullopt when it is not there.
  std::optional<std::filesystem::path> definition(std::uint64_t revision) const;

 private:
  std::filesystem::path root_;
};

}  // namespace psos::control
