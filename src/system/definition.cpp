// Reading, checking and expanding a definition level by level: the file, its brokers, a node, its
// services. Each level's keys are specs (file_keys, broker_keys, node_keys, the module's
// parameters) that the Checker applies; what no spec can say (names, references, URLs,
// duplicates) is checked here.
#include "system/definition.hpp"

#include <algorithm>
#include <cctype>
#include <map>
#include <set>

#include "net/url.hpp"
#include "system/checker.hpp"
#include "system/template.hpp"

namespace psos::system {

using modules::ParamSpec;
using modules::ParamType;
using nlohmann::json;

const std::vector<ParamSpec>& file_keys() {
  static const std::vector<ParamSpec> keys = {
      {.name = "$schema",
       .type = ParamType::String,
       .description = "The JSON Schema editors check and complete this file with; psos ignores "
                      "it",
       .literal = true},
      {.name = "psos",
       .type = ParamType::Integer,
       .required = true,
       .description = "The format version this file is written in: 1",
       .minimum = 1,
       .maximum = 1},
      {.name = "system",
       .type = ParamType::String,
       .required = true,
       .description = "The system's name, as in the control topics psos/<system>/<node>/...",
       .pattern = modules::kNamePattern,
       .pattern_help = modules::kNameHelp,
       .literal = true},
      {.name = "description",
       .type = ParamType::String,
       .description = "Free text for people reading the definition",
       .literal = true},
      {.name = "defaults",
       .type = ParamType::Object,
       .description = "Template names for every node: {\"site\": \"north\"} makes {site} "
                      "expand to north (strings, numbers or true/false)",
       .literal = true},
      {.name = "brokers",
       .type = ParamType::Object,
       .description = "Brokers by name, for uplinks and bridges"},
      {.name = "admins",
       .type = ParamType::Object,
       .description = "The public keys whose signed commands every node of the system executes, "
                      "by name: {\"alice\": \"ed25519:BASE64\"} (psos keygen makes a key pair; "
                      "the .pub file holds the text)",
       .literal = true},
      {.name = "nodes",
       .type = ParamType::Object,
       .required = true,
       .description = "The nodes by name, each with its services"},
  };
  return keys;
}

const std::vector<ParamSpec>& broker_keys() {
  static const std::vector<ParamSpec> keys = {
      {.name = "url",
       .type = ParamType::String,
       .required = true,
       .description = "mqtt://host[:port] (1883), mqtts:// (8883), ws://host[:port]/path or "
                      "wss://"},
      {.name = "username",
       .type = ParamType::String,
       .description = "The user name to log in with"},
      {.name = "password",
       .type = ParamType::String,
       .description = "The password, best as \"${secret:NAME}\""},
      {.name = "description",
       .type = ParamType::String,
       .description = "Free text for people reading the definition",
       .literal = true},
  };
  return keys;
}

const std::vector<ParamSpec>& node_keys() {
  static const std::vector<ParamSpec> keys = {
      {.name = "listen",
       .type = ParamType::Strings,
       .default_value = json::array(),
       .description = "Listener URLs that make this node a broker other nodes and clients join "
                      "(\"mqtt://0.0.0.0:1883\", \"ws://0.0.0.0:8080/mqtt\")"},
      {.name = "uplink",
       .type = ParamType::Broker,
       .description = "The broker this node connects to: a name from \"brokers\""},
      {.name = "defaults",
       .type = ParamType::Object,
       .description = "Template names for this node's services; they win over the file's "
                      "defaults",
       .literal = true},
      {.name = "services",
       .type = ParamType::ObjectList,
       .description = "The services this node runs, started in this order"},
      {.name = "metrics",
       .type = ParamType::Duration,
       .default_value = "10s",
       .description = "How often the node publishes psos/<system>/<node>/$metrics; 0 turns them "
                      "off",
       .minimum = 0},
      {.name = "watchdog",
       .type = ParamType::Duration,
       .default_value = "30s",
       .description = "A node whose event loop stalls this long (a service computing without "
                      "yielding) aborts with a crash record naming the service, and psos run "
                      "starts it again; 0 turns the watchdog off",
       .minimum = 0},
      {.name = "safe_mode",
       .type = ParamType::Object,
       .default_value = json::object(),
       .description = "After `crashes` crashes within `window`, each before its boot counted as "
                      "good, the node starts with no services (uplink and control plane only, "
                      "$state safe) until psos restart NODE --normal or a deploy",
       .fields = {{.name = "crashes",
                   .type = ParamType::Integer,
                   .default_value = 3,
                   .description = "How many crashes within the window start safe mode",
                   .minimum = 1,
                   .maximum = 100},
                  {.name = "window",
                   .type = ParamType::Duration,
                   .default_value = "10m",
                   .description = "How far back crashes count",
                   .minimum = 1000},
                  {.name = "good_after",
                   .type = ParamType::Duration,
                   .default_value = "60s",
                   .description = "A boot that ran this long counts as good: its crash, if it "
                                  "crashes later, does not count towards safe mode",
                   .minimum = 0}}},
      {.name = "log",
       .type = ParamType::Object,
       .default_value = json::object(),
       .description = "What the node publishes on psos/<system>/<node>/$log (its log on "
                      "standard error is unchanged)",
       .fields = {{.name = "level",
                   .type = ParamType::String,
                   .default_value = "info",
                   .description = "Records at this level and above are published",
                   .allowed = {"trace", "debug", "info", "warn", "error", "off"}},
                  {.name = "services",
                   .type = ParamType::Object,
                   .default_value = json::object(),
                   .description = "Levels for some services, by name: {\"fmt\": \"debug\"}",
                   .literal = true},
                  {.name = "buffer",
                   .type = ParamType::Integer,
                   .default_value = 1000,
                   .description = "Records kept while the uplink is down, published in order "
                                  "when it is back; past it, the lowest levels are dropped first",
                   .minimum = 10,
                   .maximum = 100000}}},
      {.name = "dashboard",
       .type = ParamType::Json,
       .description = "Serve the dashboard (psos dashboard) from this node, over its own "
                      "connection: \"http://127.0.0.1:8088\", or {\"listen\": URL, \"passwd\": "
                      "FILE, \"https_cert\": FILE, \"https_key\": FILE, \"key\": FILE}; off "
                      "loopback it needs https:// and a passwd file"},
      {.name = "description",
       .type = ParamType::String,
       .description = "Free text for people reading the definition",
       .literal = true},
  };
  return keys;
}

namespace {

const Secrets& no_secrets() {
  static const Secrets secrets;
  return secrets;
}

std::string list_names(const std::vector<std::string_view>& names) {
  std::string list;
  for (const std::string_view name : names)
    list += (list.empty() ? "" : ", ") + std::string(name);
  return list;
}

std::vector<std::string_view> keys_of(const json& object) {
  std::vector<std::string_view> keys;
  if (object.is_object())
    for (const auto& [key, value] : object.items())
      keys.push_back(key);
  return keys;
}

// Reads a "defaults" object into `names` (later ones replace earlier ones): strings as they are,
// numbers and booleans as JSON writes them. Its type was checked with the level's keys.
void read_defaults(Checker& checker, const json& defaults, const std::string& path,
                   TemplateNames& names) {
  if (!defaults.is_object()) return;
  for (const auto& [key, value] : defaults.items()) {
    const std::string item_path = child_path(path, key);
    if (!Checker::valid_name(key)) {
      checker.key_error(item_path,
                        "bad default name " + in_quotes(key) + ": expected " + modules::kNameHelp);
    } else if (std::find(std::begin(kBuiltinNames), std::end(kBuiltinNames), key) !=
               std::end(kBuiltinNames)) {
      checker.key_error(item_path, "{" + key + "} is set by psos and cannot be a default");
    } else if (value.is_string()) {
      names[key] = value.get<std::string>();
    } else if (value.is_number() || value.is_boolean()) {
      names[key] = value.dump();
    } else {
      checker.error(item_path,
                    "a default is a string, a number or true/false, found " + describe(value));
    }
  }
}

// A broker or listener URL, parsed to catch mistakes before the runtime does.
// "ed25519:" and the standard base64 of 32 bytes (43 characters and one '=').
bool is_public_key_text(const std::string& text) {
  static constexpr std::string_view kPrefix = "ed25519:";
  if (text.size() != kPrefix.size() + 44 || !text.starts_with(kPrefix) || text.back() != '=')
    return false;
  return std::all_of(text.begin() + kPrefix.size(), text.end() - 1, [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '/';
  });
}

// The service object with a node's overrides applied (in `storage`), or the object itself when
// there are none for it.
const json& with_overrides(const json& service, const ServiceOverrides* overrides, json& storage) {
  if (!overrides || !service.is_object() || !service.contains("name") ||
      !service["name"].is_string())
    return service;
  const auto it = overrides->find(service["name"].get_ref<const std::string&>());
  if (it == overrides->end() || !it->second.is_object()) return service;
  storage = service;
  for (const auto& [key, value] : it->second.items()) {
    if (value.is_null())
      storage.erase(key);
    else
      storage[key] = value;
  }
  return storage;
}

void check_url(Checker& checker, const std::string& url, const std::string& path,
               std::string_view role) {
  const net::UrlResult parsed = net::parse_url(url, role);
  if (parsed.ok()) return;
  // The URL parser quotes parts of its input: with a secret in it, say less.
  checker.error(path, checker.holds_secret(path) ? "invalid " + std::string(role) + " " +
                                                       in_quotes(checker.shown(path, url)) +
                                                       " once its secrets are filled in"
                                                 : parsed.error);
}

// The node setting "dashboard": a listen URL, or an object with one and the files it needs.
std::optional<DashboardSetting> read_dashboard(Checker& checker, const json& value,
                                               const std::string& path) {
  static constexpr std::string_view kExample =
      "\"http://127.0.0.1:8088\" or {\"listen\": \"https://0.0.0.0:8443\", \"passwd\": "
      "\"users.txt\", \"https_cert\": \"dash.pem\", \"https_key\": \"dash.key\"}";
  DashboardSetting d;
  std::string listen_path = path;
  if (value.is_string()) {
    d.listen = value.get<std::string>();
  } else if (value.is_object()) {
    static const std::vector<std::string_view> kKeys = {"listen", "passwd", "https_cert",
                                                        "https_key", "key"};
    const std::map<std::string_view, std::string*> fields = {{"listen", &d.listen},
                                                             {"passwd", &d.passwd},
                                                             {"https_cert", &d.https_cert},
                                                             {"https_key", &d.https_key},
                                                             {"key", &d.key}};
    bool ok = true;
    for (const auto& [key, field] : value.items()) {
      const auto it = fields.find(key);
      if (it == fields.end()) {
        const std::string suggestion = did_you_mean(key, kKeys);
        checker.key_error(
            child_path(path, key),
            "unknown key " + in_quotes(key) + " of a dashboard" +
                (suggestion.empty() ? " (keys: " + list_names(kKeys) + ")" : suggestion));
        ok = false;
      } else if (!field.is_string()) {
        checker.error(child_path(path, key), "expected a string, found " + describe(field));
        ok = false;
      } else if (field.get_ref<const std::string&>().empty()) {
        checker.error(child_path(path, key), "is empty: expected a file name or URL");
        ok = false;
      } else {
        *it->second = field.get<std::string>();
      }
    }
    if (!value.contains("listen")) {
      checker.error(path, "a dashboard needs \"listen\": " + std::string(kExample));
      return std::nullopt;
    }
    if (!ok) return std::nullopt;
    listen_path = child_path(path, "listen");
  } else {
    checker.error(path, "expected " + std::string(kExample) + ", found " + describe(value));
    return std::nullopt;
  }
  const net::HttpUrlResult url = net::parse_http_url(d.listen, "dashboard");
  if (!url.ok()) {
    checker.error(listen_path, url.error);
    return std::nullopt;
  }
  if (url.url.https && (d.https_cert.empty() || d.https_key.empty())) {
    checker.error(path, "dashboard " + d.listen +
                            " is https://: give {\"listen\": ..., \"https_cert\": FILE, "
                            "\"https_key\": FILE}");
    return std::nullopt;
  }
  if (!url.url.https && (!d.https_cert.empty() || !d.https_key.empty())) {
    checker.error(path, "dashboard " + d.listen +
                            " is http://: https_cert and https_key are for https:// only");
    return std::nullopt;
  }
  if (!net::is_loopback_host(url.url.host) && (!url.url.https || d.passwd.empty())) {
    checker.error(path, "dashboard " + d.listen +
                            " is not a loopback address: a dashboard there needs https:// with "
                            "https_cert and https_key, and a passwd file (users made with psos "
                            "passwd)");
    return std::nullopt;
  }
  return d;
}

}  // namespace

// The friend of Definition that fills it.
std::optional<Definition> parse_definition(std::string_view text, std::string file,
                                           Diagnostics& errors) {
  JsonReadResult read = read_json(text);
  for (JsonProblem& problem : read.problems)
    errors.push_back({file, problem.at, std::move(problem.path), std::move(problem.message)});
  if (!read.document) return std::nullopt;

  Definition definition;
  definition.file_ = file;
  definition.document_ = std::move(*read.document);
  const JsonDocument& document = definition.document_;
  const json& root = document.root();
  Checker checker(document, file, no_secrets(), errors);
  if (!root.is_object()) {
    checker.error("",
                  "a definition is a JSON object such as {\"psos\": 1, \"system\": \"home\", "
                  "\"nodes\": {...}}, found " +
                      describe(root));
    return std::nullopt;
  }

  if (!root.contains("psos")) {
    checker.error("psos", "missing \"psos\": 1, the format version this file is written in");
  } else if (const json& version = root["psos"]; version != 1) {
    checker.error(
        "psos", version.is_number()
                    ? "unsupported format version " + version.dump() + ": this psos reads version 1"
                    : "expected the format version 1, found " + describe(version));
  }
  const Scope literal;
  checker.object(file_keys(), root, "", literal, {.skip = {"psos"}});
  if (root.contains("system") && root["system"].is_string())
    definition.system_ = root["system"].get<std::string>();
  if (root.contains("defaults"))
    read_defaults(checker, root["defaults"], "defaults", definition.defaults_);

  if (root.contains("admins") && root["admins"].is_object()) {
    for (const auto& [name, key] : root["admins"].items()) {
      const std::string path = child_path("admins", name);
      if (!Checker::valid_name(name))
        checker.key_error(path,
                          "bad admin name " + in_quotes(name) + ": expected " + modules::kNameHelp);
      if (!key.is_string() || !is_public_key_text(key.get_ref<const std::string&>())) {
        checker.error(path,
                      "expected a public key \"ed25519:\" followed by 44 characters of "
                      "base64 (the text of a .pub file psos keygen writes), found " +
                          describe(key));
        continue;
      }
      definition.admins_.emplace_back(name, key.get<std::string>());
    }
  }

  if (root.contains("brokers") && root["brokers"].is_object()) {
    for (const auto& [name, broker] : root["brokers"].items()) {
      const std::string path = child_path("brokers", name);
      if (!Checker::valid_name(name))
        checker.key_error(
            path, "bad broker name " + in_quotes(name) + ": expected " + modules::kNameHelp);
      if (!broker.is_object()) {
        checker.error(path, "expected a broker such as {\"url\": \"mqtt://host:1883\"}, found " +
                                describe(broker));
        continue;
      }
      // Templates and secrets are filled in for each node that uses the broker; a URL without
      // them is checked here, so that a broker no node uses yet is checked too.
      checker.object(broker_keys(), broker, path, literal, {.words = {"key", " of a broker"}});
      const json* url = broker.contains("url") ? &broker["url"] : nullptr;
      if (url && url->is_string() &&
          url->get_ref<const std::string&>().find_first_of("{}$") == std::string::npos)
        check_url(checker, url->get<std::string>(), child_path(path, "url"), "broker URL");
    }
  }

  if (root.contains("nodes") && root["nodes"].is_object()) {
    const json& nodes = root["nodes"];
    if (nodes.empty()) checker.error("nodes", "no nodes: a system has at least one");
    for (const auto& [name, node] : nodes.items()) {
      const std::string path = child_path("nodes", name);
      if (!Checker::valid_name(name))
        checker.key_error(path,
                          "bad node name " + in_quotes(name) + ": expected " + modules::kNameHelp);
      if (!node.is_object()) {
        checker.error(path,
                      "expected a node such as {\"services\": [...]}, found " + describe(node));
        continue;
      }
      definition.nodes_.push_back(name);
    }
    std::stable_sort(definition.nodes_.begin(), definition.nodes_.end(),
                     [&](const std::string& a, const std::string& b) {
                       return document.key_at(child_path("nodes", a)) <
                              document.key_at(child_path("nodes", b));
                     });
  }
  return definition;
}

std::optional<NodeDefinition> expand(const Definition& definition, std::string_view node_name,
                                     const Secrets& secrets, const modules::ModuleCatalog& modules,
                                     Diagnostics& errors, const ServiceOverrides* overrides) {
  const std::size_t errors_before = errors.size();
  const JsonDocument& document = definition.document();
  const json& root = document.root();
  Checker checker(document, definition.file(), secrets, errors);

  const json* nodes = root.is_object() && root.contains("nodes") ? &root["nodes"] : nullptr;
  const std::string node_key(node_name);
  if (!nodes || !nodes->is_object() || !nodes->contains(node_key)) {
    const std::vector<std::string_view> known(definition.nodes().begin(), definition.nodes().end());
    const std::string suggestion = did_you_mean(node_name, known);
    checker.key_error(
        "nodes", "no node " + in_quotes(node_name) + " in this definition" +
                     (suggestion.empty() ? " (nodes: " + list_names(known) + ")" : suggestion));
    return std::nullopt;
  }
  const json& node = (*nodes)[node_key];
  if (!node.is_object()) return std::nullopt;  // parse_definition said why
  const std::string path = child_path("nodes", node_name);

  TemplateNames names = definition.defaults();
  if (node.contains("defaults"))
    read_defaults(checker, node["defaults"], child_path(path, "defaults"), names);
  names["system"] = definition.system();
  names["node"] = node_key;

  // Brokers expand with the node's names (so "{node}" can pick per-node credentials), not with
  // a service's: one broker serves the uplink and every bridge of the node alike.
  const json empty_object = json::object();
  const json& brokers = root.contains("brokers") ? root["brokers"] : empty_object;
  std::function<std::optional<json>(const std::string&, const std::string&)> resolve =
      [&](const std::string& name, const std::string& reference) -> std::optional<json> {
    if (!brokers.is_object() || !brokers.contains(name)) {
      const std::vector<std::string_view> known = keys_of(brokers);
      const std::string suggestion = did_you_mean(name, known);
      checker.error(reference, "unknown broker " + in_quotes(name) +
                                   (!suggestion.empty() ? suggestion
                                    : known.empty()     ? ": the definition has no \"brokers\""
                                                        : " (brokers: " + list_names(known) + ")"));
      return std::nullopt;
    }
    const std::string broker_path = child_path("brokers", name);
    const json& broker = brokers[name];
    if (!broker.is_object()) return std::nullopt;  // parse_definition said why
    const std::size_t before = errors.size();
    std::optional<json> checked =
        checker.object(broker_keys(), broker, broker_path, Scope{&names, nullptr},
                       {.words = {"key", " of a broker"}});
    if (!checked || errors.size() != before || !checked->contains("url")) return std::nullopt;
    const std::string url = (*checked)["url"].get<std::string>();
    const std::string url_path = child_path(broker_path, "url");
    check_url(checker, url, url_path, "broker URL");
    const net::UrlResult parsed = net::parse_url(url);
    if (parsed.ok() && parsed.url.username && checked->contains("username")) {
      checker.key_error(child_path(broker_path, "username"),
                        "the URL names a user too: give the user in one place");
    }
    if (errors.size() != before) return std::nullopt;
    json connection = {{"name", name}, {"url", url}};
    for (const char* key : {"username", "password"})
      if (checked->contains(key)) connection[key] = (*checked)[key];
    return connection;
  };

  const Scope node_scope{&names, resolve};
  const std::optional<json> checked_node = checker.object(
      node_keys(), node, path, node_scope, {.words = {"key", " of a node"}, .skip = {"services"}});

  NodeDefinition result;
  result.system = definition.system();
  result.admins = definition.admins();
  result.name = node_key;
  if (checked_node && checked_node->contains("listen")) {
    const json& listen = (*checked_node)["listen"];
    for (std::size_t i = 0; i < listen.size(); ++i) {
      const std::string url = listen[i].get<std::string>();
      check_url(checker, url, child_path(child_path(path, "listen"), i), "listener URL");
      result.listen.push_back(url);
    }
  }
  if (checked_node && checked_node->contains("metrics"))
    result.metrics = std::chrono::milliseconds((*checked_node)["metrics"].get<std::int64_t>());
  if (checked_node && checked_node->contains("watchdog"))
    result.watchdog = std::chrono::milliseconds((*checked_node)["watchdog"].get<std::int64_t>());
  if (checked_node && checked_node->contains("safe_mode")) {
    const json& safe = (*checked_node)["safe_mode"];
    result.safe_mode.crashes = safe.value("crashes", result.safe_mode.crashes);
    result.safe_mode.window = std::chrono::milliseconds(
        safe.value("window", static_cast<std::int64_t>(result.safe_mode.window.count())));
    result.safe_mode.good_after = std::chrono::milliseconds(
        safe.value("good_after", static_cast<std::int64_t>(result.safe_mode.good_after.count())));
  }
  if (checked_node && checked_node->contains("log")) {
    const json& log = (*checked_node)["log"];
    result.log_level = log.value("level", "info");
    result.log_buffer = log.value("buffer", std::size_t{1000});
    const std::string services_levels = child_path(child_path(path, "log"), "services");
    const json levels = log.value("services", json::object());
    for (const auto& [service, level] : levels.items()) {
      static const std::set<std::string> kLevels = {"trace", "debug", "info",
                                                    "warn",  "error", "off"};
      if (!level.is_string() || !kLevels.count(level.get<std::string>())) {
        checker.error(
            child_path(services_levels, service),
            "expected a level: trace, debug, info, warn, error or off; found " + describe(level));
        continue;
      }
      result.service_log_levels[service] = level.get<std::string>();
    }
  }
  if (checked_node && checked_node->contains("dashboard"))
    result.dashboard =
        read_dashboard(checker, (*checked_node)["dashboard"], child_path(path, "dashboard"));
  if (checked_node && checked_node->contains("uplink")) {
    const json& uplink = (*checked_node)["uplink"];
    BrokerConnection connection{uplink["name"].get<std::string>(), uplink["url"].get<std::string>(),
                                std::nullopt, std::nullopt};
    if (uplink.contains("username")) connection.username = uplink["username"].get<std::string>();
    if (uplink.contains("password")) connection.password = uplink["password"].get<std::string>();
    result.uplink = std::move(connection);
  }

  const std::string services_path = child_path(path, "services");
  const json empty_list = json::array();
  const json& services = node.contains("services") ? node["services"] : empty_list;
  if (!services.is_array()) {
    checker.error(services_path, "expected a list of services, found " + describe(services));
  } else {
    std::map<std::string, std::string> first_by_name;  // service name -> its path
    std::vector<std::string_view> module_names;
    for (const modules::ModuleSpec* spec : modules.all())
      module_names.push_back(spec->name);
    for (std::size_t i = 0; i < services.size(); ++i) {
      const std::string service_path = child_path(services_path, i);
      json overridden;
      const json& service = with_overrides(services[i], overrides, overridden);
      if (!service.is_object()) {
        checker.error(service_path,
                      "expected a service such as {\"name\": \"tick\", \"module\": "
                      "\"timer\", ...}, found " +
                          describe(service));
        continue;
      }
      const modules::ModuleSpec* module = nullptr;
      if (service.contains("module") && service["module"].is_string()) {
        const std::string& module_name = service["module"].get_ref<const std::string&>();
        module = modules.find(module_name);
        if (!module) {
          const std::string suggestion = did_you_mean(module_name, module_names);
          checker.error(child_path(service_path, "module"),
                        "unknown module " + in_quotes(module_name) +
                            (suggestion.empty() ? " (modules: " + list_names(module_names) + ")"
                                                : suggestion));
        }
      }
      std::string service_name;
      if (service.contains("name") && service["name"].is_string()) {
        service_name = service["name"].get<std::string>();
        const std::string name_path = child_path(service_path, "name");
        const auto [first, inserted] = first_by_name.emplace(service_name, name_path);
        if (!inserted) {
          checker.error(name_path, "duplicate service name " + in_quotes(service_name) +
                                       " on node " + in_quotes(node_name) + " (first at " +
                                       to_string(document.at(first->second)) + ")");
        }
      }

      TemplateNames service_names = names;
      service_names["service"] = service_name;
      std::vector<ParamSpec> fields = modules::service_keys();
      if (module) fields.insert(fields.end(), module->params.begin(), module->params.end());
      const std::size_t before = errors.size();
      std::optional<json> checked = checker.object(
          fields, service, service_path, Scope{&service_names, resolve},
          {.words = {"parameter", module ? " of " + module->name : ""},
           .one_of = module ? module->one_of : std::vector<std::vector<std::string>>{},
           .report_unknown = module != nullptr});
      if (!module || !checked || errors.size() != before) continue;
      if (module->validate) {
        const modules::Params params(*checked);
        module->validate(params, [&](std::string_view relative, std::string message) {
          checker.error(
              relative.empty() ? service_path : service_path + "/" + std::string(relative),
              std::move(message));
        });
        if (errors.size() != before) continue;
      }
      ServiceDefinition definition_of_service;
      definition_of_service.name = service_name;
      definition_of_service.module = module->name;
      definition_of_service.enabled = checked->value("enabled", true);
      definition_of_service.directory = std::filesystem::path(definition.file()).parent_path();
      for (const ParamSpec& key : modules::service_keys())
        checked->erase(key.name);
      definition_of_service.params = modules::Params(std::move(*checked));
      result.services.push_back(std::move(definition_of_service));
    }
  }

  if (errors.size() != errors_before) return std::nullopt;
  return result;
}

CheckResult check_definition(std::string_view text, std::string file, const Secrets& secrets,
                             const modules::ModuleCatalog& modules) {
  CheckResult result;
  result.definition = parse_definition(text, std::move(file), result.errors);
  if (result.definition) {
    for (const std::string& node : result.definition->nodes()) {
      if (std::optional<NodeDefinition> expanded =
              expand(*result.definition, node, secrets, modules, result.errors))
        result.nodes.push_back(std::move(*expanded));
    }
  }
  sort_and_deduplicate(result.errors);
  return result;
}

}  // namespace psos::system
