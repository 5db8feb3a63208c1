// `switch`: routes each message to topics by rules over its payload.
#include <vector>

#include "modules/builtin.hpp"
#include "modules/context.hpp"
#include "modules/rule.hpp"

namespace psos::modules {

namespace {

std::vector<Rule> make_rules(const nlohmann::json& items, const Report& report) {
  std::vector<Rule> rules;
  for (std::size_t i = 0; i < items.size(); ++i) {
    try {
      rules.emplace_back(items[i]);
    } catch (const std::exception& e) {
      report("rules/" + std::to_string(i), e.what());
    }
  }
  return rules;
}

// psos check: a rule that cannot be used (between without to, a regex that does not compile).
void validate_switch(const Params& p, const Report& report) {
  make_rules(p.json("rules"), report);
}

}  // namespace

ModuleSpec switch_spec() {
  return {
      .name = "switch",
      .summary = "Routes messages to topics by rules over their payload",
      .description =
          "Each rule tests the payload (or one of its JSON fields) and names the topic a "
          "matching message goes to, unchanged. Operators: == != < <= > >= compare with value "
          "(numbers as numbers, anything else as text); between tests value <= x <= to; regex "
          "matches value as an ECMAScript regular expression; has is true when the field "
          "exists.",
      .params =
          {
              sub_param("The messages to route"),
              {.name = "rules",
               .type = ParamType::ObjectList,
               .required = true,
               .description = "The rules, tried in order",
               .fields =
                   {
                       property_param(),
                       {.name = "op",
                        .type = ParamType::String,
                        .required = true,
                        .description = "How to test",
                        .allowed = {"==", "!=", "<", "<=", ">", ">=", "between", "regex", "has"}},
                       {.name = "value",
                        .type = ParamType::Json,
                        .description = "What to compare with; the lower bound for between, the "
                                       "expression for regex; not used by has",
                        .literal = true},
                       {.name = "to",
                        .type = ParamType::Json,
                        .description = "The upper bound for between",
                        .literal = true},
                       pub_param("Where a message that matches this rule goes"),
                   }},
              {.name = "mode",
               .type = ParamType::String,
               .default_value = "first",
               .description = "first: a message goes to the first rule that matches; all: to "
                              "every rule that matches",
               .allowed = {"first", "all"}},
              {.name = "otherwise",
               .type = ParamType::Topic,
               .description = "Where a message that matches no rule goes; left out, it is "
                              "dropped"},
              qos_param(),
              retain_param(),
          },
      .validate = validate_switch,
      .functions = {{.name = "state",
                     .description = "The rules, each with the number of messages it matched "
                                    "(\"matched\"); the messages that matched none "
                                    "(\"otherwise\") and all messages seen (\"messages\")"}},
  };
}

boost::asio::awaitable<void> run_switch(Context& ctx) {
  const Params& p = ctx.params();
  const std::vector<Rule> rules =
      make_rules(p.json("rules"), [](std::string_view path, const std::string& message) {
        throw std::runtime_error("switch: parameter " + std::string(path) + ": " + message);
      });
  const bool first_only = p.text("mode") == "first";
  const std::string otherwise = p.has("otherwise") ? p.text("otherwise") : std::string();
  const auto qos = static_cast<mqtt::QoS>(p.integer("qos"));
  const bool retain = p.boolean("retain");
  std::vector<std::uint64_t> matches(rules.size(), 0);
  std::uint64_t unmatched = 0;
  std::uint64_t messages = 0;
  ctx.provide("state", [&](const nlohmann::json&) {
    nlohmann::json listed = nlohmann::json::array();
    for (std::size_t i = 0; i < rules.size(); ++i) {
      nlohmann::json rule = p.json("rules")[i];
      rule["matched"] = matches[i];
      listed.push_back(std::move(rule));
    }
    return nlohmann::json{
        {"rules", std::move(listed)}, {"otherwise", unmatched}, {"messages", messages}};
  });
  for (const std::string& filter : p.texts("sub"))
    ctx.subscribe(filter);
  while (true) {
    const router::MessagePtr m = co_await ctx.next();
    ++messages;
    bool matched = false;
    for (std::size_t i = 0; i < rules.size(); ++i) {
      if (!rules[i].matches(m->payload)) continue;
      matched = true;
      ++matches[i];
      ctx.publish(rules[i].pub(), m->payload, qos, retain);
      if (first_only) break;
    }
    if (matched) continue;
    ++unmatched;
    if (!otherwise.empty()) ctx.publish(otherwise, m->payload, qos, retain);
  }
}

Module switch_module() {
  return {.spec = switch_spec(), .run = run_switch};
}

}  // namespace psos::modules
