// Comparing two expansions of a node (see node_changes.hpp).
#include "system/node_changes.hpp"

#include <algorithm>
#include <set>

namespace psos::system {

namespace {

const ServiceDefinition* find_enabled(const NodeDefinition& node, const std::string& name) {
  for (const ServiceDefinition& s : node.services)
    if (s.enabled && s.name == name) return &s;
  return nullptr;
}

std::string hash_of(const FileHashes& hashes, const std::string& path) {
  const auto it = hashes.find(path);
  return it == hashes.end() ? std::string() : it->second;
}

// The parameters whose values differ, in the module's order, then any the spec does not know.
std::vector<std::string> changed_params(const modules::ModuleSpec* spec,
                                        const nlohmann::json& before, const nlohmann::json& after) {
  std::set<std::string> keys;
  for (const auto& [key, value] : before.items())
    keys.insert(key);
  for (const auto& [key, value] : after.items())
    keys.insert(key);
  const auto differs = [&](const std::string& key) {
    const bool in_before = before.contains(key), in_after = after.contains(key);
    return in_before != in_after || (in_before && before[key] != after[key]);
  };
  std::vector<std::string> out;
  if (spec)
    for (const modules::ParamSpec& p : spec->params)
      if (keys.erase(p.name) > 0 && differs(p.name)) out.push_back(p.name);
  for (const std::string& key : keys)
    if (differs(key)) out.push_back(key);
  return out;
}

}  // namespace

std::vector<FileReference> file_references(const NodeDefinition& node,
                                           const modules::ModuleCatalog& catalog) {
  std::vector<FileReference> out;
  for (const ServiceDefinition& s : node.services) {
    if (!s.enabled) continue;
    const modules::ModuleSpec* spec = catalog.find(s.module);
    if (!spec) continue;
    for (const modules::ParamSpec& p : spec->params)
      if (p.file && s.params.has(p.name) && s.params.json(p.name).is_string())
        out.push_back({s.name, p.name, s.params.text(p.name)});
  }
  return out;
}

bool NodeChanges::empty() const {
  return added.empty() && removed.empty() && changed.empty() && settings.empty();
}

bool live_setting(std::string_view setting) {
  return setting == "metrics" || setting == "log.level" || setting == "log.services";
}

bool NodeChanges::restarts_node() const {
  return std::any_of(settings.begin(), settings.end(),
                     [](const std::string& s) { return !live_setting(s); });
}

std::vector<std::string> NodeChanges::stopping() const {
  std::vector<std::string> out = removed;
  for (const ServiceChange& c : changed)
    out.push_back(c.name);
  return out;
}

std::vector<std::string> NodeChanges::starting() const {
  std::vector<std::string> out = added;
  for (const ServiceChange& c : changed)
    out.push_back(c.name);
  return out;
}

NodeChanges diff_nodes(const NodeDefinition& before, const FileHashes& before_files,
                       const NodeDefinition& after, const FileHashes& after_files,
                       const modules::ModuleCatalog& catalog) {
  NodeChanges changes;
  for (const ServiceDefinition& old : before.services)
    if (old.enabled && !find_enabled(after, old.name)) changes.removed.push_back(old.name);
  for (const ServiceDefinition& now : after.services) {
    if (!now.enabled) continue;
    const ServiceDefinition* old = find_enabled(before, now.name);
    if (!old) {
      changes.added.push_back(now.name);
      continue;
    }
    ServiceChange change{now.name, now.module, {}, {}};
    const modules::ModuleSpec* spec = catalog.find(now.module);
    if (old->module != now.module) {
      change.params.push_back("module");
    } else {
      change.params = changed_params(spec, old->params.all(), now.params.all());
    }
    if (spec && old->module == now.module) {
      for (const modules::ParamSpec& p : spec->params) {
        if (!p.file || !now.params.has(p.name) || !old->params.has(p.name)) continue;
        const std::string& path = now.params.text(p.name);
        if (path != old->params.text(p.name)) continue;  // the parameter says it already
        if (hash_of(before_files, path) != hash_of(after_files, path)) change.files.push_back(path);
      }
    }
    if (change.params.empty() && change.files.empty()) {
      changes.unchanged.push_back(now.name);
    } else {
      changes.changed.push_back(std::move(change));
    }
  }
  if (before.listen != after.listen) changes.settings.push_back("listen");
  if (before.uplink != after.uplink) changes.settings.push_back("uplink");
  if (before.admins != after.admins) changes.settings.push_back("admins");
  if (before.metrics != after.metrics) changes.settings.push_back("metrics");
  if (before.log_level != after.log_level) changes.settings.push_back("log.level");
  if (before.log_buffer != after.log_buffer) changes.settings.push_back("log.buffer");
  if (before.service_log_levels != after.service_log_levels)
    changes.settings.push_back("log.services");
  if (before.dashboard != after.dashboard) changes.settings.push_back("dashboard");
  if (before.watchdog != after.watchdog) changes.settings.push_back("watchdog");
  if (before.safe_mode.crashes != after.safe_mode.crashes ||
      before.safe_mode.window != after.safe_mode.window ||
      before.safe_mode.good_after != after.safe_mode.good_after)
    changes.settings.push_back("safe_mode");
  return changes;
}

}  // namespace psos::system
