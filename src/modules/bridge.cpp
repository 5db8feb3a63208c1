// `bridge`: forwards topics between this node and a second named broker, without loops.
#include <algorithm>
#include <boost/asio/this_coro.hpp>
#include <exception>
#include <vector>

#include "bridge/forward.hpp"
#include "client/client.hpp"
#include "modules/builtin.hpp"
#include "modules/context.hpp"
#include "mqtt/topic.hpp"

namespace psos::modules {

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
          "which ends a message going round a cycle of bridges (the uplink does the same, "
          "with the node's id). local/ topics are never forwarded.",
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

// What comes in from the broker: the subscriptions of topics_in, and the way back into the
// node; the Forwarder (bridge/forward.hpp) decides what crosses, in both directions.
class Inbound {
 public:
  Inbound(Context& ctx, bridge::Forwarder& forwarder, mqtt::QoS qos)
      : ctx_(ctx), forwarder_(forwarder), qos_(qos) {}

  void subscribe(client::Client& client, const std::string& filter) {
    const std::string remote = forwarder_.remote_filter(filter);
    client::SubscribeOptions o;
    o.qos = qos_;
    o.no_local = true;             // what this bridge sent out does not come back
    o.retain_as_published = true;  // a retained message stays retained on this node
    o.subscription_identifier = forwarder_.add(remote);
    client.subscribe(remote, o, [this, remote](client::error_code ec, client::Subscription s) {
      s.close();  // messages arrive through on_message(), one copy each
      if (ec && ec != client::make_error_code(client::Errc::Stopped))
        ctx_.log().error("the broker refused the subscription to {}: {}", remote, ec.message());
    });
  }

  void on_message(const client::Message& m) {
    // Published as the service: its own No Local subscriptions (topics) do not see it.
    if (auto in = forwarder_.incoming(m, router::Clock::now())) ctx_.publish(std::move(*in));
  }

 private:
  Context& ctx_;
  bridge::Forwarder& forwarder_;
  mqtt::QoS qos_;
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
  bridge::Forwarder forwarder(id, prefix, /*v5=*/true);
  Inbound inbound(ctx, forwarder, qos);
  client.on_message([&inbound](const client::MessagePtr& m) { inbound.on_message(*m); });
  for (const std::string& filter : p.texts("topics_in"))
    inbound.subscribe(client, filter);
  client.start();

  for (const std::string& filter : p.texts("topics"))
    ctx.subscribe(filter);  // No Local: what the bridge brings in is not sent back
  std::exception_ptr ended;
  try {
    while (true) {
      const router::MessagePtr m = co_await ctx.next();
      std::optional<client::Message> out = forwarder.outgoing(*m, qos, router::Clock::now());
      if (!out) continue;
      client.publish(std::move(*out), [&ctx, &forwarder, where](client::error_code ec) {
        if (!ec || ec == client::make_error_code(client::Errc::Stopped)) return;
        if (forwarder.refused(router::Clock::now()))
          ctx.log().warn("a message could not be forwarded to {}: {} ({} so far)", where,
                         ec.message(), forwarder.stats().refused);
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
