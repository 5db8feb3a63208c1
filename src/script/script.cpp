// The Lua binding behind script.hpp: sandbox set-up, limits, protected entries, messages and
// JSON to Lua and back.
//
// Lua reports errors by longjmp. A Lua error raised in unprotected code (an allocation failing
// outside a pcall) would end the process, and one that jumps over C++ frames skips their
// destructors. So every Lua operation that can raise runs inside a pcall (`protect`), the frames
// a Lua error can jump over hold nothing that needs destroying (what must outlive them lives in
// State), and the conversions that run outside a pcall (Lua to JSON) use only API calls that
// never raise.
#include "script/script.hpp"

#include <algorithm>
#include <charconv>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <lua.hpp>
#include <map>
#include <regex>

namespace psos::script {

namespace {

using nlohmann::json;

// Deeper JSON or Lua tables are refused: they are almost surely a cycle or an attack, and
// converting them would recurse without bound.
constexpr int kMaxDepth = 100;
// Chunks run without a name are called this; errors read "line 3: ..." for them.
constexpr const char* kUnnamedChunk = "fn";

// Lua prefixes positions in chunks we load with the chunk's name ("fn:3: text", "setup:3: text");
// "line 3: text" and "setup line 3: text" are what a user recognizes.
std::string with_line(const std::string& text) {
  static const std::regex position("^([A-Za-z_]+):([0-9]+): ");
  std::smatch match;
  if (!std::regex_search(text, match, position)) return text;
  const std::string chunk = match[1].str();
  return (chunk == kUnnamedChunk ? "" : chunk + " ") + "line " + match[2].str() + ": " +
         match.suffix().str();
}

std::string size_text(std::size_t bytes) {
  if (bytes % (1u << 20) == 0) return std::to_string(bytes >> 20) + " MiB";
  if (bytes % 1024 == 0) return std::to_string(bytes / 1024) + " KiB";
  return std::to_string(bytes) + " bytes";
}

// The text of the error object at `index`, without raising (a number is not converted in place).
std::string error_text(lua_State* L, int index) {
  switch (lua_type(L, index)) {
    case LUA_TSTRING: {
      std::size_t size = 0;
      const char* s = lua_tolstring(L, index, &size);
      return with_line(std::string(s, size));
    }
    case LUA_TNUMBER:
      return "the code raised the error " + (lua_isinteger(L, index)
                                                 ? std::to_string(lua_tointeger(L, index))
                                                 : std::to_string(lua_tonumber(L, index)));
    default:
      return std::string("the code raised an error object of type ") + luaL_typename(L, index);
  }
}

// Runs `body(L)` in protected mode, with the `arguments` values on top of the stack as its
// arguments, and leaves `results` values: a Lua error it raises (out of memory, a failing call)
// comes back as a status instead of ending the process. `body` must not throw, and neither it
// nor what it calls may hold anything that needs destroying across a Lua call that can fail.
template <typename Body>
int protect(lua_State* L, Body& body, int arguments, int results) {
  lua_pushcfunction(L, [](lua_State* inner) -> int {
    auto& run = *static_cast<Body*>(lua_touserdata(inner, 1));
    lua_remove(inner, 1);
    return run(inner);
  });
  lua_pushlightuserdata(L, &body);
  lua_rotate(L, -(arguments + 2), 2);
  return lua_pcall(L, arguments + 1, results, 0);
}

// Pushes `value`; false when it is nested too deep for Lua (the stack then holds part of it:
// the caller restores the stack). Raises a Lua error when memory runs out, so it runs protected,
// and its frames hold nothing to destroy.
bool push_json(lua_State* L, const json& value, int depth) {
  if (depth > kMaxDepth || !lua_checkstack(L, 3)) return false;
  switch (value.type()) {
    case json::value_t::object:
      lua_createtable(L, 0, static_cast<int>(std::min<std::size_t>(value.size(), INT_MAX)));
      for (auto it = value.cbegin(); it != value.cend(); ++it) {
        lua_pushlstring(L, it.key().data(), it.key().size());
        if (!push_json(L, *it, depth + 1)) return false;
        lua_rawset(L, -3);
      }
      return true;
    case json::value_t::array: {
      lua_createtable(L, static_cast<int>(std::min<std::size_t>(value.size(), INT_MAX)), 0);
      lua_Integer i = 1;
      for (auto it = value.cbegin(); it != value.cend(); ++it) {
        if (!push_json(L, *it, depth + 1)) return false;
        lua_rawseti(L, -2, i++);
      }
      return true;
    }
    case json::value_t::string:
      lua_pushlstring(L, value.get_ref<const std::string&>().data(),
                      value.get_ref<const std::string&>().size());
      return true;
    case json::value_t::boolean:
      lua_pushboolean(L, value.get<bool>() ? 1 : 0);
      return true;
    case json::value_t::number_integer:
      lua_pushinteger(L, value.get<std::int64_t>());
      return true;
    case json::value_t::number_unsigned:
      if (value.get<std::uint64_t>() <= static_cast<std::uint64_t>(LUA_MAXINTEGER))
        lua_pushinteger(L, static_cast<lua_Integer>(value.get<std::uint64_t>()));
      else
        lua_pushnumber(L, static_cast<lua_Number>(value.get<std::uint64_t>()));
      return true;
    case json::value_t::number_float:
      lua_pushnumber(L, value.get<double>());
      return true;
    default:  // null, and the binary type JSON text never produces
      lua_pushnil(L);
      return true;
  }
}

// msg.json is made on first use, by metamethods all msg tables share. Until then a msg holds
// its payload as it came (`msg.payload` may be changed by then) under this key, a light
// userdata no Lua code can name; pairs() and conversion to JSON make json first, which removes
// it, so a traversal sees the fields it would have seen had json been made up front.
const char kPendingPayload = 0;

bool is_json_key(lua_State* L, int index) {
  if (lua_type(L, index) != LUA_TSTRING) return false;
  std::size_t size = 0;
  const char* key = lua_tolstring(L, index, &size);
  return std::string_view(key, size) == "json";
}

// Pushes the payload still to parse, taking it from msg (nil once taken): msg.json is made, or
// found missing, once.
void take_pending_payload(lua_State* L, int msg) {
  if (lua_rawgetp(L, msg, &kPendingPayload) == LUA_TNIL) return;
  lua_pushnil(L);
  lua_rawsetp(L, msg, &kPendingPayload);
}

// __index(msg, key): only json is ever missing on purpose. Upvalue 1: a json value that the
// State owns, where the parse is kept so that a Lua error raised while pushing it (out of
// memory) skips no destructor.
int msg_index(lua_State* L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  if (!is_json_key(L, 2)) return 0;
  take_pending_payload(L, 1);
  std::size_t size = 0;
  const char* payload = lua_tolstring(L, -1, &size);
  if (payload == nullptr || size == 0) return 0;
  auto& parsed = *static_cast<json*>(lua_touserdata(L, lua_upvalueindex(1)));
  parsed = json::parse(payload, payload + size, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) {
    parsed = nullptr;
    return 0;
  }
  const bool pushed = push_json(L, parsed, 0);
  parsed = nullptr;
  if (!pushed) return luaL_error(L, "the payload's JSON is nested too deep to hand to Lua");
  lua_pushvalue(L, 2);
  lua_pushvalue(L, -2);
  lua_rawset(L, 1);
  return 1;
}

// __newindex(msg, key, value): setting json before reading it replaces the parse.
int msg_newindex(lua_State* L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  if (is_json_key(L, 2)) {
    take_pending_payload(L, 1);
    lua_pop(L, 1);
  }
  lua_settop(L, 3);
  lua_rawset(L, 1);
  return 0;
}

int raw_next(lua_State* L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 2);
  if (lua_next(L, 1) != 0) return 2;
  lua_pushnil(L);
  return 1;
}

// Makes msg.json if it is still to be made (the only field a traversal would miss).
int make_json(lua_State* L) {
  lua_getfield(L, 1, "json");
  return 0;
}

// __pairs(msg): a traversal sees json as when it was made up front.
int msg_pairs(lua_State* L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  make_json(L);
  lua_settop(L, 1);
  lua_pushcfunction(L, raw_next);
  lua_insert(L, 1);
  lua_pushnil(L);
  return 3;
}

// One Lua value on its way to JSON: what it is, for messages ("the result", "argument 2 of
// publish"), and the bytes the JSON may still take (the memory limit: a table that holds one
// large string many times would otherwise grow without bound outside Lua).
struct Conversion {
  std::string what;
  std::size_t budget;
  std::size_t limit;

