// Sandboxed Lua 5.4: `Sandbox`, a Lua state with the safe libraries, an instruction and a memory
// limit, C++ functions Lua can call and JSON in and out (the control plane's eval, function's
// setup and exports); `Script`, a Sandbox that also runs code on messages (the `function` module).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace psos::script {

// The one error of the Lua layer: what kind of failure (callers act on it: a state that ran out
// of memory is reset), the message in words, and where: the Lua line, which the text starts with
// as well ("line 3: attempt to ...", or "setup line 3: ..." for a chunk run under a name).
class ScriptError : public std::runtime_error {
 public:
  enum class Code : std::uint8_t {
    Syntax,        // the code does not compile
    Runtime,       // the code raised an error: error(), a failing call, a bad index
    Memory,        // the memory limit was passed; the state keeps what filled it
    Instructions,  // one entry took more instructions than its limit
    Value,         // a value the code gave back cannot be used: not JSON, not a message, too large
    Usage,         // the sandbox was used wrongly: an unknown library, a call back into a running
                   // state
  };

  ScriptError(Code code, const std::string& message);
  Code code() const noexcept { return code_; }
  // The Lua line the text names; 0 when it names none.
  int line() const noexcept { return line_; }

 private:
  Code code_;
  int line_;
};

struct ScriptOptions {
  // Libraries beyond the sandbox (string, table, math, utf8, basic functions): "os", "io",
  // "require".
  std::vector<std::string> allow;
  // The most VM instructions one entry into Lua (a run, a message, a call) may take.
  std::int64_t instructions = 1'000'000;
  // The most bytes the interpreter may hold: allocations beyond fail with "not enough memory". A
  // value Lua hands back as JSON may not be larger either.
  std::size_t memory = 64u << 20;
  // Where print() goes; left empty, print() does nothing.
  std::function<void(std::string_view line)> print;
};

// Lua values as JSON, both ways: nil is null; booleans, numbers (integers stay integers) and
// strings (bytes, as they are) map to themselves; a table whose keys are exactly 1..n is an array,
// any other table an object (number keys become text, so an empty table is {}). A function,
// userdata, a coroutine or a key of those types cannot be turned into JSON, nor a table nested
// deeper than 100 levels (a table that holds itself): that is a ScriptError. JSON null inside an
// object or array becomes nil, so the key vanishes.
//
// No error, limit or malformed value ends the process: every entry into Lua is protected, and a
// Sandbox stays usable after any ScriptError.
class Sandbox {
 public:
  // Opens the sandbox. Throws ScriptError for an unknown library in `allow`, or when Lua cannot
  // start within the memory limit.
  explicit Sandbox(ScriptOptions options);
  ~Sandbox();
  Sandbox(const Sandbox&) = delete;
  Sandbox& operator=(const Sandbox&) = delete;

  // A C++ function Lua can call: its Lua arguments arrive as a JSON array, its result goes back
  // as a Lua value. Throwing std::exception raises a Lua error with the message at the calling
  // line (which pcall can catch). It must not call back into the same Sandbox.
  using Function = std::function<nlohmann::json(const nlohmann::json& args)>;
  // Makes `function` the global `name`; defining a name again replaces it.
  void define(std::string_view name, Function function);
  // Sets the global `name` to `value`.
  void set(std::string_view name, const nlohmann::json& value);

  // Runs `code` as a chunk (a script: `return` gives its value) and returns its first value as
  // JSON, null when there is none. Globals it sets stay for what runs next. `name` (letters and
  // '_') labels its lines in errors: "setup line 3: ..."; left empty they read "line 3: ...".
  nlohmann::json run(std::string_view code, std::string_view name = {});
  // The names of the functions held by string keys of the global table `table`, sorted; none
  // when there is no such table.
  std::vector<std::string> functions(std::string_view table);
  // Calls `table.function(argument)` (an object becomes a table, null nil) and returns its first
  // value as JSON.
  nlohmann::json call(std::string_view table, std::string_view function,
                      const nlohmann::json& argument);

  // The bytes the interpreter holds now.
  std::size_t memory() const noexcept;

 protected:
  struct State;
  std::unique_ptr<State> state_;
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

class Script : public Sandbox {
 public:
  // Compiles `code` as the body of `function(msg)`. Throws ScriptError on a syntax error.
  Script(std::string_view code, ScriptOptions options);

  // Runs the code on one message. `msg` in Lua has topic, payload and, when the payload parses
  // as JSON, json (parsed on first use, so code that never reads it does not pay for it).
  // Returns what the code returned: nothing, one message or a list of them. Throws ScriptError
  // when the code fails or returns something that is not a message.
  std::vector<ScriptMessage> call(ScriptInput message);
  using Sandbox::call;

 private:
  int function_;  // the compiled code, in the registry
};

}  // namespace psos::script
