// `psos run`: checks the definition like `psos check`, expands the chosen node, starts it and
// stops it cleanly on SIGINT/SIGTERM.
#include "run_command.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>

#include "control/agent.hpp"
#include "control/digest.hpp"
#include "control/keys.hpp"
#include "control/local_link.hpp"
#include "control/revisions.hpp"
#include "dashboard/server.hpp"
#include "modules/module.hpp"
#include "runtime/node.hpp"
#include "runtime/process_supervisor.hpp"
#include "runtime/recovery.hpp"
#include "system/definition.hpp"
#include "system/definition_file.hpp"

namespace psos::cli {
namespace {

constexpr const char* kFooter = R"(
Runs the services of one node of the system FILE defines (default psos.json).
A file with one node needs no --node. A node that names neither an uplink nor
listeners gets the embedded default broker, a listener on mqtt://127.0.0.1:1883,
so that other nodes and `psos sub` on this machine can join.

The node publishes psos/<system>/<node>/$state (retained: init, ready, stopped,
and lost as its uplink's will; announced again on every connection of the
uplink) and $info (retained JSON: version, boot count, services with status,
restarts, topics and functions), $metrics every "metrics" interval and its log
on $log. It executes commands on $cmd/<verb> signed by a trusted key: the
definition's "admins", --trust FILE, or, when neither names one, the key of the
user running it (~/.config/psos/admin.key, created if missing). docs/control.md
has the details; psos call, conf, eval, logs and nodes use them.

Services of module exec run commands on this machine: the node refuses to start
them unless it is run with --allow-exec (a definition cannot allow them itself).

A revision deployed by `psos deploy` and committed is kept in the node's data
directory and runs at the next start in preference to FILE, until the node is
started with --from-file (which discards the deployed revisions). The start
summary says which revision runs and where it comes from.

Ctrl-C (SIGINT) or SIGTERM stops the services in reverse start order.

psos run is two processes: a small parent that runs the node as its child and
starts it again when it dies (a signal, an abort, a non-zero exit; 1 s, doubling
to 60 s), and the node. A crash leaves a record in the data directory, published
on $log at the next start and listed by `psos crashes NODE`; a node whose event
loop stalls longer than its "watchdog" setting (default 30s) aborts with a record
naming the service that held it. After 3 crashes within 10 minutes (node key
"safe_mode") the node starts in safe mode: no services, $state safe, until `psos
restart NODE --normal`. Under systemd (Type=notify) the parent sends READY=1 and
WATCHDOG=1: packaging/psos@.service. --no-supervisor runs the node in this one
process (for a debugger), without restarts.

Examples:
  psos run examples/hello.json
  psos run greenhouse.json --node e01 --uplink mqtt://127.0.0.1:1883
  psos sub -t 'psos/#' -v          (in another terminal: watch the node))";

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
  app_->add_option("--trust", trust_,
                   "Execute commands signed by the keys in FILE (lines 'ed25519:... NAME' or a "
                   "JSON object), besides the definition's admins")
      ->option_text("FILE");
  app_->add_flag("--from-file", from_file_,
                 "Run FILE and discard the deployed revisions kept in the data directory");
  app_->add_flag("--allow-exec", allow_exec_,
                 "Allow exec services (they run commands on this machine; off by default)");
  app_->add_flag("--no-supervisor", no_supervisor_,
                 "Run the node in this process: no restarts when it dies (for debuggers)");
  app_->add_option("--log-level", log_level_, "trace, debug, info, warn or error")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));
}

bool RunCommand::selected() const {
  return app_->parsed();
}

