// `bridge`: forwards topics between this node and a second named broker, without loops.
#include <algorithm>
#include <boost/asio/this_coro.hpp>
#include <exception>
#include <vector>

#include "client/client.hpp"
#include "modules/builtin.hpp"
#include "modules/context.hpp"
#include "mqtt/topic.hpp"

namespace psos::modules {

namespace {
// The user property a bridge adds to each message it forwards, with its client id as the value.
// A bridge forwards nothing that already carries its own: a message that went round a cycle of
// bridges and brokers stops when it meets a bridge it passed through.
constexpr const char* kVia = "psos-bridge";
}  // namespace

ModuleSpec bridge_spec() {
  return {
      .name = "bridge",
      .summary = "Forwards topics between this node and a second broker",
      .description =
          "The bridge keeps its own resilient connection to broker (MQTT v5): while the broker "
          "is away, messages going to it wait in the connection's offline queue (in memory) and "
          "its session there keeps what comes for topics_in. A message it brought in is never "
          "sent back out, and the reverse (No Local on both sides), so two bridges cannot loop a "
          "message; each forwarded message gets a \"psos-bridge\" user property with the "
          "bridge's client id, and a bridge forwards nothing that already carries its own, "
          "which ends a message going round a cycle of bridges. local/ topics are never "
          "forwarded.",
      .params =
          {
              {.name = "broker",
               .type = ParamType::Broker,
               .required = true,
               .description = "The second broker: a name from the definition's \"brokers\""},
              {.name = "topics",
               .type = ParamType::Filters,
               .default_value = nlohmann::json::array(),
               .description = "Forwarded from this node to the broker"},
              {.name = "topics_in",
               .type = ParamType::Filters,
               .default_value = nlohmann::json::array(),
               .description = "Forwarded from the broker to this node"},
              {.name = "remote_prefix",
               .type = ParamType::String,
               .default_value = "",
               .description = "Put before a topic going to the broker and taken off one coming "
                              "from it, so that several systems can share a broker (\"site1/\")"},
              {.name = "client_id",
               .type = ParamType::String,
               .default_value = "psos-{system}-{node}-{service}",
               .description = "The client id at the broker"},
              {.name = "qos",
               .type = ParamType::Integer,
               .default_value = 1,
               .description = "The QoS of forwarded messages (and of the bridge's subscriptions)",
               .minimum = 0,
               .maximum = 2},
          },
  };
}

namespace {

namespace asio = boost::asio;

bool carries(const std::vector<std::pair<std::string, std::string>>& properties,
             const std::string& id) {
  for (const auto& [key, value] : properties)
    if (key == kVia && value == id) return true;
  return false;
}

// `$share/g/f` gets the prefix on its filter part: `$share/g/<prefix>f`.
std::string remote_filter(const std::string& prefix, const std::string& filter) {
  const mqtt::SharedFilter shared = mqtt::split_shared(filter);
  if (shared.group.empty()) return prefix + filter;
  return "$share/" + std::string(shared.group) + "/" + prefix + std::string(shared.filter);
}

// What comes in from the broker: the subscriptions of topics_in, each with its v5 Subscription
// Identifier, and the way back into the node.
class Inbound {
 public:
  Inbound(Context& ctx, std::string id, std::string prefix, mqtt::QoS qos)
      : ctx_(ctx), id_(std::move(id)), prefix_(std::move(prefix)), qos_(qos) {}

  void subscribe(client::Client& client, const std::string& filter) {
    const std::string remote = remote_filter(prefix_, filter);
    client::SubscribeOptions o;
    o.qos = qos_;
    o.no_local = true;             // what this bridge sent out does not come back
    o.retain_as_published = true;  // a retained message stays retained on this node
    o.subscription_identifier = static_cast<std::uint32_t>(filters_.size() + 1);
    filters_.push_back(remote);
    client.subscribe(remote, o, [this, remote](client::error_code ec, client::Subscription s) {
      s.close();  // messages arrive through on_message(), one copy each
      if (ec && ec != client::make_error_code(client::Errc::Stopped))
        ctx_.log().error("the broker refused the subscription to {}: {}", remote, ec.message());
    });
  }

