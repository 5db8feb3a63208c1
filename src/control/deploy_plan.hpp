// The caller's side of a deploy before anything is sent (docs/control.md, "Deploy"): the
// definition read and checked as psos check checks it, the bundle's files gathered per node, and
// each node's running revision compared with the new one. Pure: files are read, nothing else
// (no sockets, no clock). psos deploy and the dashboard's deploy view both start here.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "modules/spec.hpp"
#include "system/definition.hpp"
#include "system/node_changes.hpp"
#include "system/secrets.hpp"

namespace psos::control {

// One node's part of a deploy.
struct NodeDeploy {
  std::string node;
  system::NodeDefinition after;
  system::FileHashes after_files;
  std::vector<std::string> paths;  // the bundle's files: the definition, then what services read
  // From the node's answer to `revision` (compare_running).
  bool answered = false;
  std::uint64_t running = 0;                     // the revision it runs
  std::uint64_t highest = 0;                     // the highest it has accepted
  std::optional<system::NodeDefinition> before;  // nullopt: not expandable here
  system::NodeChanges changes;

  // The revision a bundle for this node gets: above every one it has accepted.
  std::uint64_t next_revision() const { return std::max(running, highest) + 1; }
};

struct DeployPlan {
  std::string file;    // as given
  std::string system;  // the definition's system
  system::Secrets secrets;
  // The bundle files' bytes by path: the definition under its own name, and what services read,
  // by the path the definition gives (relative to its directory).
  std::map<std::string, std::string> contents;
  std::vector<NodeDeploy> nodes;  // in the definition's order
};

// Why nothing can be sent: `diagnostics` are psos check's lines (FILE:LINE:COL: PATH: message),
// `message` one line, `status` 1 (the definition has problems) or 2 (something cannot be read,
// or a node named that the definition does not have).
struct PlanFailure {
  int status = 1;
  std::vector<std::string> diagnostics;
  std::string message;
};

// Reads `file` and the files its services read, checks the definition with `secrets_file`'s
// secrets (empty: as psos check finds them) and keeps the nodes named in `only` (empty: every
// node). `shown` names the file in diagnostics and messages (empty: `file` itself).
std::variant<DeployPlan, PlanFailure> plan_deploy(const std::string& file,
                                                  const std::string& secrets_file,
                                                  const std::vector<std::string>& only,
                                                  const modules::ModuleCatalog& catalog,
                                                  std::string shown = {});

// Takes the node's answer to `revision` ({revision, highest, file, definition, files}): what it
// runs is expanded as the new one is, and the changes worked out. What cannot be expanded here
// (secrets of its own) counts as empty: every service is added. Throws nlohmann::json::exception
// when `running` lacks a field.
void compare_running(NodeDeploy& target, const nlohmann::json& running,
                     const system::Secrets& secrets, const modules::ModuleCatalog& catalog);

// The changes for a page: {"revision": [running, next], "empty", "added": [...], "removed":
// [...], "changed": [{"name", "module", "params": [{"name", "before", "after"}], "files"}],
// "unchanged": [...], "settings": [...], "restarts_node"}. Values as a definition writes them
// (durations "5s"); a broker parameter by the broker's name only, never its credentials.
nlohmann::json node_changes_json(const NodeDeploy& target, const modules::ModuleCatalog& catalog);

}  // namespace psos::control