namespace {

// The keys whose commands the node executes: the definition's admins and --trust FILE, or, when
// neither names one, the running user's own key (made now if the user has none, so that on one
// machine `psos call` works with no set-up).
std::vector<control::TrustedKey> trusted_keys(const system::NodeDefinition& node,
                                              const std::string& trust_file) {
  std::vector<control::TrustedKey> trusted;
  for (const auto& [name, text] : node.admins)
    trusted.push_back({name, control::PublicKey::parse(text)});
  if (!trust_file.empty())
    for (control::TrustedKey& k : control::load_trust_file(trust_file))
      trusted.push_back(std::move(k));
  if (!trusted.empty()) return trusted;
  const control::UserPublicKey user =
      control::load_or_create_user_public_key(control::default_key_dir());
  if (user.created)
    spdlog::info("created the key pair {} (and .pub) that signs this user's commands",
                 user.path.string());
  trusted.push_back({control::default_key_name(), user.key});
  return trusted;
}

// This process's command line.
std::vector<std::string> own_arguments() {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  std::vector<std::string> args;
  for (std::string arg; std::getline(in, arg, '\0');)
    args.push_back(arg);
  return args;
}

// After a `restart` command has stopped the node cleanly, with no supervisor: the same program
// with the same arguments, in the same process (its parent, a terminal or systemd, sees no exit).
void restart_self() {
  std::vector<std::string> args = own_arguments();
  std::vector<char*> argv;
  for (std::string& arg : args)
    argv.push_back(arg.data());
  argv.push_back(nullptr);
  std::fflush(nullptr);
  ::execv("/proc/self/exe", argv.data());
  std::fprintf(stderr, "psos run: cannot start again: %s\n", std::strerror(errno));
  std::exit(1);
}

std::string node_to_run(const system::Definition& definition, const std::string& chosen,
                        const std::string& file) {
  if (!chosen.empty() || definition.nodes().size() != 1) {
    if (chosen.empty()) {
      std::string names;
      for (const auto& n : definition.nodes())
        names += (names.empty() ? "" : ", ") + n;
      throw std::invalid_argument(file + " defines " + std::to_string(definition.nodes().size()) +
                                  " nodes (" + names + "): choose one with --node NAME");
    }
    return chosen;
  }
  return definition.nodes().front();
}

// The node setting "dashboard": `psos dashboard` served from this node. Its Caller is an
// in-process session on the node's router, so its subscriptions and signed requests go over the
// node's one connection (mirrored upstream by the uplink like a service's). It signs with the
// setting's key, else the user's own; its deploy view lists the definitions in the directory of
// the command-line file. A dashboard that cannot start is logged; the node runs
// without it.
struct NodeDashboard {
  std::unique_ptr<control::Caller> caller;
  std::unique_ptr<dashboard::Server> server;
};

std::unique_ptr<NodeDashboard> start_dashboard(boost::asio::io_context& io, runtime::Node& node,
                                               const std::string& definition_file) {
  const std::optional<system::DashboardSetting>& setting = node.definition().dashboard;
  if (!setting) return nullptr;
  auto d = std::make_unique<NodeDashboard>();
  try {
    control::PrivateKey key = setting->key.empty()
                                  ? control::load_or_create_user_key(control::default_key_dir()).key
                                  : control::PrivateKey::load(setting->key);
    d->caller = std::make_unique<control::Caller>(
        io.get_executor(),
        std::make_unique<control::LocalLink>(node.router(), io.get_executor(),
                                             "psos:" + node.definition().name + ":dashboard"),
        std::move(key));
    dashboard::ServerOptions options;
    options.listen = setting->listen;
    options.passwd = setting->passwd;
    options.https_cert = setting->https_cert;
    options.https_key = setting->https_key;
    // The deploy view offers the definitions beside the one the node was started with.
    const std::filesystem::path directory = std::filesystem::path(definition_file).parent_path();
    options.definitions = directory.empty() ? "." : directory.string();
    d->server = std::make_unique<dashboard::Server>(io.get_executor(), *d->caller, options);
  } catch (const std::exception& e) {
    spdlog::error("dashboard {}: {}; the node runs without it", setting->listen, e.what());
    return nullptr;
  }
  boost::asio::co_spawn(
      io,
      [d = d.get(), listen = setting->listen]() -> boost::asio::awaitable<void> {
        std::string why = co_await d->caller->connect();
        if (why.empty()) why = co_await d->server->start();
        if (!why.empty())
          spdlog::error("dashboard {}: {}; the node runs without it", listen, why);
        else
          spdlog::info("dashboard serving {} over this node's connection", d->server->url());
      },
      boost::asio::detached);
  return d;
}

}  // namespace

