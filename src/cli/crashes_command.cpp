// `psos crashes NODE [N]`: a node's crash log (the crashes verb), as a table or one record whole.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "fleet.hpp"
#include "fleet_commands.hpp"

namespace psos::cli {

namespace asio = boost::asio;
using nlohmann::json;

namespace {

std::string text_of(const json& value, const char* key, const char* none = "-") {
  const auto it = value.find(key);
  if (it == value.end() || it->is_null()) return none;
  return it->is_string() ? it->get<std::string>() : it->dump();
}

std::int64_t integer_of(const json& value, const char* key) {
  const auto it = value.find(key);
  return it != value.end() && it->is_number_integer() ? it->get<std::int64_t>() : 0;
}

// What killed it, in a few words.
std::string cause_of(const json& r) {
  const std::string cause = text_of(r, "cause");
  if (cause == "watchdog")
    return "watchdog (" + std::to_string(integer_of(r, "stalled_ms")) + " ms stall)";
  if (cause == "signal") return text_of(r, "signal");
  if (cause == "exit") return "exit " + text_of(r, "exit_code");
  return cause;
}

void print_list(const control::NodeAddress& node, const json& result) {
  const json& crashes = result.value("crashes", json::array());
  if (crashes.empty()) {
    std::printf("no crashes recorded on %s\n", node.to_string().c_str());
  } else {
    std::vector<std::vector<std::string>> rows = {
        {"#", "TIME", "BOOT", "UPTIME", "CAUSE", "SERVICE", "GOOD BOOT"}};
    std::size_t index = 0;
    for (const json& r : crashes)
      rows.push_back({std::to_string(++index), format_time(integer_of(r, "time")),
                      text_of(r, "boot"), format_duration(integer_of(r, "uptime_ms")), cause_of(r),
                      text_of(r, "service"), r.value("good_boot", false) ? "yes" : "no"});
    std::fputs(format_table(rows).c_str(), stdout);
  }
  if (result.contains("safe_mode") && result["safe_mode"].is_string())
    std::printf("%s is in safe mode: %s\n", node.to_string().c_str(),
                result["safe_mode"].get<std::string>().c_str());
}

void print_record(const json& r) {
  std::printf("time       %s\n", format_time(integer_of(r, "time")).c_str());
  std::printf("boot       %s (started %s, ran %s, %s)\n", text_of(r, "boot").c_str(),
              format_time(integer_of(r, "started")).c_str(),
              format_duration(integer_of(r, "uptime_ms")).c_str(),
              r.value("good_boot", false) ? "a good boot" : "before it counted as a good boot");
  std::printf("cause      %s\n", cause_of(r).c_str());
  std::printf("service    %s\n", text_of(r, "service", "unknown").c_str());
  std::printf("revision   %s\n", text_of(r, "revision").c_str());
  std::printf("stack trace:\n");
  for (const json& line : r.value("trace", json::array()))
    std::printf("  %s\n", line.is_string() ? line.get<std::string>().c_str() : "?");
  std::printf("last log lines:\n");
  for (const json& line : r.value("log", json::array()))
    std::printf("  %s\n", line.is_string() ? line.get<std::string>().c_str() : "?");
}

}  // namespace

FleetCommand crashes_command(CLI::App& parent) {
  struct Args {
    FleetFlags flags;
    std::string node;
    int index = 0;
    bool json_output = false;
  };
  auto a = std::make_shared<Args>();
  CLI::App* app = parent.add_subcommand("crashes", "Show a node's crash log");
  app->footer(fleet_footer(R"(
Lists the crashes NODE recorded (its last 10, newest first): when, the boot,
how long that boot had run, the cause (a signal such as SIGSEGV or SIGKILL,
watchdog: the event loop stalled past the node's "watchdog" setting, exit N, or
unknown: no parent saw it end, as after a power cut), the service whose code ran
last on the event loop, and whether the boot had counted as good (60 s running:
its crash does not count towards safe mode). Says so when the node is in safe
mode. With N, prints record N (1 is the newest) whole: its stack trace and the
last 100 lines the node logged. --json prints the crashes verb's result.)",
                           R"(
  psos crashes gw
  psos crashes gw 1
  psos crashes greenhouse/gw --json)"));
  a->flags.add_to(*app);
  app->add_option("NODE", a->node, "NODE or SYSTEM/NODE")->required();
  app->add_option("N", a->index, "One record whole: 1 is the newest")->check(CLI::PositiveNumber);
  app->add_flag("--json", a->json_output, "Print the result as JSON");
  return {app, [a] {
            return Fleet("crashes", a->flags).run([a](Fleet& fleet) -> asio::awaitable<int> {
              const control::NodeAddress node = co_await fleet.resolve(a->node);
              json args = json::object();
              if (a->index > 0) args["index"] = a->index;
              const std::string verb = "crashes";
              const json result = co_await fleet.request(node, verb, std::move(args));
              if (a->json_output)
                print_json(result);
              else if (a->index > 0)
                print_record(result);
              else
                print_list(node, result);
              co_return kExitOk;
            });
          }};
}

}  // namespace psos::cli
