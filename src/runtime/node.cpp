// The node runtime (see node.hpp).
#include "runtime/node.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "bridge/uplink.hpp"
#include "listeners/listener_set.hpp"
#include "modules/module.hpp"
#include "router/persistence.hpp"
#include "router/router.hpp"
#include "runtime/service.hpp"

namespace psos::runtime {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using namespace asio::experimental::awaitable_operators;

namespace {
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
// Restart backoff: 1 s doubling to 60 s; this many failures within kFailureWindow mark a
// service failed (it is not restarted again until someone starts it).
constexpr auto kFirstBackoff = 1s;
constexpr auto kMaxBackoff = 60s;
constexpr unsigned kMaxFailures = 5;
constexpr auto kFailureWindow = 60s;
// A service that keeps the loop busy longer than this is reported by name.
constexpr auto kBlockedReport = 100ms;
constexpr auto kLoopProbe = 50ms;

std::int64_t epoch_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}
}  // namespace

// One service and its supervisor: `done` fires when the supervisor ends.
struct Slot {
  std::unique_ptr<Service> service;
  bool supervised = false;
  std::unique_ptr<asio::steady_timer> done;
};

struct Node::Impl {
  Impl(asio::any_io_executor ex, NodeOptions o) : executor(std::move(ex)), options(std::move(o)) {
    const system::NodeDefinition& d = options.definition;
    state_dir = options.data_dir.empty() ? std::filesystem::path(".psos") / d.system / d.name
                                         : options.data_dir;
  }

  asio::any_io_executor executor;
  NodeOptions options;
  std::filesystem::path state_dir;
  std::unique_ptr<router::Router> router;
  std::unique_ptr<listeners::ListenerSet> listeners;
  std::unique_ptr<bridge::Uplink> uplink;
  std::vector<Slot> slots;  // start order
  std::vector<std::string> listen_urls;
  std::string uplink_text = "none";
  bool embedded_default = false;
  bool stopping = false;
  std::unique_ptr<asio::steady_timer> probe;
  std::vector<std::chrono::microseconds> lag_samples;
  std::function<void(Service&)> service_changed;
  std::function<void(bool)> uplink_changed;

  const std::string& system_name() const { return options.definition.system; }
  const std::string& node_name() const { return options.definition.name; }
  std::string prefix() const { return fmt::format("psos/{}/{}/", system_name(), node_name()); }

  void changed(Service& s) {
    if (service_changed) service_changed(s);
  }

  Slot* find(std::string_view name) {
    const auto it = std::find_if(slots.begin(), slots.end(), [&](const Slot& slot) {
      return slot.service->definition().name == name;
    });
    return it == slots.end() ? nullptr : &*it;
  }

  std::unique_ptr<Service> make_service(const system::ServiceDefinition& sd,
                                        const modules::Module& module) {
    return std::make_unique<Service>(*router, executor, system_name(), node_name(), sd, module.spec,
                                     state_dir / "services");
  }

