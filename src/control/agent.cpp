// The control plane (see agent.hpp): presence, $info, $metrics, $log and taking requests in.
#include "control/agent.hpp"

#include <fmt/format.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fstream>

#include "bridge/uplink.hpp"
#include "control/agent_impl.hpp"
#include "control/reply.hpp"
#include "mqtt/topic.hpp"
#include "router/router.hpp"
#include "runtime/safe_mode.hpp"
#include "script/script.hpp"
#include "system/arguments.hpp"

namespace psos::control {

namespace asio = boost::asio;
using nlohmann::json;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

std::string platform() {
  utsname u{};
  if (::uname(&u) != 0) return "unknown";
  return fmt::format("{} {} {}", u.sysname, u.release, u.machine);
}

std::int64_t epoch_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

double ms(std::chrono::microseconds us) {
  return static_cast<double>(us.count()) / 1000.0;
}

}  // namespace

Agent::Impl::Impl(runtime::Node& n, AgentOptions o)
    : node(n),
      options(std::move(o)),
      executor(n.executor()),
      prefix(n.control_prefix()),
      buffer(n.definition().log_buffer) {}

std::int64_t Agent::Impl::now_ms() const {
  return epoch_ms();
}

bool Agent::Impl::uplink_connected() {
  bridge::Uplink* uplink = node.uplink();
  return uplink == nullptr || uplink->client().state() == client::State::Connected;
}

// ---- presence and $info ----

void Agent::Impl::publish_state(std::string_view new_state) {
  state = new_state;
  control->publish(prefix + "$state", state, mqtt::QoS::AtLeastOnce, true);
}

void Agent::Impl::schedule_info() {
  if (info_posted) return;
  info_posted = true;
  asio::post(executor, [this, alive = alive] {
    if (!*alive) return;
    info_posted = false;
    control->publish(prefix + "$info", info_json().dump(), mqtt::QoS::AtLeastOnce, true);
  });
}

json Agent::Impl::service_json(runtime::Service& s) {
  json sub = json::array(), pub = json::array();
  const modules::Params& p = s.definition().params;
  for (const modules::ParamSpec& spec : s.spec().params) {
    if (!p.has(spec.name)) continue;
    const bool filters =
        spec.type == modules::ParamType::Filter || spec.type == modules::ParamType::Filters;
    // A Topic parameter is published to, but for `request` ones, where queries come in.
    if (filters || (spec.type == modules::ParamType::Topic && spec.name == "request")) {
      for (const std::string& f : spec.type == modules::ParamType::Filters
                                      ? p.texts(spec.name)
                                      : std::vector<std::string>{p.text(spec.name)})
        sub.push_back(f);
    } else if (spec.type == modules::ParamType::Topic) {
      pub.push_back(p.text(spec.name));
    } else if (spec.type == modules::ParamType::ObjectList) {
      for (const json& item : p.json(spec.name))
        if (item.is_object() && item.contains("pub") && item["pub"].is_string())
          pub.push_back(item["pub"]);
    }
  }
  json functions = json::array();
  for (const modules::FunctionSpec* f : s.function_specs())
    functions.push_back(f->name);
  return {{"name", s.definition().name},
          {"module", s.definition().module},
          {"status", runtime::to_string(s.status)},
          {"restarts", s.restarts},
          {"started", s.started_ms},
          {"error", s.last_error},
          {"sub", sub},
          {"pub", pub},
          {"functions", functions}};
}

json Agent::Impl::info_json() {
  const system::NodeDefinition& def = node.definition();
  json services = json::array();
  for (runtime::Service* s : node.services())
    services.push_back(service_json(*s));
  return {{"version", PSOS_VERSION},
          {"platform", platform()},
          {"system", def.system},
          {"node", def.name},
          {"state", state},
          {"definition", options.definition_hash},
          {"started", started_ms},
          {"boot", boot},
          {"uplink", node.uplink_name()},
          {"listen", node.listening()},
          {"pid", ::getpid()},
          {"safe_mode", options.safe_mode_reason.empty() ? json() : json(options.safe_mode_reason)},
          {"last_crash", options.last_crash},
          {"revision", options.revision != 0 ? json(options.revision) : json()},
          {"services", services}};
}

// ---- $log ----

void Agent::Impl::attach_log(spdlog::logger& logger) {
  auto& sinks = logger.sinks();
  if (std::find(sinks.begin(), sinks.end(), tap) == sinks.end()) sinks.push_back(tap);
}

