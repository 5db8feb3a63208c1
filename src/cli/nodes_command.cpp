// `psos nodes [-w]`: the nodes the broker knows, from their retained $state and $info.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <csignal>
#include <cstdio>

#include "control/node_directory.hpp"
#include "fleet.hpp"
#include "fleet_commands.hpp"

namespace psos::cli {

namespace asio = boost::asio;

namespace {

constexpr const char* kFooter = R"(
Lists every node that has a retained psos/<system>/<node>/$state or $info on
the broker, one a line, by system and node:
  SYSTEM     the system (the definition's "system")
  NODE       the node
  STATE      init, ready, safe (safe mode: no services), stopped, or lost (its
             uplink's last will)
  VERSION    the psos version it runs
  UPTIME     since it started, while init, ready or safe
  SERVICES   running/total
  LAST SEEN  how long ago the node last said something: what its $info and
             $metrics tell, or when a message of it arrived while watching
The retained messages are read until a round trip through the broker is
complete, plus a short settle.

-w keeps watching (until Ctrl-C). In a terminal the table is drawn again on
every change and every second. In a pipe the table is printed once, then a
line for every change of a node's state, version or services:
  TIME  SYSTEM/NODE  STATE  VERSION  SERVICES
("gone" when the node's retained messages are cleared).

Exit status: 0 done, 2 usage, 3 broker unreachable.

Examples:
  psos nodes
  psos nodes -w --broker mqtt://gateway.local)";

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::vector<std::string> row(const control::NodeStatus& s, std::int64_t now) {
  const bool running = s.state == "ready" || s.state == "safe" || s.state == "init";
  return {s.system,
          s.node,
          s.state.empty() ? "-" : s.state,
          s.version.empty() ? "-" : s.version,
          running && s.started_ms > 0 ? format_duration(now - s.started_ms) : "-",
          s.has_info ? std::to_string(s.services_running) + "/" + std::to_string(s.services_total)
                     : "-",
          s.last_seen_ms > 0 ? format_duration(now - s.last_seen_ms) + " ago" : "-"};
}

std::string table(const control::NodeDirectory& directory) {
  std::vector<std::vector<std::string>> rows = {
      {"SYSTEM", "NODE", "STATE", "VERSION", "UPTIME", "SERVICES", "LAST SEEN"}};
  const std::int64_t now = now_ms();
  for (const auto& [key, status] : directory.nodes())
    rows.push_back(row(status, now));
  return format_table(rows);
}

std::string change_line(const control::NodeDirectory& directory, const std::string& system,
                        const std::string& node) {
  std::string line = format_time(now_ms()) + "  " + system + "/" + node + "  ";
  const auto it = directory.nodes().find({system, node});
  if (it == directory.nodes().end()) return line + "gone\n";
  const control::NodeStatus& s = it->second;
  return line + (s.state.empty() ? "-" : s.state) + "  " + (s.version.empty() ? "-" : s.version) +
         "  " +
         (s.has_info ? std::to_string(s.services_running) + "/" + std::to_string(s.services_total)
                     : "-") +
         "\n";
}

void put(const std::string& text) {
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fflush(stdout);
}

}  // namespace

FleetCommand nodes_command(CLI::App& parent) {
  struct Args {
    FleetFlags flags;
    bool watch = false;
  };
  auto a = std::make_shared<Args>();
  CLI::App* app = parent.add_subcommand("nodes", "List the nodes the broker knows");
  app->footer(kFooter);
  a->flags.add_to(*app, /*signs=*/false);
  app->add_flag("-w,--watch", a->watch, "Keep the list up to date until Ctrl-C");
  return {app, [a] {
            return Fleet("nodes", a->flags, /*signs=*/false)
                .run([a](Fleet& fleet) -> asio::awaitable<int> {
                  control::NodeDirectory directory;
                  const bool terminal = ::isatty(STDOUT_FILENO) != 0;
                  bool listed = false;  // the first table is out: changes are shown from now on
                  asio::steady_timer tick(fleet.executor());
                  fleet.caller().on_message([&](const client::MessagePtr& m) {
                    const std::size_t start = 5, mid = m->topic.find('/', start);
                    const auto change = directory.apply(m->topic, m->payload, m->retain, now_ms());
                    if (!listed || change == control::NodeDirectory::Change::none) return;
                    if (terminal) {
                      tick.cancel();
                    } else if (change == control::NodeDirectory::Change::shown) {
                      const std::size_t end = m->topic.find('/', mid + 1);
                      put(change_line(directory, m->topic.substr(start, mid - start),
                                      m->topic.substr(mid + 1, end - mid - 1)));
                    }
                  });
                  std::vector<std::string> filters = {"psos/+/+/$state", "psos/+/+/$info"};
                  if (a->watch) filters.push_back("psos/+/+/$metrics");
                  for (const std::string& f : filters)
                    if (client::error_code ec =
                            co_await fleet.caller().subscribe(f, mqtt::QoS::AtMostOnce))
                      throw FleetFailure(kExitNoAnswer, "the broker refused the subscription to " +
                                                            f + ": " + ec.message());
                  if (!co_await fleet.caller().sync(fleet.timeout()))
                    throw FleetFailure(kExitNoAnswer,
                                       "the broker did not send the retained "
                                       "messages within the timeout");
                  listed = true;
                  if (!a->watch) {
                    if (directory.nodes().empty()) {
                      report("nodes", kExitOk,
                             "no node has a retained $state or $info on the broker");
                      co_return kExitOk;
                    }
                    put(table(directory));
                    co_return kExitOk;
                  }
                  if (!terminal) put(table(directory));
                  bool interrupted = false;
                  asio::signal_set signals(fleet.executor(), SIGINT, SIGTERM);
                  signals.async_wait([&](const client::error_code& ec, int) {
                    if (ec) return;
                    interrupted = true;
                    tick.cancel();
                  });
                  // Woken by a change (terminal only), every second for the ages, or Ctrl-C.
                  while (!interrupted) {
                    if (terminal) put("\x1b[H\x1b[2J" + table(directory) + "\n(Ctrl-C ends)\n");
                    tick.expires_after(std::chrono::seconds(terminal ? 1 : 3600));
                    co_await tick.async_wait(asio::as_tuple(asio::use_awaitable));
                  }
                  fleet.caller().on_message({});
                  co_return kExitOk;
                });
          }};
}

}  // namespace psos::cli
