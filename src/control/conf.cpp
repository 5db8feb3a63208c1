// `conf`: per-service parameter overrides, checked exactly as `psos check` checks the definition
// (the definition is expanded again with them), kept in the node's state directory and applied
// by restarting only the service concerned.
#include <fmt/format.h>

#include <fstream>
#include <sstream>

#include "control/agent_impl.hpp"
#include "modules/module.hpp"
#include "system/duration.hpp"

namespace psos::control {

namespace asio = boost::asio;
using nlohmann::json;

std::filesystem::path overrides_path(const std::filesystem::path& state_dir) {
  return state_dir / "conf.json";
}

system::ServiceOverrides load_overrides(const std::filesystem::path& state_dir) {
  const auto path = overrides_path(state_dir);
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  std::ostringstream text;
  text << in.rdbuf();
  const json j = json::parse(text.str(), nullptr, false);
  if (j.is_discarded() || !j.is_object())
    throw std::runtime_error(path.string() +
                             ": not a JSON object of services to parameter overrides; fix or "
                             "remove it (psos conf NODE unset ... writes it)");
  system::ServiceOverrides overrides;
  for (const auto& [service, params] : j.items()) {
    if (!params.is_object())
      throw std::runtime_error(path.string() + ": the overrides of service " + service +
                               " are not an object");
    overrides[service] = params;
  }
  return overrides;
}

void save_overrides(const std::filesystem::path& state_dir,
                    const system::ServiceOverrides& overrides) {
  std::filesystem::create_directories(state_dir);
  json j = json::object();
  for (const auto& [service, params] : overrides)
    if (!params.empty()) j[service] = params;
  const auto path = overrides_path(state_dir);
  const auto temporary = path.string() + ".tmp";
  {
    std::ofstream out(temporary, std::ios::trunc | std::ios::binary);
    out << j.dump(2) << "\n";
    out.flush();
    if (!out) throw std::runtime_error("cannot write " + temporary);
  }
  std::filesystem::rename(temporary, path);
}

namespace {

// The service's object as the definition file writes it.
const json* written_service(const system::Definition& definition, const std::string& node,
                            const std::string& service) {
  const json& root = definition.document().root();
  const json& services = root["nodes"][node]["services"];
  for (const json& s : services)
    if (s.is_object() && s.value("name", "") == service) return &s;
  return nullptr;
}

// A normalized value as a definition writes it: durations as "5s", not 5000.
json as_written(const modules::ModuleSpec& spec, const std::string& param, const json& value) {
  const modules::ParamSpec* p = spec.find(param);
  if (p && p->type == modules::ParamType::Duration && value.is_number_integer())
    return system::format_duration(std::chrono::milliseconds(value.get<std::int64_t>()));
  return value;
}

std::string source_of(const json* written, const json& overrides, const std::string& param) {
  if (overrides.is_object() && overrides.contains(param)) return "override";
  if (written && written->contains(param)) return "definition";
  return "default";
}

}  // namespace

asio::awaitable<json> Agent::Impl::conf(const json& args) {
  const std::string op = args["op"].get<std::string>();
  const std::string node_name = node.definition().name;
  if (!options.definition)
    throw VerbError("refused", "this node has no definition to check overrides against");
  const system::Definition& definition = *options.definition;

  const auto service_named = [&](const std::string& name) -> runtime::Service& {
    if (runtime::Service* s = node.service(name)) return *s;
    throw VerbError("unknown_service", fmt::format("no service {} on node {}", name, node_name));
  };
  const auto describe = [&](runtime::Service& s) {
    const json* written = written_service(definition, node_name, s.service());
    const auto it = options.overrides.find(s.service());
    const json overrides = it == options.overrides.end() ? json::object() : it->second;
    json params = json::object();
    for (const auto& [param, value] : s.definition().params.all().items())
      params[param] = {{"value", as_written(s.spec(), param, value)},
                       {"source", source_of(written, overrides, param)}};
    return params;
  };

  if (op == "dump") {
    json out = json::object();
    if (args.contains("service")) {
      runtime::Service& s = service_named(args["service"]);
      out[s.service()] = describe(s);
    } else {
      for (runtime::Service* s : node.services())
        out[s->service()] = describe(*s);
    }
    co_return out;
  }

  if (!args.contains("service") || !args.contains("param"))
    throw VerbError("invalid_args", "conf " + op + " needs a service and a parameter");
  const std::string service = args["service"].get<std::string>();
  const std::string param = args["param"].get<std::string>();
  runtime::Service& s = service_named(service);
  if (op == "get") {
    const json params = describe(s);
    if (!params.contains(param)) {
      if (!s.spec().find(param))
        throw VerbError("unknown_param",
                        fmt::format("module {} has no parameter {}", s.definition().module, param));
      co_return json{{"value", nullptr}, {"source", "unset"}};
    }
    co_return params[param];
  }

  // set / unset: the definition expanded again with the new overrides, as psos check would.
  if (param == "name" || param == "module")
    throw VerbError("invalid_value", "a service's " + param + " cannot be overridden");
  if (op == "set" && !args.contains("value"))
    throw VerbError("invalid_args", "conf set needs a value");
  system::ServiceOverrides next = options.overrides;
  json& mine = next[service];
  if (!mine.is_object()) mine = json::object();
  if (op == "set") {
    mine[param] = args["value"];
  } else {
    if (!mine.contains(param))
      throw VerbError("not_overridden", fmt::format("{}.{} has no override", service, param));
    mine.erase(param);
  }
  system::Diagnostics errors;
  const std::optional<system::NodeDefinition> expanded = system::expand(
      definition, node_name, options.secrets, modules::builtin_catalog(), errors, &next);
  if (!expanded || !errors.empty()) {
    std::string message;
    for (const system::Diagnostic& d : errors)
      message +=
          (message.empty() ? "" : "; ") + (d.path.empty() ? d.message : d.path + ": " + d.message);
    throw VerbError("invalid_value", message.empty() ? "the definition does not expand" : message);
  }
  const auto found =
      std::find_if(expanded->services.begin(), expanded->services.end(),
                   [&](const system::ServiceDefinition& sd) { return sd.name == service; });
  if (found == expanded->services.end())
    throw VerbError("invalid_value", "service " + service + " is not in the definition any more");
  // The service is replaced by the restart: keep its module's spec (static), not the object.
  const modules::ModuleSpec& spec = s.spec();
  save_overrides(node.state_dir(), next);
  options.overrides = std::move(next);
  spdlog::info("control: conf {} {}.{}; restarting {}", op, service, param, service);
  const std::string why = co_await node.restart_service(service, *found);
  if (!why.empty()) throw VerbError("refused", why);
  json value =
      found->params.has(param) ? as_written(spec, param, found->params.json(param)) : json(nullptr);
  co_return json{{"service", service}, {"param", param}, {"value", value}, {"restarted", true}};
}

}  // namespace psos::control
