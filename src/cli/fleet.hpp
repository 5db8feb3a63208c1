// What the fleet commands (psos nodes, call, cmd, conf, eval, repl, logs, restart) share: their
// flags (--broker, --key, --timeout, --v311, TLS), the connection, NODE resolved to SYSTEM/NODE,
// requests turned into exit statuses with one-line messages, and how results are printed.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "control/caller.hpp"

namespace CLI {
class App;
}

namespace psos::cli {

// Exit statuses of every fleet command.
inline constexpr int kExitOk = 0;
inline constexpr int kExitNodeError = 1;  // the node answered with an error (refused, failed)
inline constexpr int kExitUsage = 2;      // bad usage, no key, an ambiguous node name
inline constexpr int kExitNoAnswer = 3;   // broker unreachable, node unknown, offline, timed out

struct FleetFlags {
  std::string broker;  // empty: $PSOS_BROKER, else mqtt://127.0.0.1:1883
  std::string key;     // empty: $PSOS_KEY, else the user's admin.key
  double timeout_s = 10;
  bool v311 = false;
  std::string cafile, cert, tls_key;
  bool insecure = false;
  bool debug = false;

  // `signs`: the command sends requests, so --key means something to it.
  void add_to(CLI::App& app, bool signs = true);
};

// The key that signs requests: --key, else $PSOS_KEY, else the user's admin.key. Throws
// FleetFailure (usage) when there is none or it cannot be used.
control::PrivateKey load_key(const FleetFlags& flags);

// A failure that ends a fleet command: its exit status and a one-line message.
struct FleetFailure : std::runtime_error {
  FleetFailure(int s, const std::string& message) : std::runtime_error(message), status(s) {}
  int status;
};

// One run of a fleet command: the key, one connection, and the requests made over it.
class Fleet {
 public:
  // `command` names it in messages ("call" -> "psos call: ..."). `signs`: it sends requests,
  // so it needs the key (commands that only read what nodes publish do not).
  Fleet(std::string command, const FleetFlags& flags, bool signs = true);
  ~Fleet();
  Fleet(const Fleet&) = delete;
  Fleet& operator=(const Fleet&) = delete;

  // Loads the key, connects, runs `body` and disconnects. Returns body's status, or a failure's
  // (FleetFailure, reported as "psos COMMAND: message" on stderr).
  int run(const std::function<boost::asio::awaitable<int>(Fleet&)>& body);

  // NODE or SYSTEM/NODE; a bare NODE is looked up in the retained $state topics.
  boost::asio::awaitable<control::NodeAddress> resolve(std::string_view text);
  // Sends one request; its reply, or nullopt when none came within the timeout.
  boost::asio::awaitable<std::optional<control::Reply>> ask(const control::NodeAddress& node,
                                                            std::string verb, nlohmann::json args);
  // The same, with an error reply or no answer thrown as a FleetFailure (exit 1 or 3).
  boost::asio::awaitable<nlohmann::json> request(const control::NodeAddress& node, std::string verb,
                                                 nlohmann::json args);
  // Completes on SIGINT or SIGTERM: how following commands (logs -f, nodes -w) end.
  boost::asio::awaitable<void> until_interrupted();

  // The one-line messages for an error reply (exit 1) and for no answer (exit 3).
  static std::string error_message(const control::NodeAddress& node, const control::Reply& reply);
  std::string no_answer_message(const control::NodeAddress& node) const;

  control::Caller& caller();
  std::chrono::milliseconds timeout() const;
  const std::string& command() const noexcept { return command_; }
  boost::asio::any_io_executor executor();

 private:
  struct State;
  std::string command_;
  const FleetFlags& flags_;
  bool signs_;
  std::unique_ptr<State> state_;
};

// A fleet command's help footer: `description`, what NODE, --key and the exit statuses mean,
// then "Examples:" and `examples`.
std::string fleet_footer(std::string_view description, std::string_view examples);

// Prints "psos COMMAND: message" on stderr; returns `status`.
int report(std::string_view command, int status, std::string_view message);

// A command's JSON result on stdout: indented in a terminal, on one line in a pipe (one value a
// line, as jq and scripts read them). Strings that are not valid UTF-8 are printed with U+FFFD.
void print_json(const nlohmann::json& value);
std::string compact_json(const nlohmann::json& value);

// `text` as JSON when it parses as JSON, else as a JSON string: what VALUE means in
// `psos conf NODE set SERVICE.PARAM VALUE`.
nlohmann::json json_or_string(std::string_view text);
// ARGS_JSON: a JSON object; throws FleetFailure (usage) naming `what` otherwise.
nlohmann::json parse_args_object(std::string_view text, std::string_view what);

// Rows as a table: columns separated by two spaces, each as wide as its widest cell (counted in
// UTF-8 characters), the last one not padded. The first row is the header.
std::string format_table(const std::vector<std::vector<std::string>>& rows);

// Epoch milliseconds as local time "2026-01-01 12:00:00.123".
std::string format_time(std::int64_t epoch_ms);
// A duration as "45s", "3m12s", "2h05m", "3d04h".
std::string format_duration(std::int64_t ms);

}  // namespace psos::cli
