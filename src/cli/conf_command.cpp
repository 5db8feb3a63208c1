// `psos conf NODE dump | get SERVICE.PARAM | set SERVICE.PARAM VALUE | unset SERVICE.PARAM`: a
// node's parameter overrides through the conf verb.
#include <CLI/CLI.hpp>

#include "fleet.hpp"
#include "fleet_commands.hpp"

namespace psos::cli {

namespace asio = boost::asio;
using nlohmann::json;

namespace {

// "archive.page" -> {"archive", "page"}: the parameter is after the last '.' (service names may
// hold dots, parameter names do not).
std::pair<std::string, std::string> split_target(const std::string& text) {
  const std::size_t dot = text.rfind('.');
  if (dot == std::string::npos || dot == 0 || dot + 1 == text.size())
    throw FleetFailure(kExitUsage, "expected SERVICE.PARAM, like archive.page, not '" + text + "'");
  return {text.substr(0, dot), text.substr(dot + 1)};
}

std::string dump_table(const json& result) {
  std::vector<std::vector<std::string>> rows = {{"SERVICE", "PARAM", "VALUE", "SOURCE"}};
  for (const auto& [service, params] : result.items()) {
    if (!params.is_object()) continue;
    for (const auto& [param, entry] : params.items())
      rows.push_back(
          {service, param, compact_json(entry.value("value", json())), entry.value("source", "")});
  }
  return format_table(rows);
}

}  // namespace

FleetCommand conf_command(CLI::App& parent) {
  struct Args {
    FleetFlags flags;
    std::string node, op;
    std::vector<std::string> rest;
  };
  auto a = std::make_shared<Args>();
  CLI::App* app =
      parent.add_subcommand("conf", "Show or change a node's service parameters (overrides)");
  app->footer(fleet_footer(R"(
  psos conf NODE dump                       every service's parameters
  psos conf NODE get SERVICE.PARAM          one effective value, as JSON
  psos conf NODE set SERVICE.PARAM VALUE    an override
  psos conf NODE unset SERVICE.PARAM        back to the definition's value

dump prints a table: SERVICE, PARAM, VALUE (JSON), SOURCE (definition,
default or override). set checks VALUE against the module's specification
exactly as psos check does (and refuses it with the same message), keeps it in
the node's data directory, so that it survives a restart of the node, and
restarts that service alone; VALUE is JSON (5, true, "on", [1,2]), or a plain
string when it does not parse as JSON (5s, north). set and unset print
"SERVICE.PARAM = VALUE" and where the value now comes from.)",
                           R"(
  psos conf gw dump
  psos conf gw get archive.page
  psos conf e01 set tick.every 5s
  psos conf e01 unset tick.every)"));
  a->flags.add_to(*app);
  app->add_option("NODE", a->node, "NODE or SYSTEM/NODE")->required();
  app->add_option("OP", a->op, "dump, get, set or unset")
      ->required()
      ->check(CLI::IsMember({"dump", "get", "set", "unset"}));
  app->add_option("ARGS", a->rest, "SERVICE.PARAM [VALUE]");
  return {
      app, [a] {
        const std::size_t wanted = a->op == "dump" ? 0 : a->op == "set" ? 2 : 1;
        if (a->rest.size() != wanted) {
          const char* usage = a->op == "dump"  ? "psos conf NODE dump"
                              : a->op == "set" ? "psos conf NODE set SERVICE.PARAM VALUE"
                                               : nullptr;
          return report("conf", kExitUsage,
                        std::string("usage: ") +
                            (usage ? usage : "psos conf NODE " + a->op + " SERVICE.PARAM"));
        }
        json conf_args = {{"op", a->op}};
        if (a->op != "dump") {
          try {
            const auto [service, param] = split_target(a->rest[0]);
            conf_args["service"] = service;
            conf_args["param"] = param;
          } catch (const FleetFailure& f) {
            return report("conf", f.status, f.what());
          }
        }
        if (a->op == "set") conf_args["value"] = json_or_string(a->rest[1]);
        return Fleet("conf", a->flags).run([a, conf_args](Fleet& fleet) -> asio::awaitable<int> {
          json args = conf_args;
          const std::string target = a->op == "dump" ? "" : a->rest[0];
          const control::NodeAddress node = co_await fleet.resolve(a->node);
          const std::string verb = "conf";
          const json result = co_await fleet.request(node, verb, std::move(args));
          if (a->op == "dump") {
            std::fputs(dump_table(result).c_str(), stdout);
          } else if (a->op == "get") {
            print_json(result.value("value", json()));
          } else {
            std::printf("%s = %s (%s; %s restarted)\n", target.c_str(),
                        compact_json(result.value("value", json())).c_str(),
                        a->op == "set" ? "override" : "override removed",
                        result.value("service", "").c_str());
          }
          co_return kExitOk;
        });
      }};
}

}  // namespace psos::cli