  void spend(std::size_t bytes) {
    if (bytes > budget)
      throw ScriptError(ScriptError::Code::Value, what + " is larger than the memory limit (" +
                                                      size_text(limit) + ") allows in JSON");
    budget -= bytes;
  }
};

// A table key as JSON text, without raising: lua_tolstring would convert a number key in place.
std::string key_text(lua_State* L, int index, const Conversion& c) {
  switch (lua_type(L, index)) {
    case LUA_TSTRING: {
      std::size_t size = 0;
      const char* s = lua_tolstring(L, index, &size);
      return std::string(s, size);
    }
    case LUA_TNUMBER: {
      if (lua_isinteger(L, index)) return std::to_string(lua_tointeger(L, index));
      char text[64];
      std::snprintf(text, sizeof text, LUA_NUMBER_FMT, lua_tonumber(L, index));
      return text;
    }
    default:
      throw ScriptError(
          ScriptError::Code::Value,
          c.what + ": a table has a " + luaL_typename(L, index) + " key, which JSON cannot hold");
  }
}

// Converts without raising a Lua error (only lua_pcall'ed make_json runs Lua code), so it can run
// outside a pcall with C++ objects on its frames. Throws ScriptError.
json to_json(lua_State* L, int index, int depth, Conversion& c) {
  index = lua_absindex(L, index);
  c.spend(sizeof(json));
  switch (lua_type(L, index)) {
    case LUA_TNIL:
      return nullptr;
    case LUA_TBOOLEAN:
      return lua_toboolean(L, index) != 0;
    case LUA_TNUMBER:
      if (lua_isinteger(L, index)) return static_cast<std::int64_t>(lua_tointeger(L, index));
      return lua_tonumber(L, index);
    case LUA_TSTRING: {
      std::size_t size = 0;
      const char* s = lua_tolstring(L, index, &size);
      c.spend(size);
      return std::string(s, size);
    }
    case LUA_TTABLE: {
      if (depth > kMaxDepth || !lua_checkstack(L, 4))
        throw ScriptError(ScriptError::Code::Value,
                          c.what + ": a table is nested too deep (or holds itself) for JSON");
      if (lua_getmetatable(L, index) != 0) {
        // A msg (returned whole, or inside a payload) keeps its json.
        lua_pushliteral(L, "__index");
        lua_rawget(L, -2);
        const bool msg = lua_tocfunction(L, -1) == msg_index;
        lua_pop(L, 2);
        if (msg) {
          lua_pushcfunction(L, make_json);
          lua_pushvalue(L, index);
          if (const int status = lua_pcall(L, 1, 0, 0); status != LUA_OK) {
            std::string error = error_text(L, -1);
            lua_pop(L, 1);
            throw ScriptError(
                status == LUA_ERRMEM ? ScriptError::Code::Memory : ScriptError::Code::Runtime,
                error);
          }
        }
      }
      // A table whose keys are exactly 1..n is a JSON array; any other is an object.
      const lua_Unsigned length = lua_rawlen(L, index);
      lua_Unsigned keys = 0;
      lua_pushnil(L);
      while (lua_next(L, index) != 0) {
        ++keys;
        lua_pop(L, 1);
      }
      if (length > 0 && keys == length) {
        json array = json::array();
        for (lua_Unsigned i = 1; i <= length; ++i) {
          lua_rawgeti(L, index, static_cast<lua_Integer>(i));
          array.push_back(to_json(L, -1, depth + 1, c));
          lua_pop(L, 1);
        }
        return array;
      }
      json object = json::object();
      lua_pushnil(L);
      while (lua_next(L, index) != 0) {
        std::string key = key_text(L, -2, c);
        c.spend(key.size());
        object[std::move(key)] = to_json(L, -1, depth + 1, c);
        lua_pop(L, 1);
      }
      return object;
    }
    default:
      throw ScriptError(ScriptError::Code::Value,
                        c.what + ": a " + luaL_typename(L, index) + " cannot be turned into JSON");
  }
}

// load() keeps working on text; precompiled chunks are refused since malformed bytecode can
// crash the interpreter.
int load_text(lua_State* L) {
  const int given = lua_gettop(L);
  lua_settop(L, std::max(given, 3));
  lua_pushliteral(L, "t");
  lua_replace(L, 3);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
  return lua_gettop(L);
}

}  // namespace

