// Planning a deploy (see deploy_plan.hpp).
#include "control/deploy_plan.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <stdexcept>

#include "control/bundle.hpp"
#include "control/digest.hpp"
#include "system/definition_file.hpp"
#include "system/duration.hpp"

namespace psos::control {

namespace fs = std::filesystem;
using nlohmann::json;

std::variant<DeployPlan, PlanFailure> plan_deploy(const std::string& file,
                                                  const std::string& secrets_file,
                                                  const std::vector<std::string>& only,
                                                  const modules::ModuleCatalog& catalog,
                                                  std::string shown) {
  if (shown.empty()) shown = file;
  const auto failure = [](int status, std::string message) {
    return PlanFailure{status, {}, std::move(message)};
  };
  std::string text;
  try {
    text = system::read_text_file(file);
  } catch (const system::UnreadableFile& e) {
    return failure(2, "cannot read " + shown + ": " + e.reason());
  }
  DeployPlan plan;
  plan.file = file;
  system::Diagnostics errors;
  try {
    plan.secrets = system::load_secrets(file, secrets_file, errors);
  } catch (const system::UnreadableFile& e) {
    return failure(2, e.what());
  }
  system::CheckResult checked = system::check_definition(text, shown, plan.secrets, catalog);
  errors.insert(errors.end(), checked.errors.begin(), checked.errors.end());
  system::sort_and_deduplicate(errors);
  if (!errors.empty()) {
    PlanFailure f = failure(1, shown + " has problems: nothing was sent");
    for (const system::Diagnostic& d : errors)
      f.diagnostics.push_back(system::to_string(d));
    return f;
  }
  plan.system = checked.definition->system();

  const fs::path directory = fs::path(file).parent_path();
  const std::string definition_name = fs::path(file).filename().string();
  plan.contents[definition_name] = text;
  for (const system::NodeDefinition& node : checked.nodes) {
    if (!only.empty() && std::find(only.begin(), only.end(), node.name) == only.end()) continue;
    NodeDeploy t;
    t.node = node.name;
    t.after = node;
    t.paths.push_back(definition_name);
    for (const system::FileReference& r : system::file_references(node, catalog)) {
      if (const std::string problem = bundle_path_problem(r.path); !problem.empty())
        return failure(1, fmt::format("service {} parameter {}: the file {} {}", r.service, r.param,
                                      r.path, problem));
      if (!plan.contents.count(r.path)) {
        std::string bytes;
        try {
          bytes = system::read_text_file((directory / r.path).string());
        } catch (const system::UnreadableFile& e) {
          return failure(2, "cannot read " + r.path + ": " + e.reason());
        }
        if (bytes.size() > kMaxFileBytes)
          return failure(1, fmt::format("{} has {} bytes; a deployed file has at most {}", r.path,
                                        bytes.size(), kMaxFileBytes));
        plan.contents[r.path] = std::move(bytes);
      }
      t.after_files[r.path] = sha256_hex(plan.contents[r.path]);
      if (std::find(t.paths.begin(), t.paths.end(), r.path) == t.paths.end())
        t.paths.push_back(r.path);
    }
    plan.nodes.push_back(std::move(t));
  }
  for (const std::string& n : only)
    if (std::none_of(plan.nodes.begin(), plan.nodes.end(),
                     [&](const NodeDeploy& t) { return t.node == n; }))
      return failure(2, fmt::format("{} has no node {}", shown, n));
  return plan;
}

void compare_running(NodeDeploy& t, const json& running, const system::Secrets& secrets,
                     const modules::ModuleCatalog& catalog) {
  t.running = running.at("revision").get<std::uint64_t>();
  t.highest = running.at("highest").get<std::uint64_t>();
  system::FileHashes before_files;
  for (const auto& [path, sha] : running.at("files").items())
    before_files[path] = sha.get<std::string>();
  system::Diagnostics errors;
  const std::string file = running.at("file").get<std::string>();
  std::optional<system::Definition> d =
      system::parse_definition(running.at("definition").get<std::string>(), file, errors);
  t.before.reset();
  if (d) t.before = system::expand(*d, t.node, secrets, catalog, errors);
  t.answered = true;
  if (t.before) {
    t.changes = system::diff_nodes(*t.before, before_files, t.after, t.after_files, catalog);
    return;
  }
  system::NodeDefinition empty;
  empty.system = t.after.system;
  empty.name = t.node;
  t.changes = system::diff_nodes(empty, before_files, t.after, t.after_files, catalog);
}

namespace {

const system::ServiceDefinition* find_service(const system::NodeDefinition& node,
                                              const std::string& name) {
  for (const system::ServiceDefinition& s : node.services)
    if (s.enabled && s.name == name) return &s;
  return nullptr;
}

// A parameter's value as a definition writes it (null when absent).
json written_value(const system::ServiceDefinition* service, const modules::ModuleCatalog& catalog,
                   const std::string& param) {
  if (!service || !service->params.has(param)) return nullptr;
  const json& value = service->params.json(param);
  const modules::ModuleSpec* spec = catalog.find(service->module);
  const modules::ParamSpec* p = spec ? spec->find(param) : nullptr;
  if (p && p->type == modules::ParamType::Duration && value.is_number_integer())
    return system::format_duration(std::chrono::milliseconds(value.get<std::int64_t>()));
  if (p && p->type == modules::ParamType::Broker && value.is_object())
    return value.value("name", "");
  return value;
}

}  // namespace

json node_changes_json(const NodeDeploy& t, const modules::ModuleCatalog& catalog) {
  const system::NodeChanges& c = t.changes;
  json changed = json::array();
  for (const system::ServiceChange& s : c.changed) {
    const system::ServiceDefinition* before = t.before ? find_service(*t.before, s.name) : nullptr;
    const system::ServiceDefinition* after = find_service(t.after, s.name);
    json params = json::array();
    for (const std::string& p : s.params) {
      if (p == "module") {
        params.push_back(
            {{"name", p}, {"before", before ? json(before->module) : json()}, {"after", s.module}});
        continue;
      }
      params.push_back({{"name", p},
                        {"before", written_value(before, catalog, p)},
                        {"after", written_value(after, catalog, p)}});
    }
    changed.push_back(
        {{"name", s.name}, {"module", s.module}, {"params", params}, {"files", s.files}});
  }
  return {{"revision", {t.running, t.next_revision()}},
          {"empty", c.empty()},
          {"added", c.added},
          {"removed", c.removed},
          {"changed", changed},
          {"unchanged", c.unchanged},
          {"settings", c.settings},
          {"restarts_node", c.restarts_node()}};
}

}  // namespace psos::control
