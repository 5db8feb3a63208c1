// `log`: prints messages (time, topic, payload) to the node's log.
#include "modules/builtin.hpp"
#include "modules/context.hpp"
#include "modules/message_template.hpp"

namespace psos::modules {

ModuleSpec log_spec() {
  return {
      .name = "log",
      .summary = "Prints messages to the node's log",
      .description =
          "Each message is one log line with the time, the service's name and the "
          "formatted message.",
      .params =
          {
              sub_param("The messages to print"),
              {.name = "level",
               .type = ParamType::String,
               .default_value = "info",
               .description = "The log level of the lines",
               .allowed = {"trace", "debug", "info", "warn", "error"}},
              {.name = "format",
               .type = ParamType::Template,
               .default_value = "{topic} {payload}",
               .description = "The line, as a template with the names pipe's format knows"},
          },
  };
}

boost::asio::awaitable<void> run_log(Context& ctx) {
  const Params& p = ctx.params();
  for (const std::string& filter : p.texts("sub"))
    ctx.subscribe(filter);
  const auto level = spdlog::level::from_str(p.text("level"));
  const std::string& format = p.text("format");
  while (true) {
    const router::MessagePtr m = co_await ctx.next();
    MessageNames names(*m);
    std::string missing;
    const auto line = fill_template(format, std::ref(names), &missing);
    ctx.log().log(level, "{}", line ? *line : m->topic + " " + m->payload);
  }
}

Module log_module() {
  return {.spec = log_spec(), .run = run_log};
}

}  // namespace psos::modules
