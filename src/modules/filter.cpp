// `filter`: report by exception and deadband: passes a message on only when its value changed.
#include <cmath>
#include <map>

#include "modules/builtin.hpp"
#include "modules/context.hpp"
#include "modules/payload_value.hpp"

namespace psos::modules {

ModuleSpec filter_spec() {
  return {
      .name = "filter",
      .summary = "Passes a message on only when its value changed (report by exception)",
      .description =
          "Each topic is tracked on its own: the first message always passes, later ones are "
          "compared with the last message passed on the same topic.",
      .params =
          {
              sub_param("The messages to filter"),
              pub_param("The topic the messages that pass are published to"),
              {.name = "mode",
               .type = ParamType::String,
               .default_value = "change",
               .description = "change: pass a value that differs from the last one passed; "
                              "deadband: pass a number that moved at least band away from it",
               .allowed = {"change", "deadband"}},
              {.name = "band",
               .type = ParamType::Number,
               .default_value = 0,
               .description = "deadband: the least change that passes",
               .minimum = 0},
              property_param(),
              qos_param(),
              retain_param(),
          },
  };
}

boost::asio::awaitable<void> run_filter(Context& ctx) {
  const Params& p = ctx.params();
  const std::string& pub = p.text("pub");
  const bool deadband = p.text("mode") == "deadband";
  const double band = p.number("band");
  const std::string& property = p.text("property");
  const auto qos = static_cast<mqtt::QoS>(p.integer("qos"));
  const bool retain = p.boolean("retain");
  for (const std::string& filter : p.texts("sub"))
    ctx.subscribe(filter);
  std::map<std::string, nlohmann::json, std::less<>> last;  // per topic: the last value passed
  std::uint64_t unusable = 0;
  while (true) {
    const router::MessagePtr m = co_await ctx.next();
    auto value = payload_value(m->payload, property);
    if (value && deadband) {
      const auto number = as_number(*value);
      value = number ? std::optional<nlohmann::json>(*number) : std::nullopt;
    }
    if (!value) {
      // Said once, then every thousandth time, so that a stream of such messages does not
      // flood the log.
      if (++unusable == 1 || unusable % 1000 == 0)
        ctx.log().warn("dropped a message on {}: {} ({} dropped so far)", m->topic,
                       deadband ? "no number to compare" : "its payload has no " + property,
                       unusable);
      continue;
    }
    const auto it = last.find(m->topic);
    const bool passes =
        it == last.end() ||
        (deadband ? std::abs(value->get<double>() - it->second.get<double>()) >= band
                  : *value != it->second);
    if (!passes) continue;
    last.insert_or_assign(m->topic, std::move(*value));
    ctx.publish(pub, m->payload, qos, retain);
  }
}

Module filter_module() {
  return {.spec = filter_spec(), .run = run_filter};
}

}  // namespace psos::modules
