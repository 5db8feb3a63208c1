// The Lua binding behind script.hpp: sandbox set-up, limits, and messages and JSON to Lua and back.
#include "script/script.hpp"

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <lua.hpp>
#include <nlohmann/json.hpp>
#include <regex>

namespace psos::script {

namespace {

using nlohmann::json;

// Deeper JSON or Lua tables are refused: they are almost surely a cycle or an attack, and
// converting them would recurse without bound.
constexpr int kMaxDepth = 100;

// Errors from the user's chunk read "fn:3: text" (chunk name "=fn"); "line 3: text" is what a
// user recognizes.
std::string with_line(std::string text) {
  static const std::regex position("^fn:([0-9]+): ");
  return std::regex_replace(text, position, "line $1: ", std::regex_constants::format_first_only);
}

std::string error_text(lua_State* L, int index) {
  if (const char* s = lua_tostring(L, index)) return with_line(s);
  return std::string("the code raised an error object of type ") + luaL_typename(L, index);
}

void push_json(lua_State* L, const json& value, int depth) {
  if (depth > kMaxDepth || !lua_checkstack(L, 3))
    throw ScriptError("the payload's JSON is nested too deep to hand to Lua");
  switch (value.type()) {
    case json::value_t::object:
      lua_createtable(L, 0, static_cast<int>(std::min<std::size_t>(value.size(), INT_MAX)));
      for (const auto& [key, item] : value.items()) {
        push_json(L, item, depth + 1);
        lua_setfield(L, -2, key.c_str());
      }
      return;
    case json::value_t::array: {
      lua_createtable(L, static_cast<int>(std::min<std::size_t>(value.size(), INT_MAX)), 0);
      lua_Integer i = 1;
      for (const json& item : value) {
        push_json(L, item, depth + 1);
        lua_rawseti(L, -2, i++);
      }
      return;
    }
    case json::value_t::string:
      lua_pushlstring(L, value.get_ref<const std::string&>().data(),
                      value.get_ref<const std::string&>().size());
      return;
    case json::value_t::boolean:
      lua_pushboolean(L, value.get<bool>() ? 1 : 0);
      return;
    case json::value_t::number_integer:
      lua_pushinteger(L, value.get<std::int64_t>());
      return;
    case json::value_t::number_unsigned:
      if (value.get<std::uint64_t>() <= static_cast<std::uint64_t>(LUA_MAXINTEGER))
        lua_pushinteger(L, static_cast<lua_Integer>(value.get<std::uint64_t>()));
      else
        lua_pushnumber(L, static_cast<lua_Number>(value.get<std::uint64_t>()));
      return;
    case json::value_t::number_float:
      lua_pushnumber(L, value.get<double>());
      return;
    default:  // null, and the binary type JSON text never produces
      lua_pushnil(L);
      return;
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
  bool too_deep = false;
  parsed = json::parse(payload, payload + size, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) {
    parsed = nullptr;
    return 0;
  }
  try {
    push_json(L, parsed, 0);
  } catch (const ScriptError&) {
    too_deep = true;
  }
  parsed = nullptr;
  if (too_deep) return luaL_error(L, "the payload's JSON is nested too deep to hand to Lua");
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

json to_json(lua_State* L, int index, int depth) {
  index = lua_absindex(L, index);
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
      return std::string(s, size);
    }
    case LUA_TTABLE: {
      if (depth > kMaxDepth || !lua_checkstack(L, 4))
        throw ScriptError("a returned table is nested too deep (or holds itself) for JSON");
      if (lua_getmetatable(L, index) != 0) {
        // A msg (returned whole, or inside a payload) keeps its json.
        lua_pushliteral(L, "__index");
        lua_rawget(L, -2);
        const bool msg = lua_tocfunction(L, -1) == msg_index;
        lua_pop(L, 2);
        if (msg) {
          lua_pushcfunction(L, make_json);
          lua_pushvalue(L, index);
          if (lua_pcall(L, 1, 0, 0) != LUA_OK) throw ScriptError(error_text(L, -1));
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
          array.push_back(to_json(L, -1, depth + 1));
          lua_pop(L, 1);
        }
        return array;
      }
      json object = json::object();
      lua_pushnil(L);
      while (lua_next(L, index) != 0) {
        // A copy of the key is turned into text: lua_tolstring on the key itself would change
        // it under lua_next.
        lua_pushvalue(L, -2);
        const char* key = lua_tostring(L, -1);
        if (key == nullptr) {
          const std::string type = luaL_typename(L, -1);
          throw ScriptError("a returned table has a " + type + " key, which JSON cannot hold");
        }
        object[key] = to_json(L, -2, depth + 1);
        lua_pop(L, 2);
      }
      return object;
    }
    default:
      throw ScriptError(std::string("a returned ") + luaL_typename(L, index) +
                        " cannot be turned into JSON");
  }
}

ScriptMessage to_message(lua_State* L, int index) {
  index = lua_absindex(L, index);
  if (!lua_istable(L, index))
    throw ScriptError(std::string("a returned list holds a ") + luaL_typename(L, index) +
                      " where a message {topic=..., payload=...} belongs");
  ScriptMessage out;
  lua_getfield(L, index, "topic");
  if (lua_type(L, -1) == LUA_TSTRING) {
    out.topic = lua_tostring(L, -1);
  } else if (!lua_isnil(L, -1)) {
    throw ScriptError(std::string("a returned message's topic is a ") + luaL_typename(L, -1) +
                      ", not a string");
  }
  lua_pop(L, 1);
  lua_getfield(L, index, "payload");
  if (lua_isnil(L, -1)) throw ScriptError("a returned message has no payload");
  if (lua_type(L, -1) == LUA_TSTRING) {
    std::size_t size = 0;
    const char* s = lua_tolstring(L, -1, &size);
    out.payload.assign(s, size);
  } else {
    out.payload = to_json(L, -1, 0).dump(-1, ' ', false, json::error_handler_t::replace);
  }
  lua_pop(L, 1);
  return out;
}

// Raised from the count hook, where luaL_error would not find the running line.
void instruction_limit(lua_State* L, lua_Debug* ar) {
  lua_getinfo(L, "Sl", ar);
  luaL_error(L, "%s:%d: instruction limit exceeded", ar->short_src, ar->currentline);
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

struct Script::State {
  ScriptOptions options;
  std::size_t used = 0;
  lua_State* L = nullptr;
  int function = LUA_NOREF;
  int message_metatable = LUA_NOREF;
  json parsed;  // msg_index's

  static void* allocate(void* self, void* block, std::size_t old_size, std::size_t new_size) {
    auto& state = *static_cast<State*>(self);
    if (block == nullptr) old_size = 0;  // then old_size names the kind of object, not a size
    if (new_size == 0) {
      state.used -= old_size;
      std::free(block);
      return nullptr;
    }
    if (new_size > old_size && state.used - old_size + new_size > state.options.memory)
      return nullptr;
    void* grown = std::realloc(block, new_size);
    if (grown != nullptr) state.used = state.used - old_size + new_size;
    return grown;
  }

  static int print(lua_State* L) {
    auto& state = *static_cast<State*>(lua_touserdata(L, lua_upvalueindex(1)));
    std::string line;
    for (int i = 1, n = lua_gettop(L); i <= n; ++i) {
      std::size_t size = 0;
      const char* s = luaL_tolstring(L, i, &size);
      if (i > 1) line += '\t';
      line.append(s, size);
      lua_pop(L, 1);
    }
    if (state.options.print) state.options.print(line);
    return 0;
  }

  void open(const std::string& name, lua_CFunction library) {
    luaL_requiref(L, name.c_str(), library, 1);
    lua_pop(L, 1);
  }

  void sandbox() {
    open(LUA_GNAME, luaopen_base);
    open(LUA_STRLIBNAME, luaopen_string);
    open(LUA_TABLIBNAME, luaopen_table);
    open(LUA_MATHLIBNAME, luaopen_math);
    open(LUA_UTF8LIBNAME, luaopen_utf8);
    for (const std::string& library : options.allow) {
      if (library == "os") {
        open(LUA_OSLIBNAME, luaopen_os);
      } else if (library == "io") {
        open(LUA_IOLIBNAME, luaopen_io);
      } else if (library == "require") {
        open(LUA_LOADLIBNAME, luaopen_package);
      } else {
        throw ScriptError("unknown library to allow: " + library + " (os, io or require)");
      }
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
  }

  void make_message_metatable() {
    lua_createtable(L, 0, 3);
    lua_pushlightuserdata(L, &parsed);
    lua_pushcclosure(L, msg_index, 1);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, msg_newindex);
    lua_setfield(L, -2, "__newindex");
    lua_pushcfunction(L, msg_pairs);
    lua_setfield(L, -2, "__pairs");
    message_metatable = luaL_ref(L, LUA_REGISTRYINDEX);
  }

  // Pushes the msg the code is called with.
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

  void arm_limit() {
    const auto count = std::clamp<std::int64_t>(options.instructions, 1, INT_MAX);
    // Setting the hook again restarts its count: each call gets the whole budget.
    lua_sethook(L, instruction_limit, LUA_MASKCOUNT, static_cast<int>(count));
  }

  ~State() {
    if (L != nullptr) lua_close(L);
  }
};

Script::Script(std::string_view code, ScriptOptions options) : state_(std::make_unique<State>()) {
  state_->options = std::move(options);
  state_->L = lua_newstate(&State::allocate, state_.get());
  if (state_->L == nullptr) throw ScriptError("cannot start Lua: out of memory");
  lua_State* L = state_->L;
  state_->sandbox();
  state_->make_message_metatable();
  // On the first line, so that the user's line numbers stay as written.
  const std::string chunk = "return function(msg) " + std::string(code) + "\nend";
  if (luaL_loadbufferx(L, chunk.data(), chunk.size(), "=fn", "t") != LUA_OK) {
    std::string error = error_text(L, -1);
    lua_pop(L, 1);
    throw ScriptError(error);
  }
  state_->arm_limit();
  if (lua_pcall(L, 0, 1, 0) != LUA_OK) {
    std::string error = error_text(L, -1);
    lua_pop(L, 1);
    throw ScriptError(error);
  }
  state_->function = luaL_ref(L, LUA_REGISTRYINDEX);
}

Script::~Script() = default;

std::vector<ScriptMessage> Script::call(ScriptInput message) {
  lua_State* L = state_->L;
  const int top = lua_gettop(L);
  // The stack is left as found however the call ends, exceptions included.
  struct Restore {
    lua_State* L;
    int top;
    ~Restore() { lua_settop(L, top); }
  } restore{L, top};

  lua_rawgeti(L, LUA_REGISTRYINDEX, state_->function);
  state_->push_message(message);
  state_->arm_limit();
  if (lua_pcall(L, 1, 1, 0) != LUA_OK) throw ScriptError(error_text(L, -1));

  std::vector<ScriptMessage> out;
  if (lua_isnil(L, -1)) return out;
  if (!lua_istable(L, -1))
    throw ScriptError(std::string("the code returned a ") + luaL_typename(L, -1) +
                      ": return nothing, a message {topic=..., payload=...} or a list of them");
  lua_getfield(L, -1, "payload");
  lua_getfield(L, -2, "topic");
  const bool single = !lua_isnil(L, -1) || !lua_isnil(L, -2);
  lua_pop(L, 2);
  if (single) {
    out.push_back(to_message(L, -1));
    return out;
  }
  const lua_Unsigned count = lua_rawlen(L, -1);
  for (lua_Unsigned i = 1; i <= count; ++i) {
    lua_rawgeti(L, -1, static_cast<lua_Integer>(i));
    out.push_back(to_message(L, -1));
    lua_pop(L, 1);
  }
  return out;
}

}  // namespace psos::script
