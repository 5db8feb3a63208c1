// The verbs a node answers on $cmd/<verb> (docs/control.md): what each does with its checked
// arguments. conf is in conf.cpp, eval in eval.cpp.
#include <fmt/format.h>

#include <boost/asio/post.hpp>

#include "control/agent_impl.hpp"
#include "runtime/crash_log.hpp"
#include "runtime/safe_mode.hpp"
#include "system/arguments.hpp"

namespace psos::control {

namespace asio = boost::asio;
using modules::ParamSpec;
using modules::ParamType;
using nlohmann::json;

namespace {

json spec_json(const ParamSpec& p) {
  json j = {{"name", p.name},
            {"type", std::string(modules::type_name(p.type))},
            {"required", p.required},
            {"description", p.description}};
  if (!p.default_value.is_null()) j["default"] = p.default_value;
  if (!p.allowed.empty()) j["allowed"] = p.allowed;
  if (p.minimum) j["minimum"] = *p.minimum;
  if (p.maximum) j["maximum"] = *p.maximum;
  return j;
}

json function_json(const modules::FunctionSpec& f) {
  json args = json::array();
  for (const ParamSpec& p : f.args)
    args.push_back(spec_json(p));
  return {{"name", f.name}, {"description", f.description}, {"args", args}};
}

runtime::Service& find_service(Agent::Impl& a, const std::string& name) {
  if (runtime::Service* s = a.node.service(name)) return *s;
  std::string known;
  for (runtime::Service* s : a.node.services())
    known += (known.empty() ? "" : ", ") + s->service();
  throw VerbError("unknown_service",
                  fmt::format("no service {} on node {} (services: {})", name,
                              a.node.definition().name, known.empty() ? "none" : known));
}

asio::awaitable<json> ping(Agent::Impl& a, const json&) {
  co_return json{{"node", a.node.definition().name},
                 {"uptime_ms", a.now_ms() - a.started_ms},
                 {"boot", a.boot}};
}

asio::awaitable<json> help(Agent::Impl& a, const json&) {
  json verb_list = json::array();
  for (const Verb& v : verbs())
    verb_list.push_back(function_json(v.spec));
  json services = json::array();
  for (runtime::Service* s : a.node.services()) {
    json functions = json::array();
    for (const modules::FunctionSpec* f : s->function_specs())
      functions.push_back(function_json(*f));
    services.push_back({{"name", s->service()},
                        {"module", s->definition().module},
                        {"summary", s->spec().summary},
                        {"status", runtime::to_string(s->status)},
                        {"functions", functions}});
  }
  co_return json{{"node", a.node.definition().name}, {"verbs", verb_list}, {"services", services}};
}

asio::awaitable<json> info(Agent::Impl& a, const json&) {
  co_return a.info_json();
}

asio::awaitable<json> call(Agent::Impl& a, const json& args) {
  runtime::Service& s = find_service(a, args["service"].get<std::string>());
  const std::string function = args["function"].get<std::string>();
  const modules::FunctionSpec* spec = s.function_spec(function);
  if (!spec) {
    std::string known;
    for (const modules::FunctionSpec* f : s.function_specs())
      known += (known.empty() ? "" : ", ") + f->name;
    throw VerbError("unknown_function",
                    fmt::format("service {} (module {}) has no function {} (functions: {})",
                                s.service(), s.definition().module, function, known));
  }
  const system::CheckedArguments checked = system::check_arguments(*spec, args["args"]);
  if (!checked.ok()) throw VerbError("invalid_args", checked.errors.front());
  // The service may be replaced while the call runs: keep its name, not the object.
  co_return co_await s.call(function, checked.values);
}

asio::awaitable<json> service(Agent::Impl& a, const json& args) {
  const std::string op = args["op"].get<std::string>();
  const std::string name = args["name"].get<std::string>();
  find_service(a, name);
  std::string why;
  if (op == "start") {
    why = a.node.start_service(name);
  } else if (op == "stop") {
    why = co_await a.node.stop_service(name);
  } else {
    why = co_await a.node.restart_service(name);
  }
  if (!why.empty()) throw VerbError("refused", why);
  runtime::Service& s = find_service(a, name);
  co_return json{
      {"name", name}, {"status", runtime::to_string(s.status)}, {"restarts", s.restarts}};
}

asio::awaitable<json> log(Agent::Impl& a, const json& args) {
  const std::string level = args["level"].get<std::string>();
  const auto value = spdlog::level::from_str(level);
  if (args.contains("service")) {
    const std::string name = args["service"].get<std::string>();
    runtime::Service& s = find_service(a, name);
    a.service_levels[name] = value;
    a.apply_levels(s);
    co_return json{{"service", name}, {"level", level}};
  }
  a.remote_level = value;
  spdlog::logger& node_log = *spdlog::default_logger();
  node_log.set_level(std::min(a.local_level, a.remote_level));
  for (runtime::Service* s : a.node.services())
    a.apply_levels(*s);
  co_return json{{"level", level}};
}

asio::awaitable<json> restart(Agent::Impl& a, const json& args) {
  if (!a.options.restart_node)
    throw VerbError("refused", "this node cannot restart itself (it was not started by psos run)");
  const bool normal = args.value("normal", false);
  if (normal) runtime::leave_safe_mode_on_next_start(a.node.state_dir());
  // After the reply has gone: the restart stops the node, its uplink included.
  asio::post(a.executor, [fn = a.options.restart_node, alive = a.alive] {
    if (*alive) fn();
  });
  co_return json{{"restarting", true}, {"normal", normal}};
}

asio::awaitable<json> crashes(Agent::Impl& a, const json& args) {
  const std::vector<runtime::CrashRecord> records = runtime::CrashLog(a.node.state_dir()).records();
  if (args.contains("index")) {
    const auto index = args["index"].get<std::int64_t>();
    if (index < 1 || static_cast<std::size_t>(index) > records.size())
      throw VerbError("invalid_args", fmt::format("no crash {} on node {} ({} recorded)", index,
                                                  a.node.definition().name, records.size()));
    co_return runtime::to_json(records[static_cast<std::size_t>(index - 1)]);
  }
  json list = json::array();
  for (const runtime::CrashRecord& r : records)
    list.push_back(runtime::summary_json(r));
  co_return json{
      {"node", a.node.definition().name},
      {"safe_mode", a.options.safe_mode_reason.empty() ? json() : json(a.options.safe_mode_reason)},
      {"crashes", list}};
}

asio::awaitable<json> conf(Agent::Impl& a, const json& args) {
  co_return co_await a.conf(args);
}

asio::awaitable<json> eval(Agent::Impl& a, const json& args) {
  co_return a.eval(args["code"].get<std::string>());
}

ParamSpec text(std::string name, std::string description, bool required = true) {
  return {.name = std::move(name),
          .type = ParamType::String,
          .required = required,
          .description = std::move(description),
          .literal = true};
}

ParamSpec choice(std::string name, std::vector<std::string> allowed, std::string description) {
  return {.name = std::move(name),
          .type = ParamType::String,
          .required = true,
          .description = std::move(description),
          .allowed = std::move(allowed),
          .literal = true};
}

}  // namespace

const std::vector<Verb>& verbs() {
  static const std::vector<Verb> all = {
      {{.name = "ping", .description = "Answers at once: the node, its uptime and boot count"},
       ping},
      {{.name = "help",
        .description = "The verbs, and each service with its module and callable functions"},
       help},
      {{.name = "info", .description = "What $info says: version, services, topics, functions"},
       info},
      {{.name = "call",
        .description = "Calls a function of a service",
        .args = {text("service", "The service"),
                 text("function", "The function"),
                 {.name = "args",
                  .type = ParamType::Json,
                  .default_value = json::object(),
                  .description = "The function's arguments, an object",
                  .literal = true}}},
       call},
      {{.name = "conf",
        .description = "Parameter overrides: get, set or unset one, dump all with their source",
        .args = {choice("op", {"get", "set", "unset", "dump"}, "What to do"),
                 text("service", "The service (dump: all when left out)", false),
                 text("param", "The parameter (get, set, unset)", false),
                 {.name = "value",
                  .type = ParamType::Json,
                  .description = "The new value (set), as in a definition",
                  .literal = true}}},
       conf},
      {{.name = "eval",
        .description = "Runs Lua in the node's sandbox (publish, call, services, info) and "
                       "returns its value",
        .args = {text("code", "The Lua code; `return` a value to get it back")}},
       eval},
      {{.name = "service",
        .description = "Starts, stops or restarts one service",
        .args = {choice("op", {"start", "stop", "restart"}, "What to do"),
                 text("name", "The service")}},
       service},
      {{.name = "log",
        .description = "Sets the level of what the node publishes on $log, for the node or one "
                       "service",
        .args = {choice("level", {"trace", "debug", "info", "warn", "error", "off"},
                        "Records at this level and above are published"),
                 text("service", "One service only", false)}},
       log},
      {{.name = "restart",
        .description = "Restarts the whole node cleanly; with normal, out of safe mode",
        .args = {{.name = "normal",
                  .type = ParamType::Boolean,
                  .default_value = false,
                  .description = "Start normally whatever crashed before (leaves safe mode)",
                  .literal = true}}},
       restart},
      {{.name = "crashes",
        .description = "The crash log, newest first (the last 10): summaries, or one record "
                       "whole with its stack trace and last log lines",
        .args = {{.name = "index",
                  .type = ParamType::Integer,
                  .description = "One record whole: 1 is the newest",
                  .minimum = 1,
                  .literal = true}}},
       crashes},
      {{.name = "revision",
        .description = "The revision running: its number, definition text and files' SHA-256"},
       revision_verb},
      {{.name = "deploy.begin",
        .description = "Starts (or resumes) the transfer of a signed bundle; answers which "
                       "chunks to send",
        .args = {text("manifest", "The manifest text"),
                 text("signature", "Its Ed25519 signature, base64")}},
       deploy_begin_verb},
      {{.name = "deploy.apply",
        .description = "Applies a transferred revision live, watches it, then commits it or "
                       "rolls back",
        .args = {{.name = "revision",
                  .type = ParamType::Integer,
                  .required = true,
                  .description = "The revision transferred",
                  .minimum = 1,
                  .literal = true},
                 {.name = "confirm",
                  .type = ParamType::Integer,
                  .default_value = 30000,
                  .description = "How long to watch before committing, in ms",
                  .minimum = 0,
                  .maximum = 3'600'000,
                  .literal = true}}},
       deploy_apply_verb},
      {{.name = "rollback", .description = "Goes back to the previous committed revision"},
       rollback_verb},
  };
  return all;
}

const Verb* find_verb(std::string_view name) {
  for (const Verb& v : verbs())
    if (v.spec.name == name) return &v;
  return nullptr;
}

}  // namespace psos::control
