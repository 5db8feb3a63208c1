// The node runtime (see node.hpp).
#include "runtime/node.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>
#include <sys/utsname.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>

#include "listeners/listener_set.hpp"
#include "router/local_client.hpp"
#include "router/persistence.hpp"
#include "router/router.hpp"
#include "router/uplink.hpp"
#include "runtime/service.hpp"

namespace psos::runtime {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using namespace asio::experimental::awaitable_operators;

namespace {
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
// Restart backoff: 1 s doubling to 60 s; this many failures within kFailureWindow mark a
// service failed (it is not restarted again until the node restarts).
constexpr auto kFirstBackoff = 1s;
constexpr auto kMaxBackoff = 60s;
constexpr unsigned kMaxFailures = 5;
constexpr auto kFailureWindow = 60s;
// A service that keeps the loop busy longer than this is reported by name.
constexpr auto kBlockedReport = 100ms;
constexpr auto kLoopProbe = 50ms;

std::string platform() {
  utsname u{};
  if (::uname(&u) != 0) return "unknown";
  return fmt::format("{} {} {}", u.sysname, u.release, u.machine);
}
}  // namespace

struct Node::Impl {
  Impl(asio::any_io_executor ex, NodeOptions o) : executor(std::move(ex)), options(std::move(o)) {}

  asio::any_io_executor executor;
  NodeOptions options;
  std::unique_ptr<router::Router> router;
  std::unique_ptr<listeners::ListenerSet> listeners;
  std::unique_ptr<router::Uplink> uplink;
  std::unique_ptr<router::LocalClient> control;
  std::vector<std::unique_ptr<Service>> services;  // start order
  std::vector<std::string> listen_urls;
  std::string uplink_text = "none";
  bool embedded_default = false;
  bool stopping = false;
  std::size_t running = 0;  // supervisors still running
  std::unique_ptr<asio::steady_timer> all_done;
  std::unique_ptr<asio::steady_timer> probe;

  const std::string& system_name() const { return options.definition.system; }
  const std::string& node_name() const { return options.definition.name; }
  std::string prefix() const { return fmt::format("psos/{}/{}/", system_name(), node_name()); }

  void publish_state(std::string_view state) {
    control->publish(prefix() + "$state", state, mqtt::QoS::AtLeastOnce, true);
  }

  void publish_info() {
    nlohmann::json services_json = nlohmann::json::array();
    for (const auto& s : services) {
      services_json.push_back({{"name", s->definition().name},
                               {"module", s->definition().module},
                               {"status", to_string(s->status)},
                               {"restarts", s->restarts},
                               {"error", s->last_error}});
    }
    nlohmann::json info = {{"version", PSOS_VERSION},
                           {"platform", platform()},
                           {"system", system_name()},
                           {"node", node_name()},
                           {"definition", options.definition_hash},
                           {"services", services_json}};
    control->publish(prefix() + "$info", info.dump(), mqtt::QoS::AtLeastOnce, true);
  }

  asio::awaitable<void> supervise(Service& s) {
    const modules::Run run = modules::find_run(s.definition().module);
    auto backoff = std::chrono::duration_cast<std::chrono::milliseconds>(kFirstBackoff);
    std::vector<std::chrono::steady_clock::time_point> failures;
    while (!s.stopping()) {
      s.status = ServiceStatus::Running;
      publish_info();
      try {
        Service::last_resumed = &s;
        co_await run(s);
        if (s.stopping()) break;
        s.status = ServiceStatus::Finished;
        s.log().info("finished");
        break;
      } catch (const std::exception& e) {
        if (s.stopping()) break;
        s.last_error = e.what();
      }
      const auto now = std::chrono::steady_clock::now();
      failures.push_back(now);
      std::erase_if(failures, [&](auto t) { return now - t > kFailureWindow; });
      if (failures.size() >= kMaxFailures) {
        s.status = ServiceStatus::Failed;
        s.log().error("failed: {} ({} failures within {} s); not restarted", s.last_error,
                      failures.size(), kFailureWindow.count());
        break;
      }
      ++s.restarts;
      s.status = ServiceStatus::Restarting;
      publish_info();
      s.log().error("failed: {}; restarting in {} ms", s.last_error, backoff.count());
      s.reset();
      asio::steady_timer wait(executor, backoff);
      co_await wait.async_wait(use_tuple);
      backoff =
          std::min(backoff * 2, std::chrono::duration_cast<std::chrono::milliseconds>(kMaxBackoff));
    }
    if (s.stopping() && s.status != ServiceStatus::Failed) s.status = ServiceStatus::Stopped;
    publish_info();
  }