namespace {
// N from text that starts "line N: ".
int leading_line(std::string_view text) {
  if (!text.starts_with("line ")) return 0;
  text.remove_prefix(5);
  int line = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), line);
  if (error != std::errc() || !std::string_view(end, text.data() + text.size()).starts_with(": "))
    return 0;
  return line;
}
}  // namespace

// The line from a message that starts "line 3: " or "setup line 3: " (with_line's forms).
ScriptError::ScriptError(Code code, const std::string& message)
    : std::runtime_error(message), code_(code), line_(leading_line(message)) {
  if (line_ != 0) return;
  const std::size_t word =
      message.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_");
  if (word > 0 && word != std::string::npos && message[word] == ' ')
    line_ = leading_line(std::string_view(message).substr(word + 1));
}

struct Sandbox::State {
  using Defined = std::pair<const std::string, Function>;

  ScriptOptions options;
  std::size_t used = 0;
  bool refused = false;    // the allocator refused a block during this entry
  bool exhausted = false;  // this entry passed its instruction limit
  bool busy = false;       // C++ is inside a call into Lua
  lua_State* L = nullptr;
  int message_metatable = LUA_NOREF;
  // Interned keys, read with lua_rawget, which does not raise (lua_getfield may allocate).
  int topic_key = LUA_NOREF;
  int payload_key = LUA_NOREF;
  // Where values live while a Lua error may jump over the frames that use them: msg_index's
  // parse, a defined function's result and error, print's line.
  json parsed;
  std::string error;
  std::string printed;
  std::map<std::string, Function, std::less<>> defined;  // stable addresses: Lua holds them

