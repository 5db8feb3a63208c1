// The fleet commands' shared flags, connection, requests and output (see fleet.hpp).
#include "fleet.hpp"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>

#include "client_flags.hpp"
#include "control/keys.hpp"
#include "mqtt/topic.hpp"

namespace psos::cli {

namespace asio = boost::asio;
using nlohmann::json;

void FleetFlags::add_to(CLI::App& app, bool signs) {
  app.add_option("--broker", broker,
                 "Broker URL: mqtt://, mqtts://, ws:// or wss://[user[:password]@]host[:port]"
                 "[/path] (default: $PSOS_BROKER, else mqtt://127.0.0.1:1883)")
      ->option_text("URL");
  if (signs)
    app.add_option("--key", key,
                   "The private key that signs requests (default: $PSOS_KEY, else the user's "
                   "admin.key)")
        ->option_text("FILE");
  app.add_option("--timeout", timeout_s,
                 "Seconds to wait for the broker and for an answer "
                 "(default 10)")
      ->option_text("SECONDS")
      ->check(CLI::PositiveNumber);
  app.add_flag("--v311", v311,
               "Speak MQTT 3.1.1 (replies come to the request's \"reply\" topic; chosen by "
               "itself when the broker refuses MQTT 5)");
  app.add_option("--cafile", cafile, "PEM file of CAs to trust (turns on TLS: mqtts://)")
      ->option_text("FILE");
  app.add_option("--cert", cert, "PEM client certificate (turns on TLS)")->option_text("FILE");
  app.add_option("--tls-key", tls_key, "PEM private key of --cert")->option_text("FILE");
  app.add_flag("--insecure", insecure,
               "Do not verify the broker's certificate or host name (tests only)");
  app.add_flag("-d,--debug", debug, "Print the connection's debug messages on stderr");
}

std::string fleet_footer(std::string_view description, std::string_view examples) {
  return std::string(description) + R"(

NODE is a node's name, or SYSTEM/NODE when several systems share the broker
(a name alone is looked up in the nodes' retained psos/+/NODE/$state). The
request is signed with --key FILE (default $PSOS_KEY, else the user's
admin.key, which psos keygen and psos run create); a node executes only
requests signed by a key it trusts. It is sent over MQTT 5 with a Response
Topic, or over 3.1.1 with a "reply" field (--v311, or a broker that refuses
MQTT 5). Results are printed as JSON: indented in a terminal, one line in a
pipe.

Exit status: 0 done; 1 the node answered with an error (its code and message
on stderr: refused, failed, invalid); 2 usage (also: no key, an ambiguous
NODE); 3 no answer (broker unreachable, NODE unknown, offline or too slow
for --timeout).

Examples:)" +
         std::string(examples);
}

int report(std::string_view command, int status, std::string_view message) {
  std::fprintf(stderr, "psos %.*s: %.*s\n", static_cast<int>(command.size()), command.data(),
               static_cast<int>(message.size()), message.data());
  return status;
}

std::string compact_json(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

void print_json(const json& value) {
  const std::string text = ::isatty(STDOUT_FILENO)
                               ? value.dump(2, ' ', false, json::error_handler_t::replace)
                               : compact_json(value);
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

json json_or_string(std::string_view text) {
  json value = json::parse(text, nullptr, false);
  return value.is_discarded() ? json(std::string(text)) : value;
}

json parse_args_object(std::string_view text, std::string_view what) {
  json value = json::parse(text, nullptr, false);
  if (value.is_discarded())
    throw FleetFailure(kExitUsage, std::string(what) + " is not JSON: " + std::string(text));
  if (!value.is_object())
    throw FleetFailure(kExitUsage, std::string(what) + " must be a JSON object, like " +
                                       "{\"limit\": 10}, not " + std::string(text));
  return value;
}

namespace {

std::size_t display_width(const std::string& text) {
  std::size_t n = 0;
  for (const unsigned char c : text)
    if ((c & 0xC0) != 0x80) ++n;
  return n;
}

}  // namespace

std::string format_table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> widths;
  for (const auto& row : rows)
    for (std::size_t i = 0; i < row.size(); ++i) {
      if (widths.size() <= i) widths.push_back(0);
      widths[i] = std::max(widths[i], display_width(row[i]));
    }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (std::size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line.append(widths[i] - display_width(row[i]) + 2, ' ');
    }
    out += line + "\n";
  }
  return out;
}

std::string format_time(std::int64_t epoch_ms) {
  const std::time_t seconds = static_cast<std::time_t>(epoch_ms / 1000);
  std::tm local{};
  ::localtime_r(&seconds, &local);
  char text[40];
  const std::size_t n = std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S", &local);
  char millis[8];
  std::snprintf(millis, sizeof millis, ".%03d", static_cast<int>(epoch_ms % 1000));
  return std::string(text, n) + millis;
}

std::string format_duration(std::int64_t ms) {
  const std::int64_t s = std::max<std::int64_t>(ms, 0) / 1000;
  char text[32];
  if (s < 60) {
    std::snprintf(text, sizeof text, "%llds", static_cast<long long>(s));
  } else if (s < 3600) {
    std::snprintf(text, sizeof text, "%lldm%02llds", static_cast<long long>(s / 60),
                  static_cast<long long>(s % 60));
  } else if (s < 86400) {
    std::snprintf(text, sizeof text, "%lldh%02lldm", static_cast<long long>(s / 3600),
                  static_cast<long long>(s % 3600 / 60));
  } else {
    std::snprintf(text, sizeof text, "%lldd%02lldh", static_cast<long long>(s / 86400),
                  static_cast<long long>(s % 86400 / 3600));
  }
  return text;
}

// ---- Fleet ----

struct Fleet::State {
  asio::io_context io;
  std::unique_ptr<control::Caller> caller;
};

Fleet::Fleet(std::string command, const FleetFlags& flags, bool signs)
    : command_(std::move(command)),
      flags_(flags),
      signs_(signs),
      state_(std::make_unique<State>()) {}

Fleet::~Fleet() = default;

control::PrivateKey load_key(const FleetFlags& flags) {
  std::filesystem::path path = flags.key;
  bool chosen = !path.empty();
  if (!chosen) {
    const char* env = std::getenv("PSOS_KEY");
    if (env != nullptr && *env != '\0') {
      path = env;
      chosen = true;
    } else {
      path = control::private_key_path(control::default_key_dir());
    }
  }
  std::error_code error;
  if (!chosen && !std::filesystem::exists(path, error))
    throw FleetFailure(kExitUsage,
                       "no key to sign requests with: " + path.string() +
                           " does not exist (psos keygen makes it; --key FILE names another)");
  try {
    return control::PrivateKey::load(path);
  } catch (const std::exception& e) {
    throw FleetFailure(kExitUsage, std::string("cannot use the key: ") + e.what());
  }
}

namespace {

client::ClientOptions client_options(const FleetFlags& flags) {
  ClientFlags connection;
  connection.broker = flags.broker;
  connection.cafile = flags.cafile;
  connection.cert = flags.cert;
  connection.key = flags.tls_key;
  connection.insecure = flags.insecure;
  connection.version = flags.v311 ? "311" : "5";
  client::ClientOptions options;
  if (std::string error = connection.make_options(options); !error.empty())
    throw FleetFailure(kExitUsage,
                       error == "--key needs --cert" ? "--tls-key needs --cert" : error);
  options.connect_timeout =
      std::chrono::milliseconds(static_cast<std::int64_t>(flags.timeout_s * 1000));
  return options;
}

}  // namespace

int Fleet::run(const std::function<asio::awaitable<int>(Fleet&)>& body) {
  setup_client_logging(flags_.debug);
  try {
    client::ClientOptions options = client_options(flags_);
    std::optional<control::PrivateKey> key;
    if (signs_) key = load_key(flags_);
    state_->caller = std::make_unique<control::Caller>(state_->io.get_executor(),
                                                       std::move(options), std::move(key));
  } catch (const FleetFailure& f) {
    return report(command_, f.status, f.what());
  }
  int status = kExitOk;
  auto main = [&]() -> asio::awaitable<int> {
    if (std::string why = co_await caller().connect(); !why.empty())
      throw FleetFailure(kExitNoAnswer, why);
    std::exception_ptr failure;
    int result = kExitOk;
    try {
      result = co_await body(*this);
    } catch (...) {
      failure = std::current_exception();
    }
    co_await caller().stop();
    if (failure) std::rethrow_exception(failure);
    co_return result;
  };
  asio::co_spawn(state_->io, main(), [&](std::exception_ptr e, int result) {
    status = result;
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const FleetFailure& f) {
      status = report(command_, f.status, f.what());
    } catch (const std::exception& x) {
      status = report(command_, kExitNodeError, x.what());
    }
  });
  state_->io.run();
  return status;
}