spdlog::level::level_enum Agent::Impl::remote_level_of(std::string_view service) const {
  const auto it = service_levels.find(service);
  return it != service_levels.end() ? it->second : remote_level;
}

// A logger passes on what either its standard error sink or $log wants; each sink filters for
// itself.
void Agent::Impl::apply_levels(runtime::Service& s) {
  spdlog::logger& logger = s.log();
  attach_log(logger);
  for (auto& sink : logger.sinks())
    if (sink != tap) sink->set_level(local_level);
  tap->set_level(spdlog::level::trace);
  logger.set_level(std::min(local_level, remote_level_of(s.service())));
}

void Agent::Impl::schedule_log() {
  if (log_posted) return;
  log_posted = true;
  asio::post(executor, [this, alive = alive] {
    if (!*alive) return;
    log_posted = false;
    flush_log();
  });
}

// Takes the tap's records into the buffer (those at or above their remote level), then publishes
// the buffer while the uplink is up. The node's own services count their error records here.
void Agent::Impl::flush_log() {
  for (LogRecord& record : tap->take()) {
    if (record.level >= spdlog::level::err && !record.service.empty())
      if (runtime::Service* s = node.service(record.service)) ++s->counters.errors;
    if (record.level < remote_level_of(record.service)) continue;
    buffer.push(std::move(record));
  }
  if (!uplink_connected()) return;
  while (std::optional<LogRecord> record = buffer.pop())
    control->publish(prefix + "$log", to_json(*record, buffer.take_dropped()),
                     mqtt::QoS::AtLeastOnce, false);
}

// ---- $metrics ----

json Agent::Impl::metrics_json() {
  const runtime::LoopLag lag = node.take_loop_lag();
  json services = json::object();
  for (runtime::Service* s : node.services())
    services[s->service()] = {{"in", s->counters.messages_in},
                              {"out", s->counters.messages_out},
                              {"errors", s->counters.errors},
                              {"restarts", s->restarts},
                              {"pending", s->pending()}};
  const router::Router& r = node.router();
  const router::RouterStats& rs = r.stats();
  json uplink = nullptr;
  if (bridge::Uplink* u = node.uplink())
    uplink = {{"connected", u->client().state() == client::State::Connected},
              {"queued", u->client().queued()},
              {"reconnects", u->client().reconnects()}};
  json refusals = json::object();
  for (std::size_t i = 0; i < kRefusalCodeCount; ++i)
    if (refused[i] > 0) refusals[std::string(code_name(static_cast<RefusalCode>(i)))] = refused[i];
  return {{"ts", now_ms()},
          {"uptime", (now_ms() - started_ms) / 1000},
          {"rss", resident_bytes()},
          {"cpu", std::round(cpu.percent() * 10) / 10},
          {"loop_lag_ms", {{"p50", ms(lag.p50)}, {"p99", ms(lag.p99)}, {"max", ms(lag.max)}}},
          {"services", services},
          {"router",
           {{"sessions", r.session_count()},
            {"subscriptions", r.subscription_count()},
            {"retained", r.retained_count()},
            {"in", rs.messages_received},
            {"out", rs.messages_sent},
            {"dropped", rs.messages_dropped}}},
          {"uplink", uplink},
          {"log", {{"buffered", buffer.size()}}},
          {"commands", {{"accepted", accepted}, {"failed", failed}, {"refused", refusals}}}};
}

asio::awaitable<void> Agent::Impl::metrics_loop() {
  // A deploy that changes "metrics" starts another loop: this one then ends.
  const unsigned generation = ++metrics_generation;
  const auto interval = node.definition().metrics;
  if (interval.count() <= 0) co_return;
  auto alive_now = alive;
  cpu.percent();  // the first report covers the first interval only
  while (*alive_now && !stopping && generation == metrics_generation) {
    metrics_timer->expires_after(interval);
    co_await metrics_timer->async_wait(use_tuple);
    if (!*alive_now || stopping || generation != metrics_generation) break;
    control->publish(prefix + "$metrics", metrics_json().dump(), mqtt::QoS::AtMostOnce, false);
  }
}

// ---- requests ----

