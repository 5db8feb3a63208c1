// `function`: Lua 5.4 code run per message, sandboxed and with instruction and memory limits;
// setup code run once at start, and the functions it puts in `exports` callable remotely.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "modules/builtin.hpp"
#include "modules/context.hpp"
#include "script/script.hpp"

namespace psos::modules {

namespace {

// psos check: code runs on messages, so it comes with sub; a service without sub is a library
// of exports its setup defines.
void validate_function(const Params& p, const Report& report) {
  const bool code = p.has("code");
  const bool file = p.has("file");
  const bool sub = p.has("sub");
  if (code && file)
    report("file", "\"file\" cannot be used with \"code\": give only one of \"code\" or \"file\"");
  if (sub && !code && !file)
    report("", "needs \"code\" or \"file\": the Lua code to run on each message of sub");
  if (!sub && !p.has("setup")) {
    report("",
           "needs \"sub\" (the messages code runs on) or \"setup\" (code run once at start, "
           "which may define exports), or both");
  } else if (!sub && (code || file)) {
    report(code ? "code" : "file",
           "runs on the messages of \"sub\", and the service has none: give sub, or move this "
           "code to setup");
  }
}

ParamSpec optional_sub() {
  ParamSpec sub = sub_param(
      "The messages the code runs on; left out, the service only offers the exports its setup "
      "defines");
  sub.required = false;
  return sub;
}

}  // namespace

ModuleSpec function_spec() {
  return {
      .name = "function",
      .summary = "Runs Lua code on each message",
      .description =
          "The code sees `msg` (msg.topic, msg.payload, and "
          "msg.json when the payload is JSON) and returns nothing (the message is dropped), a "
          "message (a table with payload and optionally topic) or a list of messages. Globals "
          "keep their values from one message to the next; setup runs once before the first "
          "message, with the same globals. Each function in the global table exports "
          "(exports.NAME = function(args) ... end, set by setup or by the code) is a function "
          "of the service, callable remotely: its arguments, any JSON object, arrive as a "
          "table; what it returns is the result, as JSON. Errors are reported with the Lua "
          "line number; one in the code drops the message, one in an export fails the call, "
          "one in setup fails the service. Give sub with code or file, setup, or both.",
      .params =
          {
              optional_sub(),
              {.name = "pub",
               .type = ParamType::Topic,
               .description = "The topic of returned messages that name none; left out, a "
                              "returned message must name its topic"},
              {.name = "code",
               .type = ParamType::String,
               .description = "The Lua code, run as the body of a function of msg",
               .literal = true},
              {.name = "file",
               .type = ParamType::String,
               .description = "A Lua file holding the code, relative to the definition file",
               .file = true},
              {.name = "setup",
               .type = ParamType::String,
               .description = "Lua code run once when the service starts, before any message "
                              "(like Node-RED's On Start): set globals the code uses, define "
                              "exports",
               .literal = true},
              {.name = "allow",
               .type = ParamType::Strings,
               .default_value = nlohmann::json::array(),
               .description = "Libraries to open beyond the sandbox (string, table, math, utf8)",
               .allowed = {"os", "io", "require"}},
              {.name = "instructions",
               .type = ParamType::Integer,
               .default_value = 1000000,
               .description = "The most Lua VM instructions one message, the setup or one call "
                              "of an export may take: a runaway loop is stopped and reported "
                              "instead of hanging the node",
               .minimum = 1000},
              qos_param(),
              retain_param(),
          },
      .validate = validate_function,
      .defined_functions =
          "Each function in the Lua table exports (exports.NAME = function(args) ... end) is "
          "the function NAME while the service runs, described as \"Lua export\": its "
          "arguments, any JSON object, arrive as a Lua table; it returns its first value as "
          "JSON (nil is null). The instruction and memory limits apply to each call.",
  };
}

namespace {

std::string read_code(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in)
    throw std::runtime_error("cannot read the Lua file " + file.string() +
                             ": check the path (relative to the definition file)");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// The functions of the Lua table `exports`, offered as functions of the service and kept in step
// with it: after setup, after each message and after each call of an export.
class Exports {
 public:
  Exports(Context& ctx, script::Script& script) : ctx_(ctx), script_(script) {}