asio::awaitable<control::NodeAddress> Fleet::resolve(std::string_view text) {
  control::NodeAddress address;
  try {
    address = control::parse_node_address(text);
  } catch (const std::invalid_argument& e) {
    throw FleetFailure(kExitUsage, e.what());
  }
  if (!address.system.empty()) co_return address;
  const std::vector<std::string> systems = co_await caller().systems_of(address.node, timeout());
  if (systems.empty())
    throw FleetFailure(kExitNoAnswer, "no node " + address.node +
                                          " on the broker (no retained psos/+/" + address.node +
                                          "/$state; psos nodes lists the nodes the broker knows)");
  if (systems.size() > 1) {
    std::string names;
    for (const std::string& s : systems)
      names += (names.empty() ? "" : ", ") + s + "/" + address.node;
    throw FleetFailure(kExitUsage, "several systems have a node " + address.node + " (" + names +
                                       "): name one as SYSTEM/" + address.node);
  }
  address.system = systems.front();
  co_return address;
}

asio::awaitable<std::optional<control::Reply>> Fleet::ask(const control::NodeAddress& node,
                                                          std::string verb, json args) {
  co_return co_await caller().request(node, std::move(verb), std::move(args), timeout());
}

asio::awaitable<json> Fleet::request(const control::NodeAddress& node, std::string verb,
                                     json args) {
  std::optional<control::Reply> reply = co_await ask(node, std::move(verb), std::move(args));
  if (!reply) throw FleetFailure(kExitNoAnswer, no_answer_message(node));
  if (!reply->ok) throw FleetFailure(kExitNodeError, error_message(node, *reply));
  co_return std::move(reply->result);
}

std::string Fleet::error_message(const control::NodeAddress& node, const control::Reply& reply) {
  return node.to_string() + " answered " + reply.error_code + ": " + reply.error_message;
}

std::string Fleet::no_answer_message(const control::NodeAddress& node) const {
  char seconds[32];
  std::snprintf(seconds, sizeof seconds, "%g", flags_.timeout_s);
  return "no answer from " + node.to_string() + " within " + seconds +
         " s (is it running? psos nodes lists the nodes the broker knows)";
}

asio::awaitable<void> Fleet::until_interrupted() {
  asio::signal_set signals(state_->io, SIGINT, SIGTERM);
  co_await signals.async_wait(asio::as_tuple(asio::use_awaitable));
}

control::Caller& Fleet::caller() {
  return *state_->caller;
}

std::chrono::milliseconds Fleet::timeout() const {
  return std::chrono::milliseconds(static_cast<std::int64_t>(flags_.timeout_s * 1000));
}

asio::any_io_executor Fleet::executor() {
  return state_->io.get_executor();
}

}  // namespace psos::cli