void Agent::Impl::reply(const router::Message& request, const std::optional<std::string>& topic,
                        std::string payload) {
  router::Message m;
  if (request.response_topic) {
    m.topic = *request.response_topic;
    m.correlation_data = request.correlation_data;
  } else if (topic) {
    m.topic = *topic;
  } else {
    return;  // nowhere to answer
  }
  // Anyone may name a reply topic, signed or not: never one the node's own contracts give a
  // meaning to (the control plane, $SYS, local/ topics).
  if (mqtt::validate_topic_name(m.topic) || m.topic.starts_with("psos/") ||
      m.topic.starts_with("$") || m.topic.starts_with("local/")) {
    spdlog::warn("control: not answering to {}: replies go to a topic of the caller's own",
                 m.topic);
    return;
  }
  m.payload = std::move(payload);
  m.qos = mqtt::QoS::AtLeastOnce;
  control->publish(std::move(m));
}

void Agent::Impl::on_control_message(const router::MessagePtr& message,
                                     const router::Delivery& delivery) {
  const std::string& topic = message->topic;
  if (topic == prefix + "$state") {
    // Our own will, published by a broker after we were back (a restarted broker publishes the
    // wills it restored): say again what is true.
    if (message->payload != state && !stopping &&
        (state == "ready" || state == "safe" || state == "init")) {
      spdlog::info("control: {}$state read \"{}\" while the node is {}: announcing it again",
                   prefix, message->payload, state);
      publish_state(state);
      schedule_info();
    }
    return;
  }
  if (on_deploy_message(message)) return;
  const std::string cmd_prefix = prefix + "$cmd/";
  if (!topic.starts_with(cmd_prefix)) return;
  const std::string verb = topic.substr(cmd_prefix.size());
  // An empty payload is how a retained message is cleared, not a request: nothing to answer.
  if (message->payload.empty()) return;
  CheckResult checked =
      gate->check(verb, message->payload, delivery.retain || message->retain, now_ms());
  if (Refusal* refusal = std::get_if<Refusal>(&checked)) {
    ++refused[static_cast<std::size_t>(refusal->code)];
    spdlog::warn("control: refused a {} request: {} ({})", verb, refusal->message,
                 code_name(refusal->code));
    reply(*message, refusal->reply, encode_refusal(*refusal));
    return;
  }
  ++accepted;
  asio::co_spawn(executor, execute(std::move(std::get<Accepted>(checked)), message),
                 asio::detached);
}

asio::awaitable<void> Agent::Impl::execute(Accepted accepted_request, router::MessagePtr message) {
  auto alive_now = alive;
  const Request& request = accepted_request.request;
  std::string payload;
  try {
    const Verb* verb = find_verb(request.verb);
    if (!verb) {
      std::string known;
      for (const Verb& v : verbs())
        known += (known.empty() ? "" : ", ") + v.spec.name;
      throw VerbError("unknown_verb", "no verb " + request.verb + " (verbs: " + known + ")");
    }
    const system::CheckedArguments args =
        system::check_arguments(verb->spec.args, request.args, "of " + request.verb);
    if (!args.ok()) throw VerbError("invalid_args", args.errors.front());
    spdlog::info("control: {} by {}", request.verb,
                 accepted_request.signer.empty() ? request.key : accepted_request.signer);
    const json result = co_await verb->run(*this, args.values);
    payload = encode_result(request.id, result);
  } catch (const VerbError& e) {
    payload = encode_error(request.id, e.code, e.what());
  } catch (const runtime::CallError& e) {
    payload = encode_error(request.id, e.code(), e.what());
  } catch (const std::exception& e) {
    payload = encode_error(request.id, "failed", e.what());
  }
  if (!*alive_now) co_return;
  if (payload.find("\"ok\":false") != std::string::npos) ++failed;
  reply(*message, request.reply, std::move(payload));
}

// ---- Agent ----

Agent::Agent(runtime::Node& node, AgentOptions options)
    : impl_(std::make_unique<Impl>(node, std::move(options))) {}

Agent::~Agent() {
  Impl& a = *impl_;
  *a.alive = false;
  if (a.tap) {
    auto remove = [&](spdlog::logger& logger) {
      auto& sinks = logger.sinks();
      sinks.erase(std::remove(sinks.begin(), sinks.end(), a.tap), sinks.end());
    };
    remove(*spdlog::default_logger());
    for (runtime::Service* s : a.node.services())
      remove(s->log());
  }
}

