// The fleet commands that are one request and its reply: psos call, cmd, eval and restart.
#include <CLI/CLI.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <iostream>
#include <iterator>

#include "fleet.hpp"
#include "fleet_commands.hpp"

namespace psos::cli {

namespace asio = boost::asio;
using nlohmann::json;

FleetCommand call_command(CLI::App& parent) {
  struct Args {
    FleetFlags flags;
    std::string node, service, function, args = "{}";
  };
  auto a = std::make_shared<Args>();
  CLI::App* app = parent.add_subcommand("call", "Call a function of a service on a node");
  app->footer(fleet_footer(R"(
Calls FUNCTION of the service SERVICE on NODE with the arguments ARGS_JSON (a
JSON object; default {}) and prints the result as JSON. `psos cmd NODE help`
lists a node's services with their functions and arguments; `psos modules
NAME` the functions of a module.)",
                           R"(
  psos call gw archive stats
  psos call greenhouse/gw archive query '{"limit": 10}'
  psos call e01 tick fire)"));
  a->flags.add_to(*app);
  app->add_option("NODE", a->node, "NODE or SYSTEM/NODE")->required();
  app->add_option("SERVICE", a->service, "The service")->required();
  app->add_option("FUNCTION", a->function, "The function")->required();
  app->add_option("ARGS_JSON", a->args, "The function's arguments, a JSON object");
  return {
      app, [a] {
        json call_args;
        try {
          call_args = parse_args_object(a->args, "ARGS_JSON");
        } catch (const FleetFailure& f) {
          return report("call", f.status, f.what());
        }
        return Fleet("call", a->flags).run([a, call_args](Fleet& fleet) -> asio::awaitable<int> {
          // Built before any co_await: g++ 12 rejects string literals in an initializer
          // list within a co_await expression ("array used as initializer").
          json args = {{"service", a->service}, {"function", a->function}, {"args", call_args}};
          const std::string verb = "call";
          const control::NodeAddress node = co_await fleet.resolve(a->node);
          print_json(co_await fleet.request(node, verb, std::move(args)));
          co_return kExitOk;
        });
      }};
}

FleetCommand cmd_command(CLI::App& parent) {
  struct Args {
    FleetFlags flags;
    std::string node, verb, args = "{}";
  };
  auto a = std::make_shared<Args>();
  CLI::App* app = parent.add_subcommand("cmd", "Send any command (verb) to a node");
  app->footer(fleet_footer(R"(
Sends the verb VERB with the arguments ARGS_JSON (a JSON object; default {})
to NODE and prints the result as JSON. The verbs (docs/control.md; `psos cmd
NODE help` lists them with their arguments):
  ping                               the node, its uptime and boot count
  help                               verbs, services and their functions
  info                               what $info says
  call    {service, function, args}  what psos call does
  conf    {op, service, param, value}  what psos conf does
  eval    {code}                     what psos eval does
  service {op: start|stop|restart, name}
  log     {level[, service]}         the level of what the node sends on $log
  restart {[normal]}                 the whole node (psos restart waits for it);
                                     normal: out of safe mode
  crashes {[index]}                  the crash log (psos crashes shows it))",
                           R"(
  psos cmd gw ping
  psos cmd gw service '{"op": "stop", "name": "archive"}'
  psos cmd gw log '{"level": "debug", "service": "archive"}')"));
  a->flags.add_to(*app);
  app->add_option("NODE", a->node, "NODE or SYSTEM/NODE")->required();
  app->add_option("VERB", a->verb, "The verb")->required();
  app->add_option("ARGS_JSON", a->args, "The verb's arguments, a JSON object");
  return {app, [a] {
            json verb_args;
            try {
              verb_args = parse_args_object(a->args, "ARGS_JSON");
              if (a->verb.empty() || a->verb.find_first_of("/+#") != std::string::npos)
                throw FleetFailure(kExitUsage, "VERB '" + a->verb + "' is not a verb's name");
            } catch (const FleetFailure& f) {
              return report("cmd", f.status, f.what());
            }
            return Fleet("cmd", a->flags).run([a, verb_args](Fleet& fleet) -> asio::awaitable<int> {
              json args = verb_args;
              const control::NodeAddress node = co_await fleet.resolve(a->node);
              print_json(co_await fleet.request(node, a->verb, std::move(args)));
              co_return kExitOk;
            });
          }};
}

FleetCommand eval_command(CLI::App& parent) {
  struct Args {
    FleetFlags flags;
    std::string node, code;
  };
  auto a = std::make_shared<Args>();
  CLI::App* app = parent.add_subcommand("eval", "Run Lua code on a node and print its value");
  app->footer(fleet_footer(R"(
Runs the Lua chunk CODE on NODE, in the sandbox of its function services, with
the node API (publish, call, services, info) and limits on instructions and
memory, and prints the value it returns as JSON (null when it returns none).
CODE - reads the chunk from standard input. psos repl NODE is the interactive
console.)",
                           R"(
  psos eval n1 'return 1+2'                     prints 3
  psos eval gw 'return services()'
  psos eval gw - < script.lua)"));
  a->flags.add_to(*app);
  app->add_option("NODE", a->node, "NODE or SYSTEM/NODE")->required();
  app->add_option("CODE", a->code, "Lua code, or - for standard input")->required();
  return {app, [a] {
            if (a->code == "-")
              a->code.assign(std::istreambuf_iterator<char>(std::cin),
                             std::istreambuf_iterator<char>());
            return Fleet("eval", a->flags).run([a](Fleet& fleet) -> asio::awaitable<int> {
              const control::NodeAddress node = co_await fleet.resolve(a->node);
              json args = {{"code", a->code}};
              const std::string verb = "eval";
              print_json(co_await fleet.request(node, verb, std::move(args)));
              co_return kExitOk;
            });
          }};
}

namespace {

// A whole node's restart: the restart verb, then the node coming back. Its $state and $info are
// watched from before the request: the restart is over when $state is ready (or safe: safe mode)
// and $info names a boot after the one before (a node without $info: once $state was something
// else, then ready). `normal`: out of safe mode.
asio::awaitable<int> restart_node(Fleet& fleet, const control::NodeAddress& node, bool normal) {
  const std::string prefix = "psos/" + node.system + "/" + node.node + "/";
  std::string state;
  std::int64_t boot_before = -1, boot = -1;
  std::string safe_mode;  // $info's reason, in safe mode
  bool left = false;      // $state was not ready at some point after the request
  bool requested = false;
  asio::steady_timer wake(fleet.executor(), asio::steady_timer::time_point::max());
  fleet.caller().on_message([&](const client::MessagePtr& m) {
    if (m->topic == prefix + "$state") {
      state = m->payload;
      if (requested && state != "ready") left = true;
    } else if (m->topic == prefix + "$info") {
      const json info = json::parse(m->payload, nullptr, false);
      if (!info.is_object() || !info.contains("boot") || !info["boot"].is_number_integer()) return;
      boot = info["boot"].get<std::int64_t>();
      if (!requested) boot_before = boot;
      safe_mode = info.contains("safe_mode") && info["safe_mode"].is_string()
                      ? info["safe_mode"].get<std::string>()
                      : "";
    }
    wake.cancel();
  });
  for (const char* what : {"$state", "$info"})
    if (client::error_code ec =
            co_await fleet.caller().subscribe(prefix + what, mqtt::QoS::AtLeastOnce))
      throw FleetFailure(kExitNoAnswer, "the broker refused the subscription to " + prefix + what +
                                            ": " + ec.message());
  co_await fleet.caller().sync(fleet.timeout());
  requested = true;
  const std::string verb = "restart";
  json args = json::object();
  if (normal) args["normal"] = true;
  co_await fleet.request(node, verb, std::move(args));
  const auto deadline = asio::steady_timer::clock_type::now() + fleet.timeout();
  const auto back = [&] {
    return (state == "ready" || state == "safe") && (boot_before >= 0 ? boot > boot_before : left);
  };
  while (!back() && asio::steady_timer::clock_type::now() < deadline) {
    wake.expires_at(deadline);
    co_await wake.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  fleet.caller().on_message({});
  if (!back()) {
    char seconds[32];
    std::snprintf(seconds, sizeof seconds, "%g",
                  static_cast<double>(fleet.timeout().count()) / 1000);
    throw FleetFailure(kExitNoAnswer,
                       node.to_string() + " is restarting but was not ready again within " +
                           seconds + " s (its $state: " + (state.empty() ? "none" : state) + ")");
  }
  std::printf("%s restarted (boot %lld)%s\n", node.to_string().c_str(),
              static_cast<long long>(boot),
              state == "safe" ? (", in safe mode: " + safe_mode).c_str() : "");
  co_return kExitOk;
}

}  // namespace

FleetCommand restart_command(CLI::App& parent) {
  struct Args {
    FleetFlags flags;
    std::string node, service;
    bool normal = false;
  };
  auto a = std::make_shared<Args>();
  CLI::App* app = parent.add_subcommand("restart", "Restart a node, or one of its services");
  app->footer(fleet_footer(R"(
Without SERVICE: restarts the whole node cleanly (its services stop in reverse
order, $state says stopped, then the same `psos run` starts again in the same
process) and waits, up to --timeout, until it is ready again; prints
a line like: greenhouse/gw restarted (boot 4). A node in safe mode (its recent
boots crashed: psos crashes NODE) comes back in safe mode, and the line says
so; --normal makes it start normally, whatever crashed before.

With SERVICE: restarts that service alone; prints a line like:
archive: running (restarts 1). `psos cmd NODE service '{"op": "stop", "name": "SERVICE"}'` stops one
and "start" starts it again.)",
                           R"(
  psos restart gw
  psos restart gw --normal
  psos restart greenhouse/gw archive)"));
  a->flags.add_to(*app);
  app->add_option("NODE", a->node, "NODE or SYSTEM/NODE")->required();
  app->add_option("SERVICE", a->service, "One service only");
  app->add_flag("--normal", a->normal, "Start normally: leave safe mode (not with SERVICE)");
  return {app, [a] {
            if (a->normal && !a->service.empty())
              return report("restart", kExitUsage,
                            "--normal restarts the whole node: leave out SERVICE");
            return Fleet("restart", a->flags).run([a](Fleet& fleet) -> asio::awaitable<int> {
              const control::NodeAddress node = co_await fleet.resolve(a->node);
              if (a->service.empty()) co_return co_await restart_node(fleet, node, a->normal);
              json args = {{"op", "restart"}, {"name", a->service}};
              const std::string verb = "service";
              const json result = co_await fleet.request(node, verb, std::move(args));
              std::printf("%s: %s (restarts %s)\n", a->service.c_str(),
                          result.value("status", "?").c_str(),
                          compact_json(result.value("restarts", json())).c_str());
              co_return kExitOk;
            });
          }};
}

}  // namespace psos::cli
