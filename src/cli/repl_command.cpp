// `psos repl NODE`: a Lua console on a node, one eval request per line. In a terminal the line
// is read with libedit (line editing, history kept across sessions); from a pipe, line by line.
// Lines are read on a thread of their own while the connection lives on the event loop.
// libedit is loaded here, when a repl starts, not linked: every other command, `psos run` on a
// small board above all, would map it and the three libraries it needs (libtinfo, libbsd,
// libmd) for nothing, about 0.4 MB of resident memory per process.
#include <dlfcn.h>
#include <editline/readline.h>  // the functions' types only: they are found with dlsym
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <thread>

#include "control/keys.hpp"
#include "fleet.hpp"
#include "fleet_commands.hpp"

namespace psos::cli {

namespace asio = boost::asio;
using nlohmann::json;

namespace {

constexpr const char* kFooter = R"(
An interactive Lua console on NODE: each line is sent as one `psos eval`
(the node's Lua sandbox with its API: publish, call, services, info), and the
value it returns is printed as JSON, or its error; the console goes on either
way. A line "=EXPR" is "return EXPR". Ctrl-D ends it.

In a terminal lines can be edited, and earlier ones recalled (the history is
kept in the psos configuration directory, beside admin.key: repl_history).
When standard input is not a terminal, every line of it is evaluated in turn,
with no prompt; the exit status is then 0 when every line succeeded, else that
of the first failure.)";

// The history file: beside the user's key (~/.config/psos/repl_history).
std::optional<std::string> history_path() {
  try {
    return (control::default_key_dir() / "repl_history").string();
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// The next line of standard input; nullopt at the end.
std::optional<std::string> read_piped_line() {
  std::string line;
  if (!std::getline(std::cin, line)) return std::nullopt;
  return line;
}

// libedit's line editing and history, loaded at run time. Without libedit (the Debian package
// libedit2) lines are read as from a pipe, after a prompt, and the history is not kept.
class LineEditor {
 public:
  LineEditor() {
    library_ = ::dlopen("libedit.so.2", RTLD_NOW | RTLD_LOCAL);
    if (library_ == nullptr) return;
    readline_ = find<decltype(&::readline)>("readline");
    add_history_ = find<decltype(&::add_history)>("add_history");
    read_history_ = find<decltype(&::read_history)>("read_history");
    write_history_ = find<decltype(&::write_history)>("write_history");
    if (!readline_ || !add_history_ || !read_history_ || !write_history_) readline_ = nullptr;
  }
  ~LineEditor() {
    if (library_ != nullptr) ::dlclose(library_);
  }
  LineEditor(const LineEditor&) = delete;
  LineEditor& operator=(const LineEditor&) = delete;

  // Why lines cannot be edited; empty when they can.
  std::string missing() const {
    if (readline_ != nullptr) return {};
    const char* why = ::dlerror();
    return std::string("line editing is off: libedit.so.2 ") +
           (library_ == nullptr ? "is not installed (Debian package libedit2)"
                                : "lacks readline's functions") +
           (why != nullptr ? std::string(" (") + why + ")" : std::string());
  }
  void read_history(const std::string& path) const {
    if (read_history_) read_history_(path.c_str());
  }
  void write_history(const std::string& path) const {
    if (write_history_) write_history_(path.c_str());
  }

  // The next line typed at the terminal, edited; nullopt at the end.
  std::optional<std::string> read_line(const std::string& prompt) const {
    if (readline_ == nullptr) {
      std::fputs(prompt.c_str(), stderr);
      return read_piped_line();
    }
    char* raw = readline_(prompt.c_str());
    if (raw == nullptr) return std::nullopt;
    std::string line(raw);
    std::free(raw);
    if (line.find_first_not_of(" \t") != std::string::npos) add_history_(line.c_str());
    return line;
  }

 private:
  template <typename Function>
  Function find(const char* name) {
    return reinterpret_cast<Function>(::dlsym(library_, name));
  }

  void* library_ = nullptr;
  decltype(&::readline) readline_ = nullptr;
  decltype(&::add_history) add_history_ = nullptr;
  decltype(&::read_history) read_history_ = nullptr;
  decltype(&::write_history) write_history_ = nullptr;
};

}  // namespace

FleetCommand repl_command(CLI::App& parent) {
  struct Args {
    FleetFlags flags;
    std::string node;
  };
  auto a = std::make_shared<Args>();
  CLI::App* app = parent.add_subcommand("repl", "An interactive Lua console on a node");
  app->footer(fleet_footer(kFooter, R"(
  psos repl gw
  echo 'return info().node' | psos repl greenhouse/gw)"));
  a->flags.add_to(*app);
  app->add_option("NODE", a->node, "NODE or SYSTEM/NODE")->required();
  return {app, [a] {
            return Fleet("repl", a->flags).run([a](Fleet& fleet) -> asio::awaitable<int> {
              const control::NodeAddress node = co_await fleet.resolve(a->node);
              const bool terminal = ::isatty(STDIN_FILENO) != 0;
              const std::optional<LineEditor> editor =
                  terminal ? std::optional<LineEditor>(std::in_place) : std::nullopt;
              const std::optional<std::string> history = terminal ? history_path() : std::nullopt;
              if (history) editor->read_history(*history);
              if (terminal) {
                std::fprintf(stderr,
                             "Lua on %s: a line is one eval; =EXPR prints EXPR; Ctrl-D "
                             "ends.\n",
                             node.to_string().c_str());
                if (const std::string why = editor->missing(); !why.empty())
                  std::fprintf(stderr, "psos repl: %s\n", why.c_str());
              }

              asio::steady_timer done(fleet.executor(), asio::steady_timer::time_point::max());
              int status = kExitOk;
              // Reads and evaluates lines until the end of the input; every request runs on the
              // loop, and the reader waits for its answer before it reads on.
              std::thread reader([&] {
                const std::string prompt = node.to_string() + "> ";
                while (std::optional<std::string> line =
                           terminal ? editor->read_line(prompt) : read_piped_line()) {
                  std::string code = *line;
                  if (code.find_first_not_of(" \t\r") == std::string::npos) continue;
                  if (code.starts_with("=")) code = "return " + code.substr(1);
                  json args = {{"code", code}};
                  std::optional<control::Reply> reply =
                      asio::co_spawn(fleet.executor(), fleet.ask(node, "eval", std::move(args)),
                                     asio::use_future)
                          .get();
                  int failed = kExitOk;
                  if (!reply) {
                    failed = report("repl", kExitNoAnswer, fleet.no_answer_message(node));
                  } else if (!reply->ok) {
                    failed = kExitNodeError;
                    std::fprintf(stderr, "%s: %s\n", reply->error_code.c_str(),
                                 reply->error_message.c_str());
                  } else {
                    print_json(reply->result);
                  }
                  if (status == kExitOk) status = failed;
                }
                asio::post(fleet.executor(), [&done] { done.cancel(); });
              });
              co_await done.async_wait(asio::as_tuple(asio::use_awaitable));
              reader.join();
              if (history) editor->write_history(*history);
              if (terminal) std::fputc('\n', stderr);
              co_return terminal ? kExitOk : status;
            });
          }};
}

}  // namespace psos::cli
