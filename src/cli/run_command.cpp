// `psos run`: checks the definition like `psos check`, expands the chosen node, starts it and
// stops it cleanly on SIGINT/SIGTERM.
#include "run_command.hpp"

#include <openssl/evp.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <cstdio>

#include "definition_input.hpp"
#include "modules/module.hpp"
#include "runtime/node.hpp"
#include "system/definition.hpp"

namespace psos::cli {
namespace {

constexpr const char* kFooter = R"(
Runs the services of one node of the system FILE defines (default psos.json).
A file with one node needs no --node. A node that names neither an uplink nor
listeners gets the embedded default broker, a listener on mqtt://127.0.0.1:1883,
so that other nodes and `psos sub` on this machine can join.

The node publishes psos/<system>/<node>/$state (retained: init, ready, stopped,
and lost as its uplink's will) and $info (retained JSON: version, platform,
services with status and restarts, definition hash).

Services of module exec run commands on this machine: the node refuses to start
them unless it is run with --allow-exec (a definition cannot allow them itself).

Ctrl-C (SIGINT) or SIGTERM stops the services in reverse start order.

Examples:
  psos run examples/hello.json
  psos run greenhouse.json --node e01 --uplink mqtt://127.0.0.1:1883
  psos sub -t 'psos/#' -v          (in another terminal: watch the node))";

std::string sha256_hex(const std::string& text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(text.data(), text.size(), digest, &length, EVP_sha256(), nullptr);
  std::string hex;
  static constexpr char kDigits[] = "0123456789abcdef";
  for (unsigned i = 0; i < length; ++i) {
    hex += kDigits[digest[i] >> 4];
    hex += kDigits[digest[i] & 15];
  }
  return hex;
}

}  // namespace

RunCommand::RunCommand(CLI::App& parent)
    : app_(parent.add_subcommand("run", "Run one node of a system definition")) {
  app_->footer(kFooter);
  app_->add_option("FILE", file_, "The definition (JSON); default psos.json");
  app_->add_option("--node", node_, "The node to run (may be left out when the file has one)")
      ->option_text("NAME");
  app_->add_option("--uplink", uplink_, "Join this broker instead of the node's uplink")
      ->option_text("URL");
  app_->add_option("--listen", listen_, "Listen here instead of the node's listeners (repeat)")
      ->option_text("URL");
  app_->add_option("--data", data_, "Keep router state and services' files in DIR")
      ->option_text("DIR");
  app_->add_option("--secrets", secrets_, "The secrets file (a JSON object of names to strings)")
      ->option_text("FILE");
  app_->add_flag("--allow-exec", allow_exec_,
                 "Allow exec services (they run commands on this machine; off by default)");
  app_->add_option("--log-level", log_level_, "trace, debug, info, warn or error")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));
}

bool RunCommand::selected() const {
  return app_->parsed();
}

int RunCommand::run() const {
  spdlog::set_level(spdlog::level::from_str(log_level_));
  std::string error;
  const std::optional<std::string> text = read_text_file(file_, error);
  if (!text) {
    std::fprintf(stderr, "psos run: cannot read %s: %s\n", file_.c_str(), error.c_str());
    return 2;
  }
  system::Diagnostics errors;
  std::optional<system::NodeDefinition> node;
  try {
    const system::Secrets secrets = load_secrets(file_, secrets_, errors);
    if (const auto definition = system::parse_definition(*text, file_, errors)) {
      std::string name = node_;
      if (name.empty() && definition->nodes().size() == 1) name = definition->nodes().front();
      if (name.empty()) {
        std::string names;
        for (const auto& n : definition->nodes())
          names += (names.empty() ? "" : ", ") + n;
        std::fprintf(stderr, "psos run: %s defines %zu nodes (%s): choose one with --node NAME\n",
                     file_.c_str(), definition->nodes().size(), names.c_str());
        return 2;
      }
      node = system::expand(*definition, name, secrets, modules::builtin_catalog(), errors);
    }
  } catch (const std::runtime_error& e) {
    std::fprintf(stderr, "psos run: %s\n", e.what());
    return 2;
  }
  system::sort_and_deduplicate(errors);
  for (const system::Diagnostic& d : errors)
    std::fprintf(stderr, "%s\n", system::to_string(d).c_str());
  if (!errors.empty() || !node) {
    std::fprintf(stderr, "psos run: %s has problems; nothing started\n", file_.c_str());
    return 1;
  }

  boost::asio::io_context io;
  runtime::NodeOptions options;
  options.definition = std::move(*node);
  options.listen = listen_;
  if (!uplink_.empty()) options.uplink_url = uplink_;
  options.data_dir = data_;
  options.allow_exec = allow_exec_;
  options.definition_hash = sha256_hex(*text);
  runtime::Node running(io.get_executor(), std::move(options));
  if (const std::string failure = running.start(); !failure.empty()) {
    std::fprintf(stderr, "psos run: %s\n", failure.c_str());
    return 1;
  }
  std::fputs(running.summary().c_str(), stdout);
  std::fputs("Ctrl-C stops the node.\n", stdout);
  std::fflush(stdout);

  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int signal) {
    if (ec) return;
    spdlog::info("{}: stopping", signal == SIGINT ? "SIGINT" : "SIGTERM");
    boost::asio::co_spawn(
        io,
        [&]() -> boost::asio::awaitable<void> {
          co_await running.stop();
          io.stop();
        },
        boost::asio::detached);
  });
  io.run();
  return 0;
}

}  // namespace psos::cli