  static void* allocate(void* self, void* block, std::size_t old_size, std::size_t new_size) {
    auto& state = *static_cast<State*>(self);
    if (block == nullptr) old_size = 0;  // then old_size names the kind of object, not a size
    if (new_size == 0) {
      state.used -= old_size;
      std::free(block);
      return nullptr;
    }
    if (new_size > old_size && state.used - old_size + new_size > state.options.memory) {
      state.refused = true;
      return nullptr;
    }
    void* grown = std::realloc(block, new_size);
    if (grown != nullptr) state.used = state.used - old_size + new_size;
    return grown;
  }

  // Raised from the count hook, where luaL_error would not find the running line. From then on
  // every instruction raises it again, so that code which catches it with pcall and carries on is
  // stopped at its next instruction: the budget is spent.
  static void instruction_limit(lua_State* lua, lua_Debug* ar) {
    void* self = nullptr;
    lua_getallocf(lua, &self);
    static_cast<State*>(self)->exhausted = true;
    lua_sethook(lua, instruction_limit, LUA_MASKCOUNT, 1);
    lua_getinfo(lua, "Sl", ar);
    luaL_error(lua, "%s:%d: instruction limit exceeded", ar->short_src, ar->currentline);
  }

  static int print(lua_State* lua) {
    auto& state = *static_cast<State*>(lua_touserdata(lua, lua_upvalueindex(1)));
    state.printed.clear();
    for (int i = 1, n = lua_gettop(lua); i <= n; ++i) {
      std::size_t size = 0;
      const char* s = luaL_tolstring(lua, i, &size);
      if (i > 1) state.printed += '\t';
      state.printed.append(s, size);
      lua_pop(lua, 1);
    }
    state.emit_printed();
    return 0;
  }

  void emit_printed() noexcept {
    if (!options.print) return;
    try {
      options.print(printed);
    } catch (...) {  // a sink that fails loses the line, not the script
    }
  }

  // A defined function called from Lua: upvalue 1 is the State, 2 the entry in `defined`.
  static int call_defined(lua_State* lua) {
    auto& state = *static_cast<State*>(lua_touserdata(lua, lua_upvalueindex(1)));
    const auto& entry = *static_cast<const Defined*>(lua_touserdata(lua, lua_upvalueindex(2)));
    if (!state.run_defined(lua, entry)) {
      luaL_where(lua, 1);
      lua_pushlstring(lua, state.error.data(), state.error.size());
      lua_concat(lua, 2);
      return lua_error(lua);
    }
    const bool pushed = push_json(lua, state.parsed, 0);
    state.parsed = nullptr;
    if (!pushed)
      return luaL_error(lua, "the result of %s is nested too deep to hand to Lua",
                        entry.first.c_str());
    return 1;
  }

