// The system definition, format version 1 (docs/definition.md): reading and checking a file, and
// expanding one node's part of it into what the runtime starts on that node.
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "modules/spec.hpp"
#include "system/diagnostic.hpp"
#include "system/json_document.hpp"
#include "system/secrets.hpp"
#include "system/template.hpp"

namespace psos::system {

struct BrokerConnection {
  std::string name;  // its key in "brokers"
  std::string url;   // templates and secrets expanded
  std::optional<std::string> username;
  std::optional<std::string> password;
  friend bool operator==(const BrokerConnection&, const BrokerConnection&) = default;
};

// The node setting "dashboard": `psos dashboard` served from the node, over its one connection.
// Files are as written (relative to the directory psos run starts in).
struct DashboardSetting {
  std::string listen;      // http://HOST:PORT or https://HOST:PORT
  std::string passwd;      // a psos passwd file: login required (always off loopback)
  std::string https_cert;  // https:// only
  std::string https_key;
  std::string key;  // the private key that signs the page's commands; empty: the user's own
  friend bool operator==(const DashboardSetting&, const DashboardSetting&) = default;
};

struct ServiceDefinition {
  std::string name;
  std::string module;
  bool enabled = true;
  modules::Params params;
  // The directory of the definition file: a relative path in a parameter (function's file)
  // starts here, wherever the node was started from. Empty: the current directory.
  std::filesystem::path directory;
};

struct NodeDefinition {
  std::string system;
  std::string name;
  // Listener URLs. A node with neither listeners nor an uplink gets the runtime's embedded
  // default (DESIGN.md); that is the runtime's choice, not filled in here.
  std::vector<std::string> listen;
  std::optional<BrokerConnection> uplink;
  std::vector<ServiceDefinition> services;  // in file order, disabled ones included
  // The control plane: $metrics interval (0: none), $log level, buffer and per-service levels,
  // and the definition's admins (name, "ed25519:BASE64"), whose signed commands it executes.
  std::chrono::milliseconds metrics{10000};
  std::string log_level = "info";
  std::size_t log_buffer = 1000;
  std::map<std::string, std::string, std::less<>> service_log_levels;
  std::vector<std::pair<std::string, std::string>> admins;
  std::optional<DashboardSetting> dashboard;
  // Recovery (runtime/recovery.hpp): the loop's watchdog (0: off) and when to start in safe mode.
  std::chrono::milliseconds watchdog{30000};
  struct SafeMode {
    unsigned crashes = 3;
    std::chrono::milliseconds window{600000};
    std::chrono::milliseconds good_after{60000};
  } safe_mode;
};

class Definition {
 public:
  const std::string& file() const { return file_; }
  const std::string& system() const { return system_; }
  // The node names, in file order.
  const std::vector<std::string>& nodes() const { return nodes_; }
  const JsonDocument& document() const { return document_; }
  // The file's "defaults" as template names (the valid ones).
  const TemplateNames& defaults() const { return defaults_; }
  // The valid entries of "admins": name and public key text, by name.
  const std::vector<std::pair<std::string, std::string>>& admins() const { return admins_; }

 private:
  friend std::optional<Definition> parse_definition(std::string_view, std::string, Diagnostics&);
  std::string file_;
  std::string system_;
  std::vector<std::string> nodes_;
  TemplateNames defaults_;
  std::vector<std::pair<std::string, std::string>> admins_;
  JsonDocument document_;
};

// Reads a definition; `file` names it in diagnostics. Checks what is the same for every node
// (JSON syntax, format version, top-level keys, defaults, brokers, node names) and appends the
// problems to `errors`. nullopt when the text is not JSON or not a JSON object; otherwise a
// definition to expand, even when it has problems, so that all of them are found.
std::optional<Definition> parse_definition(std::string_view text, std::string file,
                                           Diagnostics& errors);

// Parameter values that replace (or add to) what the definition gives, per service name: a
// node's `conf set` overrides. A null value removes the parameter, so its default applies.
using ServiceOverrides = std::map<std::string, nlohmann::json, std::less<>>;

// One node's part: its keys and services checked against the modules of `modules` (their types
// and their own checks), templates and secrets expanded, parameters normalized with their
// defaults, `overrides` applied first. nullopt when the node does not exist or has a problem
// (each appended to `errors`).
std::optional<NodeDefinition> expand(const Definition& definition, std::string_view node,
                                     const Secrets& secrets, const modules::ModuleCatalog& modules,
                                     Diagnostics& errors,
                                     const ServiceOverrides* overrides = nullptr);

// What `psos check` does: parse, then expand every node; the problems sorted by position, each
// reported once.
struct CheckResult {
  std::optional<Definition> definition;
  std::vector<NodeDefinition> nodes;  // the nodes that expanded without problems
  Diagnostics errors;
  bool valid() const { return definition && errors.empty(); }
};
CheckResult check_definition(std::string_view text, std::string file, const Secrets& secrets,
                             const modules::ModuleCatalog& modules);

// The keys of a definition's levels, as specs: checking, `psos schema` and the docs use them.
const std::vector<modules::ParamSpec>& file_keys();
const std::vector<modules::ParamSpec>& broker_keys();
const std::vector<modules::ParamSpec>& node_keys();

// Template names the definition itself provides; defaults cannot redefine them.
inline constexpr std::string_view kBuiltinNames[] = {"system", "node", "service"};

}  // namespace psos::system