  void on_message(const client::Message& m) {
    // A broker may send one copy per matching subscription (Mosquitto does): take the copy of
    // the first filter that matches, drop the others and what matches none (a subscription
    // left in the broker's session by an earlier configuration).
    std::uint32_t first = 0;
    for (std::size_t i = 0; i < filters_.size() && first == 0; ++i) {
      const mqtt::SharedFilter shared = mqtt::split_shared(filters_[i]);
      if (mqtt::topic_matches(shared.filter, m.topic)) first = static_cast<std::uint32_t>(i + 1);
    }
    const auto& ids = m.subscription_identifiers;
    if (first == 0 || (!ids.empty() && std::find(ids.begin(), ids.end(), first) == ids.end()))
      return;
    if (!m.topic.starts_with(prefix_) || m.topic.size() == prefix_.size()) return;
    if (carries(m.user_properties, id_)) return;
    router::Message in = m;
    in.topic.erase(0, prefix_.size());
    in.user_properties.emplace_back(kVia, id_);
    // Published as the service: its own No Local subscriptions (topics) do not see it.
    ctx_.publish(std::move(in));
  }

 private:
  Context& ctx_;
  std::string id_;
  std::string prefix_;
  mqtt::QoS qos_;
  std::vector<std::string> filters_;
};

}  // namespace

asio::awaitable<void> run_bridge(Context& ctx) {
  const Params& p = ctx.params();
  const nlohmann::json& broker = p.json("broker");
  const std::string name = broker.at("name").get<std::string>();
  const net::UrlResult parsed = net::parse_url(broker.at("url").get<std::string>(), "broker URL");
  if (!parsed.ok()) throw std::runtime_error("broker " + name + ": " + parsed.error);
  const std::string id = p.text("client_id");
  const std::string prefix = p.text("remote_prefix");
  const auto qos = static_cast<mqtt::QoS>(p.integer("qos"));

  client::ClientOptions options;
  options.url = parsed.url;
  options.session.client_id = id;
  // The broker keeps the session (and what arrives for topics_in) while the bridge is away.
  options.session.clean_start = false;
  options.session.session_expiry_interval = 24 * 3600;
  options.session.username =
      broker.contains("username") ? broker["username"].get<std::string>() : parsed.url.username;
  options.session.password =
      broker.contains("password") ? broker["password"].get<std::string>() : parsed.url.password;
  client::Client client(ctx.executor(), std::move(options));
  const std::string where = name + " (" + parsed.url.to_string() + ")";
  client.on_state([&ctx, where](client::State s, const std::string& why) {
    if (s == client::State::Connected)
      ctx.log().info("connected to {}", where);
    else if (s == client::State::Disconnected)
      ctx.log().warn("{}: {}", where, why);
  });
  Inbound inbound(ctx, id, prefix, qos);
  client.on_message([&inbound](const client::MessagePtr& m) { inbound.on_message(*m); });
  for (const std::string& filter : p.texts("topics_in"))
    inbound.subscribe(client, filter);
  client.start();

  for (const std::string& filter : p.texts("topics"))
    ctx.subscribe(filter);  // No Local: what the bridge brings in is not sent back
  std::uint64_t refused = 0;
  std::exception_ptr ended;
  try {
    while (true) {
      const router::MessagePtr m = co_await ctx.next();
      if (m->local || carries(m->user_properties, id)) continue;
      // Sent with what is left of its expiry interval (spec 3.3.2.3.3).
      client::Message out = *m;
      out.topic.insert(0, prefix);
      out.qos = qos;
      out.message_expiry_interval = m->remaining_expiry(router::Clock::now());
      out.user_properties.emplace_back(kVia, id);
      client.publish(std::move(out), [&ctx, &refused, where](client::error_code ec) {
        if (!ec || ec == client::make_error_code(client::Errc::Stopped)) return;
        // Said once, then every thousandth time, so that a full queue does not flood the log.
        if (++refused == 1 || refused % 1000 == 0)
          ctx.log().warn("a message could not be forwarded to {}: {} ({} so far)", where,
                         ec.message(), refused);
      });
    }
  } catch (...) {
    ended = std::current_exception();
  }
  // Stopping (or failing): leave the broker with a DISCONNECT; the wait for it must not be
  // cancelled by the stop that brought us here.
  co_await asio::this_coro::reset_cancellation_state();
  co_await client.stop();
  std::rethrow_exception(ended);
}

Module bridge_module() {
  return {.spec = bridge_spec(), .run = run_bridge};
}

}  // namespace psos::modules