int RunCommand::run() const {
  runtime::SupervisorLink link = runtime::SupervisorLink::from_environment();
  if (!link.supervised() && !no_supervisor_) return runtime::run_supervised(own_arguments());
  spdlog::set_level(spdlog::level::from_str(log_level_));
  system::Diagnostics errors;
  std::optional<system::NodeDefinition> node;
  std::shared_ptr<const system::Definition> definition;
  system::Secrets secrets;
  system::ServiceOverrides overrides;
  std::filesystem::path state_dir;
  std::string text;
  // The file the node runs: the committed deployed revision, else the command-line file.
  std::string run_file = file_;
  std::uint64_t revision = 0;
  // Reads `file` and expands the node; false (with `errors`) when it has problems.
  const auto load = [&](const std::string& file, const std::string& name_given) {
    text = system::read_text_file(file);  // UnreadableFile: "cannot read FILE: reason"
    node.reset();
    auto parsed = system::parse_definition(text, file, errors);
    if (!parsed) return false;
    definition = std::make_shared<const system::Definition>(std::move(*parsed));
    const std::string name = node_to_run(*definition, name_given, file);
    state_dir = data_.empty() ? std::filesystem::path(".psos") / definition->system() / name
                              : std::filesystem::path(data_);
    overrides = control::load_overrides(state_dir);
    if (!overrides.empty()) {
      system::Diagnostics with_overrides;
      node = system::expand(*definition, name, secrets, modules::builtin_catalog(), with_overrides,
                            &overrides);
      if (!node && !with_overrides.empty()) {
        // The definition changed under them: the node runs the definition as written.
        for (const system::Diagnostic& d : with_overrides)
          spdlog::warn("conf override not applied: {}", system::to_string(d));
        spdlog::warn("ignoring the overrides in {}: they do not fit the definition any more",
                     control::overrides_path(state_dir).string());
        overrides.clear();
      }
    }
    if (!node)
      node = system::expand(*definition, name, secrets, modules::builtin_catalog(), errors);
    return node.has_value() && errors.empty();
  };
  try {
    secrets = system::load_secrets(file_, secrets_, errors);
    if (load(file_, node_)) {
      const control::RevisionStore store(state_dir);
      if (from_file_) {
        store.discard();
      } else if (const std::uint64_t committed = store.load().committed; committed > 0) {
        if (const auto deployed = store.definition(committed)) {
          const std::string name = node->name;
          system::Diagnostics command_line_errors = std::move(errors);
          errors.clear();
          if (load(deployed->string(), name)) {
            run_file = deployed->string();
            revision = committed;
          } else {
            for (const system::Diagnostic& d : errors)
              spdlog::warn("deployed revision {}: {}", committed, system::to_string(d));
            spdlog::warn("deployed revision {} cannot run: running {}", committed, file_);
            errors = std::move(command_line_errors);
            load(file_, node_);
          }
        } else {
          spdlog::warn("committed revision {} is missing from {}: running {}", committed,
                       store.directory(committed).string(), file_);
        }
      }
    }
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "psos run: %s\n", e.what());
    return 2;
  } catch (const std::runtime_error& e) {
    std::fprintf(stderr, "psos run: %s\n", e.what());
    return 2;
  }
  system::sort_and_deduplicate(errors);
  for (const system::Diagnostic& d : errors)
    std::fprintf(stderr, "%s\n", system::to_string(d).c_str());
  if (!errors.empty() || !node) {
    std::fprintf(stderr, "psos run: %s has problems; nothing started\n", run_file.c_str());
    return 1;
  }
  std::vector<control::TrustedKey> trusted;
  try {
    trusted = trusted_keys(*node, trust_);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "psos run: %s\n", e.what());
    return 2;
  }

  boost::asio::io_context io;
  runtime::NodeRecovery recovery(state_dir, *node, link.previous_exit());
  if (!recovery.safe_mode_reason().empty()) {
    spdlog::error("safe mode: {}", recovery.safe_mode_reason());
    node->services.clear();
  }
  // Crash records name the revision that runs (0: the definition file on the command line).
  recovery.set_revision(revision);
  runtime::NodeOptions options;
  const std::string prefix = "psos/" + node->system + "/" + node->name + "/";
  options.definition = std::move(*node);
  options.listen = listen_;
  if (!uplink_.empty()) options.uplink_url = uplink_;
  options.data_dir = data_;
  options.allow_exec = allow_exec_;
  options.will_topic = prefix + "$state";
  options.will_payload = "lost";
  runtime::Node running(io.get_executor(), std::move(options));

  bool restart = false;
  bool stopping = false;
  std::function<void()> stop;
  control::AgentOptions agent_options;
  agent_options.definition = definition;
  agent_options.secrets = secrets;
  agent_options.definition_hash = control::sha256_hex(text);
  agent_options.definition_text = text;
  agent_options.revision = revision;
  agent_options.definition_file = run_file;
  agent_options.command_line_file = file_;
  agent_options.trusted = std::move(trusted);
  agent_options.overrides = std::move(overrides);
  agent_options.safe_mode_reason = recovery.safe_mode_reason();
  if (recovery.last_crash())
    agent_options.last_crash = runtime::summary_json(*recovery.last_crash());
  agent_options.left_safe_mode = [&link] { link.send("ready"); };
  agent_options.restart_node = [&] {
    spdlog::info("restart requested: stopping, then starting again");
    restart = true;
    stop();
  };
  control::Agent* deployed_agent = nullptr;
  // A committed deploy (or rollback) leaves safe mode, and crash records name its revision.
  agent_options.on_deployed = [&recovery, &deployed_agent](std::uint64_t committed) {
    recovery.set_revision(committed);
    if (deployed_agent) deployed_agent->leave_safe_mode();
  };
  control::Agent agent(running, std::move(agent_options));
  deployed_agent = &agent;
  std::unique_ptr<NodeDashboard> node_dashboard;
  stop = [&] {
    if (stopping) return;
    stopping = true;
    boost::asio::co_spawn(
        io,
        [&]() -> boost::asio::awaitable<void> {
          if (node_dashboard) {
            node_dashboard->server->stop();
            co_await node_dashboard->caller->stop();
          }
          co_await agent.stop();
          io.stop();
        },
        boost::asio::detached);
  };
  if (const std::string failure = running.start(); !failure.empty()) {
    std::fprintf(stderr, "psos run: %s\n", failure.c_str());
    recovery.stopped_cleanly();
    return 1;
  }
  agent.start();
  node_dashboard = start_dashboard(io, running, file_);
  link.send("started");
  recovery.start(
      io.get_executor(), agent.boot(), [&link] { link.alive(); }, [&link] { link.send("good"); },
      link.alive_interval());
  if (const auto& crash = recovery.previous_crash()) {
    std::string trace;
    for (const std::string& frame : crash->trace)
      trace += "\n  " + frame;
    spdlog::error("the previous run crashed: {}; `psos crashes {}` shows its record{}",
                  runtime::describe(*crash), running.definition().name,
                  trace.empty() ? "" : "; stack trace:" + trace);
  }
  // After the agent's own: $state is ready (or safe) before the parent tells systemd.
  boost::asio::post(io, [&link, &recovery] {
    link.send(recovery.safe_mode_reason().empty() ? "ready"
                                                  : "safe " + recovery.safe_mode_reason());
  });
  std::fputs(running.summary().c_str(), stdout);
  std::fputs(agent.summary().c_str(), stdout);
  if (revision > 0)
    std::printf("  revision   %llu, deployed (%s; --from-file runs %s)\n",
                static_cast<unsigned long long>(revision), run_file.c_str(), file_.c_str());
  else
    std::printf("  revision   0, the command-line file %s\n", file_.c_str());
  std::fputs("Ctrl-C stops the node.\n", stdout);
  std::fflush(stdout);

  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int signal) {
    if (ec) return;
    spdlog::info("{}: stopping", signal == SIGINT ? "SIGINT" : "SIGTERM");
    stop();
  });
  io.run();
  recovery.stopped_cleanly();
  if (restart) {
    if (!link.supervised()) restart_self();
    link.send("restart");
  }
  return 0;
}

}  // namespace psos::cli