  // Reports the service whose code kept the event loop from running for too long.
  asio::awaitable<void> watch_loop() {
    while (!stopping) {
      const auto before = std::chrono::steady_clock::now();
      probe->expires_after(kLoopProbe);
      co_await probe->async_wait(use_tuple);
      const auto late = std::chrono::steady_clock::now() - before - kLoopProbe;
      if (late > kBlockedReport && Service::last_resumed != nullptr && !stopping) {
        spdlog::warn("[{}] blocked the event loop for {} ms: move blocking work off the loop",
                     Service::last_resumed->service(),
                     std::chrono::duration_cast<std::chrono::milliseconds>(late).count());
      }
    }
  }
};

Node::Node(asio::any_io_executor executor, NodeOptions options)
    : impl_(std::make_unique<Impl>(std::move(executor), std::move(options))) {}

Node::~Node() {
  if (impl_->router) impl_->router->shutdown();
}

std::string Node::control_prefix() const {
  return impl_->prefix();
}

std::string Node::start() {
  Impl& n = *impl_;
  const system::NodeDefinition& def = n.options.definition;
  router::RouterOptions ro;
  ro.local_prefix = "local/";
  ro.sys_prefix = "$SYS/psos/" + def.name;
  if (!n.options.data_dir.empty()) {
    std::string error;
    ro.persistence = router::Persistence::open(n.options.data_dir / "router", error);
    if (!ro.persistence) return error;
  }
  n.router = std::make_unique<router::Router>(n.executor, ro);
  n.control = std::make_unique<router::LocalClient>(
      *n.router, n.executor, "psos:" + def.name + ":control",
      [](const router::MessagePtr&, const router::Delivery&) {});

  std::vector<std::string> listen = n.options.listen.empty() ? def.listen : n.options.listen;
  std::optional<std::string> uplink_url = n.options.uplink_url;
  std::optional<std::string> username, password;
  if (!uplink_url && def.uplink) {
    uplink_url = def.uplink->url;
    username = def.uplink->username;
    password = def.uplink->password;
    n.uplink_text = def.uplink->name + " (" + def.uplink->url + ")";
  }
  if (listen.empty() && !uplink_url) {
    listen.push_back(kDefaultListener);
    n.embedded_default = true;
  }
  n.listeners = std::make_unique<listeners::ListenerSet>(n.executor, *n.router);
  for (const std::string& text : listen) {
    const net::UrlResult parsed = net::parse_url(text, "listener URL");
    if (!parsed.ok()) return parsed.error;
    if (std::string error = n.listeners->add(parsed.url); !error.empty()) {
      if (n.embedded_default) {
        error += fmt::format(
            " — the node names no uplink and no listener, so it gets the embedded default {}; "
            "another broker (psos or mosquitto) is probably using that port: stop it, run with "
            "--listen mqtt://127.0.0.1:PORT, or give the node \"listen\" or \"uplink\" in the "
            "definition",
            kDefaultListener);
      }
      return error;
    }
  }
  n.listeners->start();
  for (const net::Url& u : n.listeners->urls())
    n.listen_urls.push_back(u.to_string());

  n.publish_state("init");
  if (uplink_url) {
    const net::UrlResult parsed = net::parse_url(*uplink_url, "uplink URL");
    if (!parsed.ok()) return parsed.error;
    client::ClientOptions co;
    co.url = parsed.url;
    co.session.client_id = fmt::format("psos-{}-{}", def.system, def.name);
    co.session.clean_start = false;
    co.session.session_expiry_interval = 24 * 3600;
    co.session.username = username ? username : parsed.url.username;
    co.session.password = password ? password : parsed.url.password;
    client::Will will;
    will.message.topic = n.prefix() + "$state";
    will.message.payload = "lost";
    will.message.qos = mqtt::QoS::AtLeastOnce;
    will.message.retain = true;
    co.session.will = std::move(will);
    if (n.options.uplink_url) n.uplink_text = parsed.url.to_string();
    if (!n.options.data_dir.empty()) co.data_dir = (n.options.data_dir / "uplink").string();
    n.uplink = std::make_unique<router::Uplink>(*n.router, n.executor, std::move(co));
    n.uplink->client().on_state([name = n.uplink_text](client::State s, const std::string& why) {
      if (s == client::State::Connected)
        spdlog::info("uplink connected to {}", name);
      else if (s == client::State::Disconnected)
        spdlog::warn("uplink: {}", why);
    });
    n.uplink->start();
  }

  const auto state_root = n.options.data_dir.empty()
                              ? std::filesystem::path(".psos") / def.system / def.name / "services"
                              : n.options.data_dir / "services";
  for (const system::ServiceDefinition& sd : def.services) {
    if (!sd.enabled) continue;
    if (sd.module == "exec" && !n.options.allow_exec)
      return fmt::format(
          "service {}: module exec runs commands on this machine, and this node does not allow "
          "it: start the node with `psos run --allow-exec` to allow it (a definition cannot turn "
          "it on), or set \"enabled\": false on the service",
          sd.name);
    if (modules::find_run(sd.module) == nullptr)
      return fmt::format("service {}: module {} has no code yet in this version", sd.name,
                         sd.module);
    n.services.push_back(
        std::make_unique<Service>(*n.router, n.executor, def.system, def.name, sd, state_root));
  }
  n.all_done =
      std::make_unique<asio::steady_timer>(n.executor, asio::steady_timer::time_point::max());
  n.probe = std::make_unique<asio::steady_timer>(n.executor);
  for (auto& s : n.services) {
    ++n.running;
    asio::co_spawn(n.executor, n.supervise(*s),
                   asio::bind_cancellation_slot(s->cancel().slot(), [&n](std::exception_ptr) {
                     if (--n.running == 0) n.all_done->cancel();
                   }));
  }
  asio::co_spawn(n.executor, n.watch_loop(), asio::detached);
  n.publish_state("ready");
  n.publish_info();
  return {};
}

asio::awaitable<void> Node::stop() {
  Impl& n = *impl_;
  if (n.stopping) co_return;
  n.stopping = true;
  if (n.probe) n.probe->cancel();
  // Reverse start order: a service stops before the services it feeds were started after it.
  for (auto it = n.services.rbegin(); it != n.services.rend(); ++it)
    (*it)->request_stop();
  if (n.running > 0) {
    asio::steady_timer deadline(n.executor, n.options.stop_deadline);
    co_await (n.all_done->async_wait(use_tuple) || deadline.async_wait(use_tuple));
    if (n.running > 0)
      spdlog::warn("{} service(s) did not stop within {} ms", n.running,
                   n.options.stop_deadline.count());
  }
  if (n.control) {
    n.publish_info();
    n.publish_state("stopped");
  }
  if (n.uplink) {
    // Give the uplink a moment to send what is queued ($state stopped included).
    asio::steady_timer flush(n.executor, 200ms);
    co_await flush.async_wait(use_tuple);
    co_await n.uplink->stop();
  }
  if (n.listeners) n.listeners->stop();
  if (n.router) {
    n.router->commit();
    n.router->close_all(mqtt::ReasonCode::ServerShuttingDown);
    // Let the network connections write what they hold ($state stopped, the DISCONNECT) and
    // close; the in-process sessions (services, control, uplink) stay until the node goes.
    const std::size_t in_process = n.services.size() + 1 + (n.uplink ? 1 : 0);
    const auto give_up = std::chrono::steady_clock::now() + 2s;
    asio::steady_timer tick(n.executor);
    while (n.router->connected_count() > in_process && std::chrono::steady_clock::now() < give_up) {
      tick.expires_after(10ms);
      co_await tick.async_wait(use_tuple);
    }
    n.router->shutdown();
  }
}

std::vector<std::string> Node::listening() const {
  return impl_->listen_urls;
}

std::string Node::summary() const {
  const Impl& n = *impl_;
  std::string out =
      fmt::format("psos {} — system {}, node {}\n", PSOS_VERSION, n.system_name(), n.node_name());
  for (const std::string& u : n.listen_urls)
    out += fmt::format("  listening  {}{}\n", u, n.embedded_default ? " (embedded default)" : "");
  out += fmt::format("  uplink     {}\n", n.uplink_text);
  for (const auto& s : n.services) {
    const auto& p = s->definition().params;
    std::string topics;
    if (p.has("sub")) topics += " ← " + fmt::format("{}", fmt::join(p.texts("sub"), ", "));
    if (p.has("pub")) topics += " → " + p.text("pub");
    out += fmt::format("  service    {} ({}){}\n", s->definition().name, s->definition().module,
                       topics);
  }
  out += fmt::format("  control    {}$state, {}$info\n", n.prefix(), n.prefix());
  return out;
}

}  // namespace psos::runtime
