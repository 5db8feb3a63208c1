// `pipe`: subscribes, reformats each message with a template, publishes (the seed's svc_pipe).
#include "modules/builtin.hpp"
#include "modules/context.hpp"
#include "modules/message_template.hpp"

namespace psos::modules {

ModuleSpec pipe_spec() {
  return {
      .name = "pipe",
      .summary = "Reformats messages with a template and publishes them",
      .description =
          "The format is filled per message: {payload} is the payload as text, {topic} its "
          "topic and {topic.0}, {topic.1}, ... the topic's levels; a JSON object payload adds "
          "its fields by name ({temp}, dotted for nested ones: {env.temp}). A message whose "
          "payload lacks a name the format uses is dropped and counted.",
      .params =
          {
              sub_param("The messages to reformat"),
              pub_param("The topic the reformatted messages are published to"),
              {.name = "format",
               .type = ParamType::Template,
               .default_value = "{payload}",
               .description = "The outgoing payload, as a template (\"TEMP: {temp}°C\")"},
              qos_param(),
              retain_param(),
          },
  };
}

boost::asio::awaitable<void> run_pipe(Context& ctx) {
  const Params& p = ctx.params();
  for (const std::string& filter : p.texts("sub"))
    ctx.subscribe(filter);
  const std::string& pub = p.text("pub");
  const std::string& format = p.text("format");
  const auto qos = static_cast<mqtt::QoS>(p.integer("qos"));
  const bool retain = p.boolean("retain");
  std::uint64_t dropped = 0;
  while (true) {
    const router::MessagePtr m = co_await ctx.next();
    MessageNames names(*m);
    std::string missing;
    if (auto out = fill_template(format, std::ref(names), &missing)) {
      router::Message published;
      published.topic = pub;
      published.payload = std::move(*out);
      published.qos = qos;
      published.retain = retain;
      ctx.publish(std::move(published));
    } else if (++dropped == 1 || dropped % 1000 == 0) {
      // Said once, then every thousandth time, so that a stream of such messages does not
      // flood the log.
      ctx.log().warn("dropped a message on {}: its payload has no {} ({} dropped so far)", m->topic,
                     missing, dropped);
    }
  }
}

Module pipe_module() {
  return {.spec = pipe_spec(), .run = run_pipe};
}

}  // namespace psos::modules