  // The C++ side of a call from Lua, in a frame of its own that has ended before Lua raises
  // anything: the arguments as JSON, the function, its result left in `parsed` or its error in
  // `error`. Returns false on an error.
  bool run_defined(lua_State* lua, const Defined& entry) noexcept {
    try {
      json args = json::array();
      for (int i = 1, n = lua_gettop(lua); i <= n; ++i) {
        Conversion c{"argument " + std::to_string(i) + " of " + entry.first, options.memory,
                     options.memory};
        args.push_back(to_json(lua, i, 0, c));
      }
      const Function function = entry.second;  // a copy: it may define its name again
      parsed = function(args);
      return true;
    } catch (const std::exception& e) {
      error = e.what();
    } catch (...) {
      error = "the function " + entry.first + " failed";
    }
    return false;
  }

  void open(const char* name, lua_CFunction library) {
    luaL_requiref(L, name, library, 1);
    lua_pop(L, 1);
  }

  // Runs protected: opening libraries allocates.
  void sandbox() {
    open(LUA_GNAME, luaopen_base);
    open(LUA_STRLIBNAME, luaopen_string);
    open(LUA_TABLIBNAME, luaopen_table);
    open(LUA_MATHLIBNAME, luaopen_math);
    open(LUA_UTF8LIBNAME, luaopen_utf8);
    for (const std::string& library : options.allow) {
      if (library == "os") open(LUA_OSLIBNAME, luaopen_os);
      if (library == "io") open(LUA_IOLIBNAME, luaopen_io);
      if (library == "require") open(LUA_LOADLIBNAME, luaopen_package);
    }
    // Files are reached only through io when it is allowed.
    lua_pushnil(L);
    lua_setglobal(L, "dofile");
    lua_pushnil(L);
    lua_setglobal(L, "loadfile");
    lua_getglobal(L, "load");
    lua_pushcclosure(L, load_text, 1);
    lua_setglobal(L, "load");
    lua_pushlightuserdata(L, this);
    lua_pushcclosure(L, print, 1);
    lua_setglobal(L, "print");

    lua_createtable(L, 0, 3);
    lua_pushlightuserdata(L, &parsed);
    lua_pushcclosure(L, msg_index, 1);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, msg_newindex);
    lua_setfield(L, -2, "__newindex");
    lua_pushcfunction(L, msg_pairs);
    lua_setfield(L, -2, "__pairs");
    message_metatable = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_pushliteral(L, "topic");
    topic_key = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_pushliteral(L, "payload");
    payload_key = luaL_ref(L, LUA_REGISTRYINDEX);
  }

  // Pushes the msg the code is called with. Runs protected.
  void push_message(ScriptInput message) {
    lua_createtable(L, 0, 4);
    lua_pushlstring(L, message.topic.data(), message.topic.size());
    lua_setfield(L, -2, "topic");
    lua_pushlstring(L, message.payload.data(), message.payload.size());
    lua_pushvalue(L, -1);
    lua_setfield(L, -3, "payload");
    lua_rawsetp(L, -2, &kPendingPayload);
    lua_rawgeti(L, LUA_REGISTRYINDEX, message_metatable);
    lua_setmetatable(L, -2);
  }

  // Pushes table[key] for a key kept in the registry, without raising.
  void push_field(int table, int key) {
    table = lua_absindex(L, table);
    lua_rawgeti(L, LUA_REGISTRYINDEX, key);
    lua_rawget(L, table);
  }

  // Why an entry failed, from its status and the error object on top of the stack.
  ScriptError failure(int status) const {
    using Code = ScriptError::Code;
    if (status == LUA_ERRMEM)
      return {Code::Memory, refused ? "not enough memory: the code passed its limit of " +
                                          size_text(options.memory)
                                    : "not enough memory"};
    if (exhausted) return {Code::Instructions, error_text(L, -1)};
    return {status == LUA_ERRSYNTAX ? Code::Syntax : Code::Runtime, error_text(L, -1)};
  }

  void check(int status) const {
    if (status != LUA_OK) throw failure(status);
  }

  Conversion conversion(std::string what) const {
    return {std::move(what), options.memory, options.memory};
  }

  // One message the code returned, read without raising.
  ScriptMessage to_message(int index) {
    index = lua_absindex(L, index);
    if (!lua_istable(L, index))
      throw ScriptError(ScriptError::Code::Value,
                        std::string("a returned list holds a ") + luaL_typename(L, index) +
                            " where a message {topic=..., payload=...} belongs");
    ScriptMessage out;
    push_field(index, topic_key);
    if (lua_type(L, -1) == LUA_TSTRING) {
      std::size_t size = 0;
      const char* s = lua_tolstring(L, -1, &size);
      out.topic.assign(s, size);
    } else if (!lua_isnil(L, -1)) {
      throw ScriptError(ScriptError::Code::Value, std::string("a returned message's topic is a ") +
                                                      luaL_typename(L, -1) + ", not a string");
    }
    lua_pop(L, 1);
    push_field(index, payload_key);
    if (lua_isnil(L, -1))
      throw ScriptError(ScriptError::Code::Value, "a returned message has no payload");
    if (lua_type(L, -1) == LUA_TSTRING) {
      std::size_t size = 0;
      const char* s = lua_tolstring(L, -1, &size);
      out.payload.assign(s, size);
    } else {
      Conversion c = conversion("the payload");
      out.payload = to_json(L, -1, 0, c).dump(-1, ' ', false, json::error_handler_t::replace);
    }
    lua_pop(L, 1);
    return out;
  }

  ~State() {
    if (L != nullptr) lua_close(L);
  }
};

