// `function`: Lua 5.4 code run per message, sandboxed and with an instruction limit.
#include "modules/builtin.hpp"

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

}  // namespace psos::modules