void Agent::start() {
  Impl& a = *impl_;
  const system::NodeDefinition& def = a.node.definition();
  a.started_ms = epoch_ms();
  a.boot = next_boot(a.node.state_dir());
  a.gate = std::make_unique<RequestGate>(def.system, def.name, a.options.trusted, a.started_ms,
                                         GateOptions{.skew_ms = a.options.skew.count()});

  // The log: every logger keeps its level for standard error; $log gets what its levels allow.
  a.local_level = spdlog::default_logger()->level();
  a.remote_level = spdlog::level::from_str(def.log_level);
  for (const auto& [service, level] : def.service_log_levels)
    a.service_levels[service] = spdlog::level::from_str(level);
  a.tap = std::make_shared<LogTap>([ex = a.executor, alive = std::weak_ptr<bool>(a.alive), &a] {
    asio::post(ex, [alive, &a] {
      if (auto live = alive.lock(); live && *live) a.schedule_log();
    });
  });
  spdlog::logger& node_log = *spdlog::default_logger();
  a.attach_log(node_log);
  for (auto& sink : node_log.sinks())
    if (sink != a.tap) sink->set_level(a.local_level);
  node_log.set_level(std::min(a.local_level, a.remote_level));
  for (runtime::Service* s : a.node.services())
    a.apply_levels(*s);

  a.control = std::make_unique<router::LocalClient>(
      a.node.router(), a.executor, "psos:" + def.name + ":control",
      [&a](const router::MessagePtr& m, const router::Delivery& d) { a.on_control_message(m, d); });
  a.publish_state("init");
  a.control->subscribe(a.prefix + "$state", /*no_local=*/true);
  a.control->subscribe(a.prefix + "$cmd/+", /*no_local=*/true);
  a.start_deploys();

  a.node.on_service_change([&a](runtime::Service& s) {
    a.apply_levels(s);
    a.schedule_info();
  });
  a.node.on_uplink_state([&a](bool connected) {
    if (!connected || a.stopping) return;
    // Presence first, then what the log held while the uplink was down.
    a.publish_state(a.state);
    a.schedule_info();
    a.schedule_log();
  });

  // Ready once the services have had their first turn on the loop.
  asio::post(a.executor, [&a, alive = a.alive] {
    if (!*alive || a.stopping) return;
    a.publish_state(a.options.safe_mode_reason.empty() ? "ready" : "safe");
    a.schedule_info();
  });
  a.metrics_timer = std::make_unique<asio::steady_timer>(a.executor);
  asio::co_spawn(a.executor, a.metrics_loop(), asio::detached);
}

asio::awaitable<void> Agent::stop() {
  Impl& a = *impl_;
  if (a.stopping) co_return;
  a.stopping = true;
  if (a.metrics_timer) a.metrics_timer->cancel();
  co_await a.node.stop_services();
  if (a.control) {
    a.flush_log();
    a.control->publish(a.prefix + "$info", a.info_json().dump(), mqtt::QoS::AtLeastOnce, true);
    a.publish_state("stopped");
  }
  co_await a.node.leave();
}

void Agent::leave_safe_mode() {
  Impl& a = *impl_;
  if (a.options.safe_mode_reason.empty()) return;
  runtime::leave_safe_mode_on_next_start(a.node.state_dir());
  a.options.safe_mode_reason.clear();
  spdlog::info("safe mode: left");
  if (a.state == "safe") a.publish_state("ready");
  a.schedule_info();
  if (a.options.left_safe_mode) a.options.left_safe_mode();
}

void Agent::set_revision(std::uint64_t revision) {
  impl_->options.revision = revision;
  impl_->schedule_info();
}

std::uint64_t Agent::boot() const noexcept {
  return impl_->boot;
}

std::string Agent::summary() const {
  const Impl& a = *impl_;
  std::string out =
      fmt::format("  control    {}$state $info $metrics $log $cmd/<verb>\n", a.prefix);
  if (a.options.trusted.empty()) {
    out += "  trusted    no key: every command is refused\n";
  } else {
    for (const TrustedKey& k : a.options.trusted)
      out += fmt::format("  trusted    {}{}\n", k.key.to_string(),
                         k.name.empty() ? "" : " (" + k.name + ")");
  }
  return out;
}

// ---- files in the state directory ----

std::uint64_t next_boot(const std::filesystem::path& state_dir) {
  std::filesystem::create_directories(state_dir);
  const auto path = state_dir / "boot";
  std::uint64_t boot = 0;
  if (std::ifstream in(path); in) in >> boot;
  ++boot;
  const auto temporary = state_dir / "boot.tmp";
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << boot << "\n";
    if (!out) throw std::runtime_error("cannot write " + temporary.string());
  }
  std::filesystem::rename(temporary, path);
  return boot;
}

}  // namespace psos::control
