// `eval`: Lua in the node's sandbox, with the node's API (publish, call, services, info) and the
// instruction and memory limits of AgentOptions. One Lua state per node, made on first use, so
// that a `psos repl` session's globals last from one line to the next.
#include <fmt/format.h>

#include "control/agent_impl.hpp"
#include "mqtt/topic.hpp"
#include "script/script.hpp"
#include "system/arguments.hpp"

namespace psos::control {

using nlohmann::json;

namespace {

std::string text_arg(const json& args, std::size_t i, std::string_view function,
                     std::string_view what) {
  if (args.size() <= i || !args[i].is_string())
    throw std::invalid_argument(
        fmt::format("{}: argument {} ({}) must be a string", function, i + 1, what));
  return args[i].get<std::string>();
}

}  // namespace

json Agent::Impl::eval(const std::string& code) {
  if (!lua) {
    script::ScriptOptions o;
    o.instructions = options.eval_instructions;
    o.memory = options.eval_memory;
    o.print = [](std::string_view line) { spdlog::info("[eval] {}", line); };
    lua = std::make_unique<script::Sandbox>(std::move(o));
    // publish(topic, payload [, {qos = 0..2, retain = bool}]): payload a string, or any other
    // value sent as its JSON text.
    lua->define("publish", [this](const json& args) -> json {
      const std::string topic = text_arg(args, 0, "publish", "the topic");
      if (const mqtt::Error e = mqtt::validate_topic_name(topic))
        throw std::invalid_argument(fmt::format("publish: bad topic \"{}\": {}", topic, e.message));
      router::Message m;
      m.topic = topic;
      if (args.size() > 1)
        m.payload = args[1].is_string() ? args[1].get<std::string>() : args[1].dump();
      if (args.size() > 2 && args[2].is_object()) {
        const int qos = args[2].value("qos", 0);
        if (qos < 0 || qos > 2) throw std::invalid_argument("publish: qos is 0, 1 or 2");
        m.qos = static_cast<mqtt::QoS>(qos);
        m.retain = args[2].value("retain", false);
      }
      control->publish(std::move(m));
      return true;
    });
    // call(service, function [, args]): a synchronous function of a service.
    lua->define("call", [this](const json& args) -> json {
      const std::string name = text_arg(args, 0, "call", "the service");
      const std::string function = text_arg(args, 1, "call", "the function");
      runtime::Service* s = node.service(name);
      if (!s) throw std::invalid_argument("call: no service " + name);
      const modules::FunctionSpec* spec = s->function_spec(function);
      if (!spec)
        throw std::invalid_argument(
            fmt::format("call: service {} has no function {}", name, function));
      const json given = args.size() > 2 && !args[2].is_null() ? args[2] : json::object();
      const system::CheckedArguments checked = system::check_arguments(*spec, given);
      if (!checked.ok()) throw std::invalid_argument("call: " + checked.errors.front());
      return s->call_now(function, checked.values);
    });
    lua->define("services", [this](const json&) -> json {
      json list = json::array();
      for (runtime::Service* s : node.services())
        list.push_back({{"name", s->service()},
                        {"module", s->definition().module},
                        {"status", runtime::to_string(s->status)},
                        {"restarts", s->restarts}});
      return list;
    });
    lua->define("info", [this](const json&) -> json { return info_json(); });
  }
  try {
    return lua->run(code, "eval");
  } catch (const script::ScriptError& e) {
    // A state that ran out of memory keeps what filled it: the next eval starts afresh.
    if (e.code() == script::ScriptError::Code::Memory) {
      lua.reset();
      throw VerbError("lua_error", std::string(e.what()) +
                                       " (the node's Lua state was reset: globals are gone)");
    }
    throw VerbError("lua_error", e.what());
  }
}

}  // namespace psos::control
