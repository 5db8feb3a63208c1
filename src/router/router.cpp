// The router's Asio shell: hands every event to the broker state and carries out the actions it
// returns. It owns what the state must not: one Asio timer for all the state's timers, the
// persistence (changes recorded, transactions committed once per batch of input), the
// subscription observer and the log.
#include "router/router.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <utility>

#include "router/persistence.hpp"

namespace psos::router {

namespace asio = boost::asio;

namespace {

spdlog::level::level_enum to_spdlog(LogLevel level) {
  switch (level) {
    case LogLevel::debug:
      return spdlog::level::debug;
    case LogLevel::info:
      return spdlog::level::info;
    case LogLevel::warn:
      return spdlog::level::warn;
    case LogLevel::error:
      break;
  }
  return spdlog::level::err;
}

LogLevel least_logged() {
  const spdlog::level::level_enum level = spdlog::default_logger_raw()->level();
  if (level <= spdlog::level::debug) return LogLevel::debug;
  if (level <= spdlog::level::info) return LogLevel::info;
  if (level <= spdlog::level::warn) return LogLevel::warn;
  return LogLevel::error;
}

}  // namespace

struct Router::Shell {
  Shell(asio::any_io_executor ex, Persistence* store)
      : executor(ex),
        wakeup(ex),
        durable(ex, asio::steady_timer::time_point::max()),
        lazy_commit(ex),
        persistence(store) {}

  void arm(const Timer& timer, Clock::time_point at);
  void cancel(const Timer& timer);
  void wake_at(Clock::time_point at);
  void expired();

  asio::any_io_executor executor;
  // The broker's timers: deadline by timer, and the same ordered by deadline. One Asio timer
  // waits for the earliest, so a thousand idle connections cost no thousand Asio timers.
  std::map<Timer, Clock::time_point> armed;
  std::set<std::pair<Clock::time_point, Timer>> queue;
  asio::steady_timer wakeup;
  Clock::time_point wakeup_at = Clock::time_point::max();
  // Never expires: cancelled to wake every wait_durable() when a transaction completes.
  asio::steady_timer durable;
  // Commits a delivered message's removal when no other change does it sooner (kLazyCommit).
  asio::steady_timer lazy_commit;
  bool lazy_commit_armed = false;
  std::optional<asio::executor_work_guard<asio::any_io_executor>> store_work;
  Persistence* persistence;
  bool commit_posted = false;
  bool stopped = false;
  SubscriptionObserver observer;
  // Reused by every call (its capacity kept); a call made while actions are carried out (a log
  // sink that publishes, say) gets one of its own.
  Actions actions;
  bool running = false;
  Router* router = nullptr;
};

// ---------------------------------------------------------------- running the state

template <class Call>
auto Router::run(Call&& call) {
  Shell& shell = *shell_;
  if (shell.running) {
    Actions nested(least_logged());
    if constexpr (std::is_void_v<decltype(call(nested))>) {
      call(nested);
      carry_out(nested);
    } else {
      auto result = call(nested);
      carry_out(nested);
      return result;
    }
  } else {
    shell.running = true;
    shell.actions.set_least(least_logged());
    if constexpr (std::is_void_v<decltype(call(shell.actions))>) {
      call(shell.actions);
      carry_out(shell.actions);
      shell.running = false;
    } else {
      auto result = call(shell.actions);
      carry_out(shell.actions);
      shell.running = false;
      return result;
    }
  }
}

// A message's removal from a queue once its receiver acknowledged it is committed with the next
// transaction, or after this long: no acknowledgement waits for it, and a crash before it is
// stored only makes the restarted broker deliver that message again (QoS 1: a duplicate, which
// QoS 1 allows; QoS 2: PUBREL again). Without the delay, each acknowledgement from a subscriber
// would make a transaction of its own that the next message's transaction must wait for.
constexpr auto kLazyCommit = std::chrono::milliseconds(10);

// Carries out one action of each kind.
struct Router::Carry {
  Router& router;
  bool stored = false;   // a change was recorded: commit it
  bool removed = false;  // a delivered message was removed from its queue: commit it soon

