// What changes between two expansions of one node: the plan `psos deploy` prints and what a node
// stops, starts and restarts when it applies a deployed revision. A service is changed when its
// module, its expanded parameters or the content of a file it reads differ.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "modules/spec.hpp"
#include "system/definition.hpp"

namespace psos::system {

// A file a service reads: a parameter whose spec says `file`, with the path as written
// (relative to the definition file's directory).
struct FileReference {
  std::string service;
  std::string param;
  std::string path;
};
// The files the enabled services of `node` read, in service order.
std::vector<FileReference> file_references(const NodeDefinition& node,
                                           const modules::ModuleCatalog& catalog);

// File contents by path as written: SHA-256 in lowercase hex ("" for a file that is missing).
using FileHashes = std::map<std::string, std::string, std::less<>>;

struct ServiceChange {
  std::string name;
  std::string module;               // after the change
  std::vector<std::string> params;  // the parameters whose values differ ("module" for a new one)
  std::vector<std::string> files;   // files read under the same path whose content differs
};

struct NodeChanges {
  std::vector<std::string> added;      // in the new definition's order
  std::vector<std::string> removed;    // in the old definition's order
  std::vector<ServiceChange> changed;  // in the new definition's order
  std::vector<std::string> unchanged;  // in the new definition's order
  // Node settings that differ: "listen", "uplink", "admins", "metrics", "log.level",
  // "log.buffer", "log.services", "dashboard", "watchdog", "safe_mode".
  std::vector<std::string> settings;

  // Nothing to do.
  bool empty() const;
  // A setting the running process cannot change (all but metrics, log.level and log.services):
  // the node restarts to apply it.
  bool restarts_node() const;
  // The services that stop and the services that start, by name.
  std::vector<std::string> stopping() const;  // removed and changed
  std::vector<std::string> starting() const;  // added and changed
};

// `before` and `after` are two expansions of one node; the hashes are of the files each reads
// (file_references). Disabled services count as absent.
NodeChanges diff_nodes(const NodeDefinition& before, const FileHashes& before_files,
                       const NodeDefinition& after, const FileHashes& after_files,
                       const modules::ModuleCatalog& catalog);

// The settings that a running node can change without restarting.
bool live_setting(std::string_view setting);

}  // namespace psos::system
