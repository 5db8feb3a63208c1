// `psos logs NODE [-f] [--level L] [--service S]`: a node's $log records as lines.
#include <CLI/CLI.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstdio>

#include "fleet.hpp"
#include "fleet_commands.hpp"

namespace psos::cli {

namespace asio = boost::asio;
using nlohmann::json;

namespace {

constexpr const char* kFooter = R"(
Prints the records NODE publishes on psos/<system>/<node>/$log, one a line:
  TIME LEVEL [SERVICE] MESSAGE
TIME is local, LEVEL one of trace, debug, info, warn, error, crit; records of
the node itself have no [SERVICE]. When the node had to drop records (its
buffer overflowed while its uplink was down) a line (N dropped) comes
before the next record.

A node keeps no history of what it published: without -f, psos logs prints
what arrives within --wait seconds (default 2) and exits; with -f it follows
until Ctrl-C. While its uplink is down a node keeps its records (1,000 by
default, the lowest levels dropped first) and sends them, in order, when it is
back.

--level L shows records at L and above, --service S those of one service
(repeatable). The node sends what its own level allows (default info); change
it with psos cmd NODE log '{"level": "debug"}' (add "service": S for one).

NODE is a node's name, or SYSTEM/NODE when several systems share the broker.
Exit status: 0 done, 2 usage, 3 broker unreachable or NODE unknown.

Examples:
  psos logs gw -f
  psos logs gw -f --level warn
  psos logs greenhouse/e01 --service dht --wait 30)";

// spdlog's level names, shortened to at most five letters; the rank orders them.
struct Level {
  const char* name;
  const char* shown;
};
constexpr Level kLevels[] = {{"trace", "trace"},  {"debug", "debug"}, {"info", "info"},
                             {"warning", "warn"}, {"error", "error"}, {"critical", "crit"}};

int rank(std::string_view name) {
  if (name == "warn") name = "warning";
  if (name == "crit") name = "critical";
  for (int i = 0; i < 6; ++i)
    if (name == kLevels[i].name) return i;
  return -1;
}

}  // namespace

FleetCommand logs_command(CLI::App& parent) {
  struct Args {
    FleetFlags flags;
    std::string node, level;
    std::vector<std::string> services;
    bool follow = false;
    double wait_s = 2;
  };
  auto a = std::make_shared<Args>();
  CLI::App* app = parent.add_subcommand("logs", "Print a node's log records");
  app->footer(kFooter);
  a->flags.add_to(*app, /*signs=*/false);
  app->add_option("NODE", a->node, "NODE or SYSTEM/NODE")->required();
  app->add_flag("-f,--follow", a->follow, "Keep printing records as they come, until Ctrl-C");
  app->add_option("--level", a->level, "Only records at this level and above")
      ->check(CLI::IsMember(
          {"trace", "debug", "info", "warn", "warning", "error", "crit", "critical"}));
  app->add_option("--service", a->services, "Only the records of this service (repeatable)")
      ->option_text("S");
  app->add_option("-W,--wait", a->wait_s, "Without -f: seconds to print records for (default 2)")
      ->option_text("SECONDS")
      ->check(CLI::PositiveNumber);
  return {app, [a] {
            return Fleet("logs", a->flags, /*signs=*/false)
                .run([a](Fleet& fleet) -> asio::awaitable<int> {
                  const control::NodeAddress node = co_await fleet.resolve(a->node);
                  const std::string topic = "psos/" + node.system + "/" + node.node + "/$log";
                  const int minimum = a->level.empty() ? 0 : rank(a->level);
                  std::size_t printed = 0;
                  fleet.caller().on_message([&](const client::MessagePtr& m) {
                    if (m->topic != topic) return;
                    const json record = json::parse(m->payload, nullptr, false);
                    if (!record.is_object()) return;
                    const std::string level = record.value("level", "");
                    const std::string service = record.value("service", "");
                    // Records were dropped before this one, whether or not it is shown.
                    std::string line;
                    if (const auto dropped = record.find("dropped");
                        dropped != record.end() && dropped->is_number_unsigned())
                      line += "(" + std::to_string(dropped->get<std::uint64_t>()) + " dropped)\n";
                    const bool shown =
                        rank(level) >= minimum &&
                        (a->services.empty() || std::find(a->services.begin(), a->services.end(),
                                                          service) != a->services.end());
                    if (!shown) {
                      std::fputs(line.c_str(), stdout);
                      std::fflush(stdout);
                      return;
                    }
                    const auto ts = record.find("ts");
                    line += ts != record.end() && ts->is_number_integer()
                                ? format_time(ts->get<std::int64_t>())
                                : std::string("-");
                    const int r = rank(level);
                    line += " ";
                    line += r >= 0 ? kLevels[r].shown : level.c_str();
                    if (!service.empty()) line += " [" + service + "]";
                    line += " " + record.value("msg", "") + "\n";
                    std::fwrite(line.data(), 1, line.size(), stdout);
                    std::fflush(stdout);
                    ++printed;
                  });
                  if (client::error_code ec =
                          co_await fleet.caller().subscribe(topic, mqtt::QoS::AtLeastOnce))
                    throw FleetFailure(kExitNoAnswer, "the broker refused the subscription to " +
                                                          topic + ": " + ec.message());
                  if (a->follow) {
                    co_await fleet.until_interrupted();
                  } else {
                    asio::steady_timer wait(
                        fleet.executor(),
                        std::chrono::milliseconds(static_cast<std::int64_t>(a->wait_s * 1000)));
                    co_await wait.async_wait(asio::as_tuple(asio::use_awaitable));
                    if (printed == 0) {
                      char seconds[32];
                      std::snprintf(seconds, sizeof seconds, "%g", a->wait_s);
                      report("logs", kExitOk,
                             "no record from " + node.to_string() + " within " + seconds +
                                 " s (a node keeps no history: -f follows)");
                    }
                  }
                  fleet.caller().on_message({});
                  co_return kExitOk;
                });
          }};
}

}  // namespace psos::cli