  void operator()(action::Send& a) const { a.link->send(*a.packet); }
  void operator()(const action::Acknowledge& a) const { a.link->send(packet_of(a)); }
  void operator()(const action::Publish& a) const {
    a.link->send_publish(a.delivery, a.packet_id, a.dup);
  }
  void operator()(const action::Close& a) const { a.link->close(); }
  void operator()(const action::Pause& a) const { a.link->pause(); }
  void operator()(const action::Resume& a) const { a.link->resume(); }
  void operator()(const action::Arm& a) const {
    Shell& shell = *router.shell_;
    if (!shell.stopped) shell.arm(a.timer, Clock::now() + a.after);
  }
  void operator()(const action::Cancel& a) const { router.shell_->cancel(a.timer); }
  void operator()(action::Store& a) {
    if (Persistence* p = router.shell_->persistence) {
      (std::holds_alternative<store::EraseQueued>(a.change) ? removed : stored) = true;
      p->record(std::move(a.change));
    }
  }
  void operator()(const action::SubscriptionChanged& a) const {
    if (const auto& observer = router.shell_->observer) observer(a.session, a.filter, a.added);
  }
  void operator()(const action::Log& a) const {
    spdlog::default_logger_raw()->log(to_spdlog(a.level), a.text);
  }
};

void Router::carry_out(Actions& actions) {
  Carry carry{*this};
  for (Action& a : actions.list())
    std::visit(carry, a);
  actions.clear();
  Shell& shell = *shell_;
  if (carry.stored && !shell.commit_posted) {
    // Changes made while handling one batch of input are committed together (group commit); a
    // link about to write commits first anyway.
    shell.commit_posted = true;
    asio::post(shell.executor, [this] {
      shell_->commit_posted = false;
      commit();
    });
  } else if (carry.removed && !shell.lazy_commit_armed && !shell.stopped) {
    shell.lazy_commit_armed = true;
    shell.lazy_commit.expires_after(kLazyCommit);
    shell.lazy_commit.async_wait([this](const boost::system::error_code& ec) {
      if (ec) return;  // stopped (the router may be gone)
      shell_->lazy_commit_armed = false;
      commit();
    });
  }
}

// ---------------------------------------------------------------- timers

void Router::Shell::arm(const Timer& timer, Clock::time_point at) {
  cancel(timer);
  armed.emplace(timer, at);
  queue.emplace(at, timer);
  if (at < wakeup_at) wake_at(at);
}

void Router::Shell::cancel(const Timer& timer) {
  const auto it = armed.find(timer);
  if (it == armed.end()) return;
  queue.erase({it->second, timer});
  armed.erase(it);
}

void Router::Shell::wake_at(Clock::time_point at) {
  wakeup_at = at;
  wakeup.expires_at(at);
  wakeup.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;  // moved, or stopped (the router may be gone)
    wakeup_at = Clock::time_point::max();
    expired();
  });
}

void Router::Shell::expired() {
  // One timer at a time: each may arm or cancel others.
  while (!stopped && !queue.empty() && queue.begin()->first <= Clock::now()) {
    const Timer timer = queue.begin()->second;
    queue.erase(queue.begin());
    armed.erase(timer);
    router->run([&](Actions& out) { router->broker_.timer_fired(timer, out); });
  }
  if (!stopped && !queue.empty() && queue.begin()->first < wakeup_at) wake_at(queue.begin()->first);
}

// ---------------------------------------------------------------- lifecycle

Router::Router(asio::any_io_executor executor, RouterOptions options)
    : broker_(options), shell_(std::make_unique<Shell>(executor, options.persistence.get())) {
  shell_->router = this;
  StoredState stored;
  if (Persistence* p = shell_->persistence) {
    stored = p->load();
    p->on_durable([executor](std::function<void()> f) { asio::post(executor, std::move(f)); },
                  [this](std::uint64_t) {
                    // The executor may run out of other work while a transaction is written: keep
                    // it until the store is idle.
                    if (!shell_->persistence->busy()) shell_->store_work.reset();
                    shell_->durable.cancel();
                  });
  }
  run([&](Actions& out) { broker_.start(std::move(stored), out); });
}

Router::~Router() {
  shutdown();
  // The store may outlive the router (RouterOptions holds it): its last sync must not call back.
  if (shell_->persistence != nullptr) shell_->persistence->stop_notifying();
}

void Router::shutdown() {
  Shell& shell = *shell_;
  if (shell.stopped) return;
  shell.stopped = true;
  shell.armed.clear();
  shell.queue.clear();
  shell.wakeup.cancel();
  shell.lazy_commit.cancel();
  if (shell.persistence != nullptr) shell.persistence->sync();
  shell.store_work.reset();
  shell.durable.cancel();
}

// ---------------------------------------------------------------- persistence

std::uint64_t Router::commit() {
  Shell& shell = *shell_;
  if (shell.persistence == nullptr) return 0;
  const std::uint64_t transaction = shell.persistence->commit();
  if (shell.persistence->busy() && !shell.store_work) shell.store_work.emplace(shell.executor);
  return transaction;
}

asio::awaitable<void> Router::wait_durable(std::uint64_t transaction) {
  Shell& shell = *shell_;
  while (shell.persistence != nullptr && shell.persistence->durable() < transaction)
    co_await shell.durable.async_wait(asio::as_tuple(asio::use_awaitable));
}

// ---------------------------------------------------------------- events

ConnectResult Router::connect(Link& link, const mqtt::Connect& packet, const ConnectionInfo& info) {
  return run([&](Actions& out) { return broker_.connect(link, packet, info, out); });
}

mqtt::ReasonCode Router::authenticate(const mqtt::Connect& packet) const {
  return broker_.authenticate(packet);
}

void Router::handle(SessionId session, Link& link, const mqtt::Packet& packet) {
  run([&](Actions& out) { broker_.handle(session, link, packet, out); });
}

void Router::connection_lost(SessionId session, Link& link) {
  run([&](Actions& out) { broker_.connection_lost(session, link, out); });
}

void Router::link_drained(SessionId session) {
  run([&](Actions& out) { broker_.drained(session, out); });
}

void Router::publish_discarded(SessionId session, Link& link, std::uint16_t packet_id) {
  run([&](Actions& out) { broker_.publish_discarded(session, link, packet_id, out); });
}

void Router::publish(MessagePtr message) {
  run([&](Actions& out) { broker_.publish(std::move(message), out); });
}

void Router::close_all(mqtt::ReasonCode reason) {
  run([&](Actions& out) { broker_.close_all(reason, out); });
}

void Router::observe_subscriptions(SubscriptionObserver observer) {
  shell_->observer = std::move(observer);
  if (!shell_->observer) return;
  broker_.for_each_subscription([&](SessionId session, const std::string& filter) {
    shell_->observer(session, filter, true);
  });
}

}  // namespace psos::router