namespace {

// One entry into Lua from C++: the stack is left as found however it ends, the instruction
// budget is renewed, and an entry from inside another (a defined function calling back into its
// own Sandbox) is refused.
class Entry {
 public:
  template <typename State>
  explicit Entry(State& state) : L_(state.L), busy_(state.busy), top_(lua_gettop(state.L)) {
    if (busy_)
      throw ScriptError(ScriptError::Code::Usage,
                        "this Lua state is running: a function it calls cannot call back into it");
    busy_ = true;
    state.refused = false;
    state.exhausted = false;
    const auto count = std::clamp<std::int64_t>(state.options.instructions, 1, INT_MAX);
    // Setting the hook again restarts its count: each entry gets the whole budget.
    lua_sethook(L_, State::instruction_limit, LUA_MASKCOUNT, static_cast<int>(count));
  }
  ~Entry() {
    lua_settop(L_, top_);
    busy_ = false;
  }
  Entry(const Entry&) = delete;
  Entry& operator=(const Entry&) = delete;

 private:
  lua_State* L_;
  bool& busy_;
  int top_;
};

}  // namespace

Sandbox::Sandbox(ScriptOptions options) : state_(std::make_unique<State>()) {
  for (const std::string& library : options.allow)
    if (library != "os" && library != "io" && library != "require")
      throw ScriptError(ScriptError::Code::Usage,
                        "unknown library to allow: " + library + " (os, io or require)");
  state_->options = std::move(options);
  state_->L = lua_newstate(&State::allocate, state_.get());
  if (state_->L == nullptr)
    throw ScriptError(ScriptError::Code::Memory, "cannot start Lua: out of memory");
  // Generational collection: code run per message makes short-lived tables and strings (msg, the
  // message it returns), which the incremental collector kept re-marking with everything else.
  lua_gc(state_->L, LUA_GCGEN, 0, 0);
  Entry entry(*state_);
  State& state = *state_;
  auto body = [&state](lua_State*) {
    state.sandbox();
    return 0;
  };
  state.check(protect(state.L, body, 0, 0));
}

Sandbox::~Sandbox() = default;

void Sandbox::define(std::string_view name, Function function) {
  State& state = *state_;
  Entry entry(state);
  auto& defined = *state.defined.insert_or_assign(std::string(name), std::move(function)).first;
  auto body = [&state, &defined](lua_State* L) {
    lua_pushlightuserdata(L, &state);
    lua_pushlightuserdata(L, &defined);
    lua_pushcclosure(L, State::call_defined, 2);
    lua_setglobal(L, defined.first.c_str());
    return 0;
  };
  state.check(protect(state.L, body, 0, 0));
}

void Sandbox::set(std::string_view name, const nlohmann::json& value) {
  State& state = *state_;
  Entry entry(state);
  const std::string global(name);
  auto body = [&](lua_State* L) {
    if (!push_json(L, value, 0))
      return luaL_error(L, "the value of %s is nested too deep for Lua", global.c_str());
    lua_setglobal(L, global.c_str());
    return 0;
  };
  state.check(protect(state.L, body, 0, 0));
}

