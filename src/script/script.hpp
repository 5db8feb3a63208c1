// A sandboxed Lua 5.4 interpreter running user code on messages (the `function` module): the
// code is the body of a function of `msg`, globals persist between calls, and an instruction and
// memory limit keep a runaway script from hanging or exhausting the node.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace psos::script {

// A compile or run error, its text starting with the Lua line ("line 3: attempt to ...").
class ScriptError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct ScriptOptions {
  // Libraries beyond the sandbox (string, table, math, utf8, basic functions): "os", "io",
  // "require".
  std::vector<std::string> allow;
  // The most VM instructions one call may take.
  std::int64_t instructions = 1'000'000;
  // The most bytes the interpreter may hold: allocations beyond fail with "not enough memory".
  std::size_t memory = 64u << 20;
  // Where print() goes; left empty, print() does nothing.
  std::function<void(std::string_view line)> print;
};

struct ScriptMessage {
  std::string topic;  // empty: the caller picks one
  std::string payload;
};

// The message a call runs on, viewed for the length of the call.
struct ScriptInput {
  std::string_view topic;
  std::string_view payload;
};

class Script {
 public:
  // Compiles `code` as the body of `function(msg)`. Throws ScriptError on a syntax error.
  Script(std::string_view code, ScriptOptions options);
  ~Script();
  Script(const Script&) = delete;
  Script& operator=(const Script&) = delete;

  // Runs the code on one message. `msg` in Lua has topic, payload and, when the payload parses
  // as JSON, json (parsed on first use, so code that never reads it does not pay for it).
  // Returns what the code returned: nothing, one message or a list of them. Throws ScriptError
  // when the code fails or returns something that is not a message.
  std::vector<ScriptMessage> call(ScriptInput message);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace psos::script