  void refresh() {
    std::vector<std::string> names;
    try {
      names = script_.functions("exports");
    } catch (const script::ScriptError& e) {  // a metamethod on _G that fails or runs away
      ctx_.log().error("cannot read exports: {}", e.what());
      return;
    }
    for (auto it = offered_.begin(); it != offered_.end();) {
      if (std::binary_search(names.begin(), names.end(), *it)) {
        ++it;
      } else {
        ctx_.remove_function(*it);
        it = offered_.erase(it);
      }
    }
    for (const std::string& name : names) {
      if (offered_.count(name) != 0 || refused_.count(name) != 0) continue;
      static const std::regex identifier("^[A-Za-z_][A-Za-z0-9_]{0,63}$");
      if (!std::regex_match(name, identifier)) {
        refused_.insert(name);
        ctx_.log().error(
            "exports[\"{}\"] is not offered: an export's name is a Lua identifier (letters, "
            "digits and '_', at most 64)",
            name);
        continue;
      }
      try {
        ctx_.define_function({.name = name, .description = "Lua export", .any_args = true},
                             [this, name](const nlohmann::json& args) { return call(name, args); });
        offered_.insert(name);
      } catch (const std::invalid_argument& e) {
        refused_.insert(name);
        ctx_.log().error("exports.{} is not offered: {}", name, e.what());
      }
    }
  }

 private:
  nlohmann::json call(const std::string& name, const nlohmann::json& args) {
    nlohmann::json result;
    try {
      result = script_.call("exports", name, args.is_null() ? nlohmann::json::object() : args);
    } catch (const script::ScriptError&) {
      refresh();  // it may have changed exports before it failed
      throw;
    }
    refresh();
    return result;
  }

  Context& ctx_;
  script::Script& script_;
  std::set<std::string> offered_;
  std::set<std::string> refused_;  // said once
};

}  // namespace

boost::asio::awaitable<void> run_function(Context& ctx) {
  const Params& p = ctx.params();
  const std::string code = p.has("code")   ? p.text("code")
                           : p.has("file") ? read_code(ctx.definition_dir() / p.text("file"))
                                           : std::string();
  script::ScriptOptions options;
  options.allow = p.texts("allow");
  options.instructions = p.integer("instructions");
  options.print = [&ctx](std::string_view line) { ctx.log().info("{}", line); };
  // A syntax error, or an error in setup, ends the service here: the supervisor reports it, with
  // the line.
  script::Script script(code, std::move(options));
  script.set("exports", nlohmann::json::object());
  if (p.has("setup")) script.run(p.text("setup"), "setup");
  Exports exports(ctx, script);
  exports.refresh();

  const std::string pub = p.has("pub") ? p.text("pub") : std::string();
  const auto qos = static_cast<mqtt::QoS>(p.integer("qos"));
  const bool retain = p.boolean("retain");
  // Without sub, nothing arrives: next() waits for the stop, and the exports stay callable.
  if (p.has("sub"))
    for (const std::string& filter : p.texts("sub"))
      ctx.subscribe(filter);
  while (true) {
    const router::MessagePtr m = co_await ctx.next();
    std::vector<script::ScriptMessage> out;
    try {
      out = script.call({.topic = m->topic, .payload = m->payload});
    } catch (const script::ScriptError& e) {
      // One bad message must not stop the service: it is dropped and the error reported.
      ctx.log().error("{} (on a message on {}, dropped)", e.what(), m->topic);
      exports.refresh();
      continue;
    }
    exports.refresh();
    for (script::ScriptMessage& message : out) {
      if (message.topic.empty()) message.topic = pub;
      if (message.topic.empty()) {
        ctx.log().error(
            "the code returned a message without a topic and the service has no "
            "pub: set msg.topic or the service's pub");
        continue;
      }
      router::Message published;
      published.topic = std::move(message.topic);
      published.payload = std::move(message.payload);
      published.qos = qos;
      published.retain = retain;
      ctx.publish(std::move(published));
    }
  }
}

Module function_module() {
  return {.spec = function_spec(), .run = run_function};
}

}  // namespace psos::modules