nlohmann::json Sandbox::run(std::string_view code, std::string_view name) {
  State& state = *state_;
  Entry entry(state);
  const std::string chunk = "=" + std::string(name.empty() ? kUnnamedChunk : name);
  state.check(luaL_loadbufferx(state.L, code.data(), code.size(), chunk.c_str(), "t"));
  state.check(lua_pcall(state.L, 0, 1, 0));
  Conversion c = state.conversion("the result");
  return to_json(state.L, -1, 0, c);
}

std::vector<std::string> Sandbox::functions(std::string_view table) {
  State& state = *state_;
  Entry entry(state);
  const std::string global(table);
  auto body = [&global](lua_State* L) {
    lua_getglobal(L, global.c_str());
    return 1;
  };
  state.check(protect(state.L, body, 0, 1));
  lua_State* L = state.L;
  std::vector<std::string> names;
  if (!lua_istable(L, -1)) return names;
  lua_pushnil(L);
  while (lua_next(L, -2) != 0) {
    if (lua_type(L, -2) == LUA_TSTRING && lua_type(L, -1) == LUA_TFUNCTION) {
      std::size_t size = 0;
      const char* key = lua_tolstring(L, -2, &size);
      names.emplace_back(key, size);
    }
    lua_pop(L, 1);
  }
  std::sort(names.begin(), names.end());
  return names;
}

nlohmann::json Sandbox::call(std::string_view table, std::string_view function,
                             const nlohmann::json& argument) {
  State& state = *state_;
  Entry entry(state);
  const std::string global(table);
  const std::string field(function);
  auto body = [&](lua_State* L) {
    if (lua_getglobal(L, global.c_str()) != LUA_TTABLE)
      return luaL_error(L, "there is no table %s", global.c_str());
    if (lua_getfield(L, -1, field.c_str()) != LUA_TFUNCTION)
      return luaL_error(L, "%s.%s is not a function", global.c_str(), field.c_str());
    if (!push_json(L, argument, 0)) return luaL_error(L, "the argument is nested too deep for Lua");
    lua_call(L, 1, 1);
    return 1;
  };
  state.check(protect(state.L, body, 0, 1));
  Conversion c = state.conversion("the result of " + global + "." + field);
  return to_json(state.L, -1, 0, c);
}

std::size_t Sandbox::memory() const noexcept {
  return state_->used;
}

Script::Script(std::string_view code, ScriptOptions options) : Sandbox(std::move(options)) {
  State& state = *state_;
  Entry entry(state);
  // On the first line, so that the user's line numbers stay as written.
  const std::string chunk = "return function(msg) " + std::string(code) + "\nend";
  const std::string name = std::string("=") + kUnnamedChunk;
  state.check(luaL_loadbufferx(state.L, chunk.data(), chunk.size(), name.c_str(), "t"));
  state.check(lua_pcall(state.L, 0, 1, 0));
  int reference = LUA_NOREF;
  auto body = [&reference](lua_State* L) {
    reference = luaL_ref(L, LUA_REGISTRYINDEX);
    return 0;
  };
  state.check(protect(state.L, body, 1, 0));
  function_ = reference;
}

std::vector<ScriptMessage> Script::call(ScriptInput message) {
  State& state = *state_;
  Entry entry(state);
  const int function = function_;
  auto body = [&state, &message, function](lua_State* L) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, function);
    state.push_message(message);
    lua_call(L, 1, 1);
    return 1;
  };
  state.check(protect(state.L, body, 0, 1));

  lua_State* L = state.L;
  std::vector<ScriptMessage> out;
  if (lua_isnil(L, -1)) return out;
  if (!lua_istable(L, -1))
    throw ScriptError(ScriptError::Code::Value,
                      std::string("the code returned a ") + luaL_typename(L, -1) +
                          ": return nothing, a message {topic=..., payload=...} or a list of them");
  state.push_field(-1, state.payload_key);
  state.push_field(-2, state.topic_key);
  const bool single = !lua_isnil(L, -1) || !lua_isnil(L, -2);
  lua_pop(L, 2);
  if (single) {
    out.push_back(state.to_message(-1));
    return out;
  }
  const lua_Unsigned count = lua_rawlen(L, -1);
  for (lua_Unsigned i = 1; i <= count; ++i) {
    lua_rawgeti(L, -1, static_cast<lua_Integer>(i));
    out.push_back(state.to_message(-1));
    lua_pop(L, 1);
  }
  return out;
}

}  // namespace psos::script
