// `psos dashboard [--listen URL] [--definitions DIR] [--passwd FILE] [--https-cert FILE
// --https-key FILE]`: the system live in a browser (src/dashboard/), over the fleet commands'
// connection and key.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "dashboard/server.hpp"
#include "fleet.hpp"
#include "fleet_commands.hpp"

namespace psos::cli {

namespace asio = boost::asio;

namespace {

constexpr const char* kFooter = R"(
Serves a web page that shows every node on the broker, live: a map of the
nodes, their services and the topics between them; each node's metrics,
services, configuration, functions and log; a tree of every topic with its
last message. Buttons on the page start, stop and restart services, set
configuration, call functions and publish; those requests are signed with
--key, as psos call signs its own, so nodes obey only a dashboard run by an
admin they trust.

The Deploy view lists the definition files (*.json, not *.secrets.json) found
directly in --definitions DIR (default: the current directory); the page can
name only those files, never a path elsewhere. A chosen file is checked as
psos check checks it (its messages shown on the page), each node is asked
what it runs and the changes are shown as psos deploy --dry-run prints them,
with the values of changed parameters. Deploy sends it to the nodes ticked,
signed with --key, as psos deploy does; progress and results show live in
every open page. One deploy runs at a time: a second one is refused until
the first has its results.

The page and its scripts are built into psos: nothing is fetched from the
network. The server sends each browser at most one frame every 250 ms, so a
topic that carries 100,000 messages a second is shown sampled; a browser that
stops reading is disconnected after 10 s (it reconnects and starts afresh).

--listen defaults to http://127.0.0.1:8088, reachable from this machine only.
Any other address needs https:// with --https-cert and --https-key, and
--passwd FILE: users log in with a name and password made by psos passwd.
Port 0 picks a free port; the URL served is printed on stdout.

Exit status: 0 stopped by Ctrl-C, 2 usage, 3 broker unreachable.

Examples:
  psos dashboard
  psos dashboard --broker mqtt://gateway.local --listen http://127.0.0.1:9000
  psos dashboard --definitions ~/greenhouse
  psos dashboard --listen https://0.0.0.0:8443 --passwd users.txt \
      --https-cert dash.pem --https-key dash.key)";

struct DashboardArgs {
  FleetFlags flags;
  dashboard::ServerOptions options;
  double write_timeout_s = 10;
};

}  // namespace

FleetCommand dashboard_command(CLI::App& parent) {
  auto a = std::make_shared<DashboardArgs>();
  CLI::App* app = parent.add_subcommand("dashboard", "The system live in a web browser");
  app->footer(kFooter);
  a->flags.add_to(*app);
  app->add_option("--listen", a->options.listen,
                  "http://HOST:PORT or https://HOST:PORT to serve the page on (default "
                  "http://127.0.0.1:8088)")
      ->option_text("URL");
  app->add_option("--definitions", a->options.definitions,
                  "Directory of the definition files the Deploy view offers (default: the current "
                  "directory)")
      ->option_text("DIR")
      ->check(CLI::ExistingDirectory);
  app->add_option("--passwd", a->options.passwd,
                  "Users who may log in (a psos passwd file); required off loopback")
      ->option_text("FILE");
  app->add_option("--https-cert", a->options.https_cert, "PEM certificate chain for https://")
      ->option_text("FILE");
  app->add_option("--https-key", a->options.https_key, "PEM private key of --https-cert")
      ->option_text("FILE");
  app->add_option("--write-timeout", a->write_timeout_s,
                  "Seconds a browser may take to read a frame before it is disconnected "
                  "(default 10)")
      ->option_text("SECONDS")
      ->check(CLI::PositiveNumber);
  return {app, [a] {
            a->options.write_timeout =
                std::chrono::milliseconds(static_cast<std::int64_t>(a->write_timeout_s * 1000));
            a->options.command_timeout =
                std::chrono::milliseconds(static_cast<std::int64_t>(a->flags.timeout_s * 1000));
            return Fleet("dashboard", a->flags).run([a](Fleet& fleet) -> asio::awaitable<int> {
              std::unique_ptr<dashboard::Server> server;
              try {
                server = std::make_unique<dashboard::Server>(fleet.executor(), fleet.caller(),
                                                             a->options);
              } catch (const std::invalid_argument& e) {
                throw FleetFailure(kExitUsage, e.what());
              }
              if (std::string why = co_await server->start(); !why.empty())
                throw FleetFailure(kExitUsage, why);
              std::printf("psos dashboard: serving %s\n", server->url().c_str());
              std::fflush(stdout);
              co_await fleet.until_interrupted();
              server->stop();
              co_return kExitOk;
            });
          }};
}

}  // namespace psos::cli
