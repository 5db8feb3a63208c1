// `function`: Lua 5.4 code run per message, sandboxed and with an instruction limit.
#include <filesystem>
#include <fstream>
#include <sstream>

#include "modules/builtin.hpp"
#include "modules/context.hpp"
#include "script/script.hpp"

namespace psos::modules {

ModuleSpec function_spec() {
  return {
      .name = "function",
      .summary = "Runs Lua code on each message",
      .description =
          "The code sees `msg` (msg.topic, msg.payload, and "
          "msg.json when the payload is JSON) and returns nothing (the message is dropped), a "
          "message (a table with payload and optionally topic) or a list of messages. Globals "
          "keep their values from one message to the next. Errors are reported with the Lua "
          "line number.",
      .params =
          {
              sub_param("The messages the code runs on"),
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
               .description = "A Lua file holding the code, relative to the definition file"},
              {.name = "allow",
               .type = ParamType::Strings,
               .default_value = nlohmann::json::array(),
               .description = "Libraries to open beyond the sandbox (string, table, math, utf8)",
               .allowed = {"os", "io", "require"}},
              {.name = "instructions",
               .type = ParamType::Integer,
               .default_value = 1000000,
               .description = "The most Lua VM instructions one message may take: a runaway "
                              "loop is stopped and reported instead of hanging the node",
               .minimum = 1000},
              qos_param(),
              retain_param(),
          },
      .one_of = {{"code", "file"}},
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

}  // namespace

boost::asio::awaitable<void> run_function(Context& ctx) {
  const Params& p = ctx.params();
  const std::string code =
      p.has("code") ? p.text("code") : read_code(ctx.definition_dir() / p.text("file"));
  script::ScriptOptions options;
  options.allow = p.texts("allow");
  options.instructions = p.integer("instructions");
  options.print = [&ctx](std::string_view line) { ctx.log().info("{}", line); };
  // A syntax error ends the service here: the supervisor reports it, with the line.
  script::Script script(code, std::move(options));
  const std::string pub = p.has("pub") ? p.text("pub") : std::string();
  const auto qos = static_cast<mqtt::QoS>(p.integer("qos"));
  const bool retain = p.boolean("retain");
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
      continue;
    }
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
