// `counter`: counts the messages on its filters and publishes the running total.
#include "modules/builtin.hpp"

namespace psos::modules {

ModuleSpec counter_spec() {
  return {
      .name = "counter",
      .summary = "Counts messages and publishes the running total",
      .description = "Each message on sub adds one; the total goes to pub as {\"count\": N}.",
      .params = {sub_param("The messages to count"),
                 pub_param("Where the total goes"),
                 {.name = "start",
                  .type = ParamType::Integer,
                  .default_value = 0,
                  .description = "The total before the first message"}},
      .functions = {{.name = "read", .description = "The total so far"}},
  };
}

boost::asio::awaitable<void> run_counter(Context& ctx) {
  const Params& p = ctx.params();
  for (const std::string& filter : p.texts("sub"))
    ctx.subscribe(filter);
  std::int64_t count = p.integer("start");
  ctx.provide("read", [&](const nlohmann::json&) { return nlohmann::json{{"count", count}}; });
  while (true) {
    // next() throws when the service is stopped, which ends run_counter as it should.
    const router::MessagePtr m = co_await ctx.next();
    ctx.publish(p.text("pub"), "{\"count\": " + std::to_string(++count) + "}");
    ctx.log().debug("message {} on {}", count, m->topic);
  }
}

Module counter_module() {
  return {.spec = counter_spec(), .run = run_counter};
}

}  // namespace psos::modules