  asio::awaitable<void> supervise(Service& s) {
    const modules::Run run = modules::find_builtin(s.definition().module)->run;
    auto backoff = std::chrono::duration_cast<std::chrono::milliseconds>(kFirstBackoff);
    std::vector<std::chrono::steady_clock::time_point> failures;
    while (!s.stopping()) {
      s.status = ServiceStatus::Running;
      s.started_ms = epoch_ms();
      changed(s);
      try {
        Service::last_resumed = Service::running = &s;
        co_await run(s);
        s.forget_functions();
        if (s.stopping()) break;
        s.status = ServiceStatus::Finished;
        s.log().info("finished");
        break;
      } catch (const std::exception& e) {
        s.forget_functions();
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
      changed(s);
      s.log().error("failed: {}; restarting in {} ms", s.last_error, backoff.count());
      s.reset();
      asio::steady_timer wait(executor, backoff);
      co_await wait.async_wait(use_tuple);
      backoff =
          std::min(backoff * 2, std::chrono::duration_cast<std::chrono::milliseconds>(kMaxBackoff));
    }
    if (s.stopping() && s.status != ServiceStatus::Failed) s.status = ServiceStatus::Stopped;
    changed(s);
  }

  void spawn(Slot& slot) {
    slot.supervised = true;
    slot.done =
        std::make_unique<asio::steady_timer>(executor, asio::steady_timer::time_point::max());
    Service& s = *slot.service;
    asio::co_spawn(executor, supervise(s),
                   asio::bind_cancellation_slot(s.cancel().slot(), [this, &s](std::exception_ptr) {
                     if (Slot* found = find(s.definition().name);
                         found && found->service.get() == &s) {
                       found->supervised = false;
                       found->done->cancel();
                     }
                   }));
  }

  // Asks the slot's service to stop and waits for its supervisor, the deadline at most.
  asio::awaitable<bool> stop(Slot& slot) {
    if (!slot.supervised) co_return true;
    slot.service->request_stop();
    asio::steady_timer deadline(executor, options.stop_deadline);
    asio::steady_timer& done = *slot.done;
    co_await (done.async_wait(use_tuple) || deadline.async_wait(use_tuple));
    co_return !slot.supervised;
  }

  // Reports the service whose code kept the event loop from running for too long, and keeps
  // the lateness of each probe for take_loop_lag().
  asio::awaitable<void> watch_loop() {
    while (!stopping) {
      const auto before = std::chrono::steady_clock::now();
      probe->expires_after(kLoopProbe);
      co_await probe->async_wait(use_tuple);
      const auto late = std::chrono::steady_clock::now() - before - kLoopProbe;
      if (lag_samples.size() < 100'000)
        lag_samples.push_back(std::chrono::duration_cast<std::chrono::microseconds>(
            std::max(late, std::chrono::steady_clock::duration::zero())));
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

const std::filesystem::path& Node::state_dir() const noexcept {
  return impl_->state_dir;
}

const system::NodeDefinition& Node::definition() const noexcept {
  return impl_->options.definition;
}

asio::any_io_executor Node::executor() const noexcept {
  return impl_->executor;
}

router::Router& Node::router() noexcept {
  return *impl_->router;
}

bridge::Uplink* Node::uplink() noexcept {
  return impl_->uplink.get();
}

const std::string& Node::uplink_name() const noexcept {
  return impl_->uplink_text;
}

bool Node::stopping() const noexcept {
  return impl_->stopping;
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

  // The services are checked before anything opens, so that a refused one leaves no port open.
  for (const system::ServiceDefinition& sd : def.services) {
    if (!sd.enabled) continue;
    const modules::Module* module = modules::find_builtin(sd.module);
    if (module == nullptr)
      return fmt::format("service {}: module {} is not built into this psos", sd.name, sd.module);
    if (module->spec.runs_commands && !n.options.allow_exec)
      return fmt::format(
          "service {}: module {} runs commands on this machine, and this node does not allow "
          "it: start the node with `psos run --allow-exec` to allow it (a definition cannot turn "
          "it on), or set \"enabled\": false on the service",
          sd.name, sd.module);
  }

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
    if (!n.options.will_topic.empty()) {
      client::Will will;
      will.message.topic = n.options.will_topic;
      will.message.payload = n.options.will_payload;
      will.message.qos = mqtt::QoS::AtLeastOnce;
      will.message.retain = true;
      co.session.will = std::move(will);
    }
    if (n.options.uplink_url) n.uplink_text = parsed.url.to_string();
    if (!n.options.data_dir.empty()) co.data_dir = (n.options.data_dir / "uplink").string();
    n.uplink = std::make_unique<bridge::Uplink>(*n.router, n.executor, std::move(co));
    n.uplink->client().on_state([&n](client::State s, const std::string& why) {
      if (s == client::State::Connected) {
        spdlog::info("uplink connected to {}", n.uplink_text);
        if (n.uplink_changed) n.uplink_changed(true);
      } else if (s == client::State::Disconnected) {
        spdlog::warn("uplink: {}", why);
        if (n.uplink_changed) n.uplink_changed(false);
      }
    });
    n.uplink->start();
  }

  for (const system::ServiceDefinition& sd : def.services) {
    if (!sd.enabled) continue;
    n.slots.push_back(Slot{.service = n.make_service(sd, *modules::find_builtin(sd.module))});
  }
  n.probe = std::make_unique<asio::steady_timer>(n.executor);
  for (Slot& slot : n.slots)
    n.spawn(slot);
  asio::co_spawn(n.executor, n.watch_loop(), asio::detached);
  return {};
}

asio::awaitable<void> Node::stop_services() {
  Impl& n = *impl_;
  if (n.stopping) co_return;
  n.stopping = true;
  if (n.probe) n.probe->cancel();
  // Reverse start order: a service stops before the services it feeds were started after it.
  for (auto it = n.slots.rbegin(); it != n.slots.rend(); ++it)
    if (it->supervised) it->service->request_stop();
  std::size_t left = 0;
  const auto deadline = std::chrono::steady_clock::now() + n.options.stop_deadline;
  for (auto it = n.slots.rbegin(); it != n.slots.rend(); ++it) {
    if (!it->supervised) continue;
    asio::steady_timer until(n.executor, deadline);
    co_await (it->done->async_wait(use_tuple) || until.async_wait(use_tuple));
    if (it->supervised) ++left;
  }
  if (left > 0)
    spdlog::warn("{} service(s) did not stop within {} ms", left, n.options.stop_deadline.count());
}

asio::awaitable<void> Node::leave() {
  Impl& n = *impl_;
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
    // close; the in-process sessions stay until the node goes.
    const auto give_up = std::chrono::steady_clock::now() + 2s;
    asio::steady_timer tick(n.executor);
    while (n.router->network_connected_count() > 0 && std::chrono::steady_clock::now() < give_up) {
      tick.expires_after(10ms);
      co_await tick.async_wait(use_tuple);
    }
    n.router->shutdown();
  }
}

asio::awaitable<void> Node::stop() {
  co_await stop_services();
  co_await leave();
}

std::vector<Service*> Node::services() {
  std::vector<Service*> all;
  for (Slot& slot : impl_->slots)
    all.push_back(slot.service.get());
  return all;
}

Service* Node::service(std::string_view name) {
  Slot* slot = impl_->find(name);
  return slot ? slot->service.get() : nullptr;
}

std::string Node::start_service(std::string_view name) {
  Impl& n = *impl_;
  Slot* slot = n.find(name);
  if (!slot) return fmt::format("no service {} on node {}", name, n.node_name());
  if (n.stopping) return "the node is stopping";
  if (slot->supervised) return fmt::format("service {} is running already", name);
  const Service& old = *slot->service;
  std::unique_ptr<Service> fresh =
      n.make_service(old.definition(), *modules::find_builtin(old.definition().module));
  fresh->restarts = old.restarts;
  fresh->counters = old.counters;
  slot->service = std::move(fresh);
  n.spawn(*slot);
  return {};
}

asio::awaitable<std::string> Node::stop_service(std::string_view name) {
  Impl& n = *impl_;
  Slot* slot = n.find(name);
  if (!slot) co_return fmt::format("no service {} on node {}", name, n.node_name());
  if (!slot->supervised)
    co_return fmt::format("service {} is not running ({})", name, to_string(slot->service->status));
  const std::string key(name);
  if (!co_await n.stop(*slot))
    co_return fmt::format("service {} did not stop within {} ms", key,
                          n.options.stop_deadline.count());
  co_return std::string();
}

asio::awaitable<std::string> Node::restart_service(
    std::string_view name, std::optional<system::ServiceDefinition> replacement) {
  Impl& n = *impl_;
  const std::string key(name);
  Slot* slot = n.find(key);
  if (!slot) co_return fmt::format("no service {} on node {}", key, n.node_name());
  if (n.stopping) co_return std::string("the node is stopping");
  if (!co_await n.stop(*slot))
    co_return fmt::format("service {} did not stop within {} ms", key,
                          n.options.stop_deadline.count());
  slot = n.find(key);  // the list may have changed meanwhile
  if (!slot) co_return fmt::format("no service {} on node {}", key, n.node_name());
  const Service& old = *slot->service;
  const system::ServiceDefinition definition = replacement ? *replacement : old.definition();
  std::unique_ptr<Service> fresh =
      n.make_service(definition, *modules::find_builtin(definition.module));
  fresh->restarts = old.restarts + 1;
  fresh->counters = old.counters;
  slot->service = std::move(fresh);
  n.spawn(*slot);
  co_return std::string();
}

asio::awaitable<std::string> Node::apply_definition(system::NodeDefinition after,
                                                    std::vector<std::string> restart) {
  Impl& n = *impl_;
  if (n.stopping) co_return std::string("the node is stopping");
  const auto restarting = [&](std::string_view name) {
    return std::find(restart.begin(), restart.end(), name) != restart.end();
  };
  const auto kept = [&](std::string_view name) {
    return std::any_of(
        after.services.begin(), after.services.end(),
        [&](const system::ServiceDefinition& sd) { return sd.enabled && sd.name == name; });
  };
  for (const system::ServiceDefinition& sd : after.services) {
    if (!sd.enabled) continue;
    const modules::Module* module = modules::find_builtin(sd.module);
    if (module == nullptr)
      co_return fmt::format("service {}: module {} is not built into this psos", sd.name,
                            sd.module);
    if (module->spec.runs_commands && !n.options.allow_exec)
      co_return fmt::format(
          "service {}: module {} runs commands on this machine, and this node "
          "was not started with --allow-exec",
          sd.name, sd.module);
  }
  // Reverse start order, as stop_services() does.
  for (auto it = n.slots.rbegin(); it != n.slots.rend(); ++it) {
    const std::string name = it->service->definition().name;
    if (kept(name) && !restarting(name)) continue;
    if (!co_await n.stop(*it))
      co_return fmt::format("service {} did not stop within {} ms", name,
                            n.options.stop_deadline.count());
  }
  std::vector<Slot> slots;
  std::vector<std::size_t> fresh;
  for (const system::ServiceDefinition& sd : after.services) {
    if (!sd.enabled) continue;
    // Not n.find(): the slots moved from are empty.
    const auto found = std::find_if(n.slots.begin(), n.slots.end(), [&](const Slot& slot) {
      return slot.service && slot.service->definition().name == sd.name;
    });
    Slot* old = found == n.slots.end() ? nullptr : &*found;
    if (old && !restarting(sd.name)) {
      slots.push_back(std::move(*old));
      continue;
    }
    Slot slot{.service = n.make_service(sd, *modules::find_builtin(sd.module))};
    if (old) {
      slot.service->restarts = old->service->restarts + 1;
      slot.service->counters = old->service->counters;
    }
    fresh.push_back(slots.size());
    slots.push_back(std::move(slot));
  }
  n.slots = std::move(slots);
  n.options.definition = std::move(after);
  for (const std::size_t i : fresh)
    n.spawn(n.slots[i]);
  co_return std::string();
}

void Node::on_service_change(std::function<void(Service&)> handler) {
  impl_->service_changed = std::move(handler);
}

void Node::on_uplink_state(std::function<void(bool)> handler) {
  impl_->uplink_changed = std::move(handler);
}

LoopLag Node::take_loop_lag() {
  std::vector<std::chrono::microseconds>& samples = impl_->lag_samples;
  LoopLag lag;
  lag.samples = samples.size();
  if (samples.empty()) return lag;
  std::sort(samples.begin(), samples.end());
  const auto at = [&](double q) {
    return samples[std::min(samples.size() - 1,
                            static_cast<std::size_t>(q * static_cast<double>(samples.size())))];
  };
  lag.p50 = at(0.50);
  lag.p99 = at(0.99);
  lag.max = samples.back();
  samples.clear();
  return lag;
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
  for (const Slot& slot : n.slots) {
    const Service& s = *slot.service;
    const auto& p = s.definition().params;
    std::string topics;
    if (p.has("sub")) topics += " ← " + fmt::format("{}", fmt::join(p.texts("sub"), ", "));
    if (p.has("pub")) topics += " → " + p.text("pub");
    out +=
        fmt::format("  service    {} ({}){}\n", s.definition().name, s.definition().module, topics);
  }
  return out;
}

}  // namespace psos::runtime
