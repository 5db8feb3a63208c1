// The client's Asio loop around Session: connect with backoff, read, write, keep-alive and the
// half-open watchdog, completion of the callers' operations, and the durable queue.
#include "client/client.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <deque>
#include <random>
#include <unordered_map>

#include "client/durable_queue.hpp"
#include "mqtt/topic.hpp"

namespace psos::client {

using namespace asio::experimental::awaitable_operators;
using Clock = std::chrono::steady_clock;
namespace {
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr auto kForever = Clock::time_point::max();

class ClientCategory final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "psos.client"; }
  std::string message(int value) const override {
    switch (static_cast<Errc>(value)) {
      case Errc::QueueFull:
        return "the offline queue is full";
      case Errc::TooLarge:
        return "the message is larger than the broker's Maximum Packet Size";
      case Errc::InvalidTopic:
        return "invalid topic";
      case Errc::Stopped:
        return "the client was stopped";
    }
    return "unknown client error";
  }
};

class MqttCategory final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "mqtt"; }
  std::string message(int value) const override {
    return fmt::format("{} (0x{:02X})", mqtt::reason_name(static_cast<mqtt::ReasonCode>(value)),
                       value);
  }
};
}  // namespace

const boost::system::error_category& client_category() noexcept {
  static const ClientCategory category;
  return category;
}
const boost::system::error_category& mqtt_category() noexcept {
  static const MqttCategory category;
  return category;
}
error_code make_error_code(Errc e) noexcept {
  return {static_cast<int>(e), client_category()};
}
error_code make_error_code(mqtt::ReasonCode reason) noexcept {
  return {static_cast<int>(reason), mqtt_category()};
}

std::string_view to_string(State state) noexcept {
  switch (state) {
    case State::Disconnected:
      return "disconnected";
    case State::Connecting:
      return "connecting";
    case State::Connected:
      return "connected";
    case State::Stopped:
      return "stopped";
  }
  return "?";
}

// ---- subscriptions ----

struct Subscription::State {
  std::string filter;        // as subscribed
  std::string match_filter;  // without $share/group/
  std::deque<MessagePtr> inbox;
  // std::optional: Boost 1.81's any_completion_handler move assignment recurses forever (it
  // wraps the source as a new handler); only its move constructor is safe.
  std::optional<asio::any_completion_handler<void(error_code, MessagePtr)>> waiter;
  asio::any_io_executor executor;
  std::size_t* inbox_total = nullptr;  // the client's count, while it lives
  std::function<void()> on_taken;
  bool closed = false;

  void complete(error_code ec, MessagePtr message) {
    if (!waiter) return;
    if (auto slot = waiter->get_cancellation_slot(); slot.is_connected()) slot.clear();
    asio::post(executor, [h = std::move(*waiter), ec, m = std::move(message)]() mutable {
      std::move(h)(ec, std::move(m));
    });
    waiter.reset();
  }
  void take() {
    MessagePtr m = std::move(inbox.front());
    inbox.pop_front();
    if (inbox_total != nullptr) --*inbox_total;
    complete({}, std::move(m));
    if (on_taken) on_taken();
  }
  void end() {
    closed = true;
    if (inbox.empty()) complete(make_error_code(Errc::Stopped), nullptr);
  }
};

void Subscription::start_next(const std::shared_ptr<State>& state,
                              asio::any_completion_handler<void(error_code, MessagePtr)> handler) {
  if (!state) throw std::logic_error("Subscription::next() on a subscription that was never made");
  state->waiter.emplace(std::move(handler));
  if (!state->inbox.empty()) {
    state->take();
    return;
  }
  if (state->closed) {
    state->complete(make_error_code(Errc::Stopped), nullptr);
    return;
  }
  if (auto slot = state->waiter->get_cancellation_slot(); slot.is_connected()) {
    slot.assign([weak = std::weak_ptr<State>(state)](asio::cancellation_type) {
      if (auto s = weak.lock()) s->complete(asio::error::operation_aborted, nullptr);
    });
  }
}

std::size_t Subscription::pending() const noexcept {
  return state_ ? state_->inbox.size() : 0;
}
const std::string& Subscription::filter() const noexcept {
  static const std::string none;
  return state_ ? state_->filter : none;
}
void Subscription::close() {
  if (!state_) return;
  if (state_->inbox_total != nullptr) *state_->inbox_total -= state_->inbox.size();
  state_->inbox.clear();
  state_->end();
}

// ---- the client ----

struct Client::Impl final : SessionEvents,
                            Session::FlowObserver,
                            std::enable_shared_from_this<Client::Impl> {
  struct PublishWaiter {
    asio::any_completion_handler<void(error_code)> handler;
  };
  struct SubscribeWaiter {
    asio::any_completion_handler<void(error_code, Subscription)> handler;
    std::shared_ptr<Subscription::State> subscription;
  };

  Impl(asio::any_io_executor ex, ClientOptions o)
      : executor(std::move(ex)),
        options(std::move(o)),
        session(options.session, *this),
        wake(executor),
        state_changed(executor),
        stop_signal(executor),
        inbox_space(executor),
        random(std::random_device{}()) {
    wake.expires_at(kForever);
    state_changed.expires_at(kForever);
    stop_signal.expires_at(kForever);
    inbox_space.expires_at(kForever);
  }

  // ---- SessionEvents ----
  void on_connack(const ConnackInfo& info) override {
    if (mqtt::is_failure(info.reason)) refused = true;
  }
  void on_message(MessagePtr message) override {
    if (message_handler) message_handler(message);
    for (auto it = subscriptions.begin(); it != subscriptions.end();) {
      auto& s = **it;
      if (s.closed) {
        it = subscriptions.erase(it);
        continue;
      }
      if (mqtt::topic_matches(s.match_filter, message->topic)) {
        s.inbox.push_back(message);
        ++inbox_total;
        if (s.waiter) s.take();
      }
      ++it;
    }
  }
  void on_publish_done(Token token, mqtt::ReasonCode reason) override {
    if (durable) durable->remove(token);
    auto it = publishes.find(token);
    if (it == publishes.end()) return;
    auto waiter = std::move(it->second);
    publishes.erase(it);
    complete(std::move(waiter.handler),
             mqtt::is_failure(reason) ? make_error_code(reason) : error_code{});
  }
  void on_subscribe_done(Token token, const std::vector<mqtt::ReasonCode>& reasons) override {
    auto it = subscribes.find(token);
    if (it == subscribes.end()) return;
    auto waiter = std::move(it->second);
    subscribes.erase(it);
    const mqtt::ReasonCode reason =
        reasons.empty() ? mqtt::ReasonCode::UnspecifiedError : reasons.front();
    if (mqtt::is_failure(reason)) {
      waiter.subscription->end();
      complete_subscribe(std::move(waiter.handler), make_error_code(reason), {});
    } else {
      complete_subscribe(std::move(waiter.handler), {}, Subscription(waiter.subscription));
    }
  }
  void on_unsubscribe_done(Token token) override {
    auto it = unsubscribes.find(token);
    if (it == unsubscribes.end()) return;
    auto handler = std::move(it->second);
    unsubscribes.erase(it);
    complete(std::move(handler), {});
  }
  void on_dropped(Token) override { ++dropped; }

  // ---- FlowObserver (durable queue) ----
  void on_sent(Token token, std::uint16_t packet_id) override {
    if (durable) durable->sent(token, packet_id);
  }
  void on_released(Token token) override {
    if (durable) durable->released(token);
  }
  void on_ids_reset() override {
    if (durable) durable->reset_ids();
  }

  // ---- completions ----
  void complete(asio::any_completion_handler<void(error_code)> handler, error_code ec) {
    if (auto slot = handler.get_cancellation_slot(); slot.is_connected()) slot.clear();
    asio::post(executor, [h = std::move(handler), ec]() mutable { std::move(h)(ec); });
  }
  void complete_subscribe(asio::any_completion_handler<void(error_code, Subscription)> handler,
                          error_code ec, Subscription subscription) {
    if (auto slot = handler.get_cancellation_slot(); slot.is_connected()) slot.clear();
    asio::post(executor, [h = std::move(handler), ec, s = std::move(subscription)]() mutable {
      std::move(h)(ec, std::move(s));
    });
  }

  void set_state(State s, const std::string& reason) {
    if (!reason.empty()) last_error = reason;
    if (s == state) return;
    state = s;
    state_changed.cancel();
    if (state_handler) state_handler(s, reason);
  }

  void flush() {
    if (session.has_output()) wake.cancel();
  }

  // Group commit: everything added during this turn of the event loop is committed together,
  // connected or not, so that a message publish() accepted survives a crash soon after.
  void schedule_commit() {
    if (commit_posted) return;
    commit_posted = true;
    asio::post(executor, [weak = weak_from_this()] {
      if (auto self = weak.lock()) {
        self->commit_posted = false;
        if (self->durable) self->durable->commit();
      }
    });
  }

  std::chrono::seconds keep_alive() const {
    const auto& c = session.connack();
    return std::chrono::seconds(c.server_keep_alive ? *c.server_keep_alive
                                                    : options.session.keep_alive);
  }

  // ---- the connection loop ----
  asio::awaitable<void> run() {
    auto self = shared_from_this();
    unsigned attempt = 0;
    bool ever_connected = false;
    while (!stopping) {
      set_state(State::Connecting, {});
      refused = false;
      const auto began = Clock::now();
      Clock::time_point connected_at{};
      std::string reason = co_await connect_once(connected_at);
      if (stopping) break;
      const bool was_connected = connected_at != Clock::time_point{};
      if (was_connected) {
        ever_connected = true;
        if (Clock::now() - connected_at >= options.reconnect.stable_after) attempt = 0;
      }
      if ((!ever_connected && !options.reconnect.retry_first_connect) ||
          (refused && !options.reconnect.retry_on_refusal)) {
        stop_reason = reason;
        break;
      }
      set_state(State::Disconnected, reason);
      const auto delay = backoff(attempt++);
      spdlog::debug("client {}: {}; retrying in {} ms", options.url.to_string(), reason,
                    delay.count());
      (void)began;
      asio::steady_timer timer(executor, delay);
      co_await (timer.async_wait(use_tuple) || stop_signal.async_wait(use_tuple));
    }
    finish();
  }

  std::chrono::milliseconds backoff(unsigned attempt) {
    const auto& r = options.reconnect;
    auto delay = r.initial_delay;
    for (unsigned i = 0; i < attempt && delay < r.max_delay; ++i)
      delay *= 2;
    delay = std::min(delay, r.max_delay);
    std::uniform_int_distribution<long> pick(delay.count() / 2, std::max<long>(delay.count(), 1));
    return std::chrono::milliseconds(pick(random));
  }

  // One connection, from DNS to its end; returns why it ended.
  asio::awaitable<std::string> connect_once(Clock::time_point& connected_at) {
    spdlog::debug("client {}: connecting", options.url.to_string());
    asio::steady_timer timeout(executor, options.connect_timeout);
    auto result = co_await (net::connect(executor, options.url, options.tls) ||
                            timeout.async_wait(use_tuple) || stop_signal.async_wait(use_tuple));
    if (result.index() != 0) {
      if (stopping) co_return "stopped";
      co_return fmt::format("could not connect to {} within {} ms", options.url.to_string(),
                            options.connect_timeout.count());
    }
    net::ConnectResult connected = std::move(std::get<0>(result));
    if (!connected.ok()) co_return connected.error;
    stream = std::move(connected.stream);
    spdlog::debug("client {}: {} connection made, sending CONNECT", options.url.to_string(),
                  stream->transport());
    session.connection_started();
    closing = false;
    closing_at.reset();  // else every connection after the first gets no time to say goodbye
    half_open = false;
    close_reason.clear();
    last_read = last_write = connection_began = Clock::now();
    ping_outstanding = false;
    co_await (read_loop(connected_at) || write_loop() || watchdog());
    session.connection_lost();
    // A half-open connection will never answer a graceful close: waiting for its FIN would only
    // delay the reconnect by Stream::kCloseGrace. The socket is closed when the stream goes.
    if (!half_open) co_await stream->close();
    stream.reset();
    co_return close_reason.empty() ? std::string("connection closed") : close_reason;
  }

  void end_connection(std::string reason) {
    if (close_reason.empty()) close_reason = std::move(reason);
    closing = true;
    wake.cancel();
  }

  asio::awaitable<void> read_loop(Clock::time_point& connected_at) {
    std::vector<char> buffer(64 * 1024);
    asio::steady_timer never(executor, kForever);
    while (!closing) {
      if (inbox_total > options.max_inbox_messages) {
        inbox_space.expires_at(kForever);
        co_await inbox_space.async_wait(use_tuple);
        continue;
      }
      auto [ec, n] = co_await stream->read_some(asio::buffer(buffer));
      if (ec) {
        end_connection(ec == asio::error::eof ? "the broker closed the connection"
                                              : fmt::format("connection to {} lost: {}",
                                                            options.url.to_string(), ec.message()));
        break;
      }
      last_read = Clock::now();
      ping_outstanding = false;
      const bool was_connected = session.connected();
      std::string error = session.on_bytes(std::string_view(buffer.data(), n));
      if (!was_connected && session.connected()) {
        connected_at = Clock::now();
        if (connections++ > 0) ++reconnect_count;
        spdlog::debug("client {}: connected as {} (session {})", options.url.to_string(),
                      session.client_id(), session.connack().session_present ? "resumed" : "new");
        set_state(State::Connected, {});
      }
      flush();
      if (!error.empty()) {
        end_connection(std::move(error));
        break;
      }
    }
    // The writer sends what is left (a DISCONNECT with its reason) and ends the connection.
    co_await never.async_wait(use_tuple);
  }

  asio::awaitable<void> write_loop() {
    std::string writing;
    while (true) {
      if (!session.has_output()) {
        if (closing) co_return;
        wake.expires_at(kForever);
        co_await wake.async_wait(use_tuple);
        continue;
      }
      // Nothing goes out that claims a message the durable queue has not stored yet.
      if (durable) durable->commit();
      // Once the connection is ending, only what is pending now (a DISCONNECT) goes out: new
      // publishes would keep a dead connection (half-open) from closing for as long as they come.
      const bool last = closing;
      session.take_output(writing);
      const auto ec = co_await stream->write(asio::buffer(writing));
      if (ec) {
        end_connection(
            fmt::format("connection to {} lost: {}", options.url.to_string(), ec.message()));
        co_return;
      }
      last_write = Clock::now();
      if (last) co_return;
    }
  }

  // CONNACK timeout, keep-alive pings and the half-open detector.
  asio::awaitable<void> watchdog() {
    asio::steady_timer tick(executor);
    while (true) {
      const auto ka = keep_alive();
      auto period = std::chrono::milliseconds(250);
      if (ka.count() > 0)
        period = std::clamp(std::chrono::duration_cast<std::chrono::milliseconds>(ka) / 4,
                            std::chrono::milliseconds(50), std::chrono::milliseconds(1000));
      tick.expires_after(period);
      co_await tick.async_wait(use_tuple);
      const auto now = Clock::now();
      if (closing) {
        // Give the writer a moment to send the last packet, then end regardless.
        if (now - closing_since() > std::chrono::seconds(2)) co_return;
        continue;
      }
      if (!session.connected()) {
        if (now - connection_began > options.connect_timeout) {
          end_connection(fmt::format("no CONNACK from {} within {} ms", options.url.to_string(),
                                     options.connect_timeout.count()));
        }
        continue;
      }
      if (ka.count() == 0) continue;
      if (now - last_read > ka * 3 / 2) {
        half_open = true;
        end_connection(fmt::format(
            "nothing received from {} for {} ms (keep-alive {} s): the connection is half-open",
            options.url.to_string(),
            std::chrono::duration_cast<std::chrono::milliseconds>(now - last_read).count(),
            ka.count()));
        continue;
      }
      // A PINGREQ when we sent nothing for a keep-alive period (the spec's rule), and also when
      // we received nothing, so that a dead broker is noticed while we only publish QoS 0.
      if (!ping_outstanding && (now - last_write >= ka || now - last_read >= ka)) {
        session.ping();
        ping_outstanding = true;
        flush();
      }
    }
  }

  Clock::time_point closing_since() {
    if (!closing_at || !closing) closing_at = Clock::now();
    return *closing_at;
  }

  void finish() {
    stopped = true;
    for (auto& [token, waiter] : publishes)
      complete(std::move(waiter.handler), make_error_code(Errc::Stopped));
    publishes.clear();
    for (auto& [token, waiter] : subscribes) {
      waiter.subscription->end();
      complete_subscribe(std::move(waiter.handler), make_error_code(Errc::Stopped), {});
    }
    subscribes.clear();
    for (auto& [token, handler] : unsubscribes)
      complete(std::move(handler), make_error_code(Errc::Stopped));
    unsubscribes.clear();
    for (auto& s : subscriptions)
      s->end();
    if (durable) durable->commit();
    set_state(State::Stopped, stop_reason);
  }

  asio::any_io_executor executor;
  ClientOptions options;
  Session session;
  std::unique_ptr<DurableQueue> durable;
  std::unique_ptr<net::Stream> stream;
  asio::steady_timer wake;           // output is waiting for the writer
  asio::steady_timer state_changed;  // wait_connected()
  asio::steady_timer stop_signal;    // stop() was called
  asio::steady_timer inbox_space;    // the application took messages
  std::mt19937 random;

  State state = State::Disconnected;
  std::string last_error;
  std::string stop_reason;
  std::string close_reason;
  bool started = false;
  bool stopping = false;
  bool stopped = false;
  bool closing = false;
  bool refused = false;
  bool ping_outstanding = false;
  bool half_open = false;  // this connection ended because nothing came for 1.5 x keep-alive
  bool commit_posted = false;
  std::optional<Clock::time_point> closing_at;
  Clock::time_point last_read{}, last_write{}, connection_began{};
  std::uint64_t connections = 0;
  std::uint64_t reconnect_count = 0;
  std::uint64_t dropped = 0;
  Token next_token = 1;
  std::unordered_map<Token, PublishWaiter> publishes;
  std::unordered_map<Token, SubscribeWaiter> subscribes;
  std::unordered_map<Token, asio::any_completion_handler<void(error_code)>> unsubscribes;
  std::vector<std::shared_ptr<Subscription::State>> subscriptions;
  std::size_t inbox_total = 0;
  StateHandler state_handler;
  MessageHandler message_handler;
};

Client::Client(asio::any_io_executor executor, ClientOptions options)
    : impl_(std::make_shared<Impl>(std::move(executor), std::move(options))) {
  Impl& i = *impl_;
  i.session.set_flow_observer(&i);
  if (!i.options.data_dir.empty()) {
    if (i.options.session.client_id.empty())
      throw std::invalid_argument("a durable queue (data directory) needs a client id");
    i.durable = std::make_unique<DurableQueue>(i.options.data_dir, i.options.session.client_id);
    for (DurableQueue::Stored& s : i.durable->load()) {
      auto message = std::make_shared<const Message>(std::move(s.message));
      i.next_token = std::max(i.next_token, s.token + 1);
      if (s.packet_id != 0) {
        if (!i.session.restore(message, s.token, s.packet_id, s.stage))
          (void)i.session.publish(message, s.token);
      } else {
        (void)i.session.publish(message, s.token);
      }
    }
  }
}

Client::~Client() {
  // The loop may still hold the Impl (a coroutine in flight): make it stop on its own.
  Impl& i = *impl_;
  i.stopping = true;
  i.stop_signal.cancel();
  i.closing = true;
  i.wake.cancel();
  i.inbox_space.cancel();
  i.message_handler = nullptr;
  i.state_handler = nullptr;
  for (auto& s : i.subscriptions)
    s->inbox_total = nullptr;
}

void Client::start() {
  if (impl_->started) return;
  impl_->started = true;
  asio::co_spawn(impl_->executor, impl_->run(), asio::detached);
}

asio::awaitable<void> Client::stop(mqtt::ReasonCode reason) {
  auto impl = impl_;
  if (!impl->started || impl->stopped) {
    if (!impl->stopped) impl->finish();
    co_return;
  }
  impl->stopping = true;
  impl->stop_signal.cancel();
  if (impl->session.connected()) impl->session.disconnect(reason);
  impl->end_connection("stopped");
  impl->inbox_space.cancel();
  while (!impl->stopped) {
    co_await impl->state_changed.async_wait(use_tuple);
  }
}

void Client::start_publish(Message message,
                           asio::any_completion_handler<void(error_code)> handler) {
  Impl& i = *impl_;
  if (i.stopped || i.stopping) {
    i.complete(std::move(handler), make_error_code(Errc::Stopped));
    return;
  }
  const Token token = i.next_token++;
  auto shared = std::make_shared<const Message>(std::move(message));
  const bool durable = i.durable && shared->qos != mqtt::QoS::AtMostOnce;
  if (durable) {
    i.durable->add(token, *shared);
    i.schedule_commit();
  }
  switch (i.session.publish(shared, token)) {
    case PublishStatus::Queued:
      break;
    case PublishStatus::QueueFull:
      if (durable) i.durable->remove(token);
      i.complete(std::move(handler), make_error_code(Errc::QueueFull));
      return;
    case PublishStatus::TooLarge:
      if (durable) i.durable->remove(token);
      i.complete(std::move(handler), make_error_code(Errc::TooLarge));
      return;
    case PublishStatus::Invalid:
      if (durable) i.durable->remove(token);
      i.complete(std::move(handler), make_error_code(Errc::InvalidTopic));
      return;
  }
  i.flush();
  if (shared->qos == mqtt::QoS::AtMostOnce) {
    i.complete(std::move(handler), {});
    return;
  }
  if (auto slot = handler.get_cancellation_slot(); slot.is_connected()) {
    slot.assign([weak = std::weak_ptr<Impl>(impl_), token](asio::cancellation_type) {
      auto impl = weak.lock();
      if (!impl) return;
      auto it = impl->publishes.find(token);
      if (it == impl->publishes.end()) return;
      auto waiter = std::move(it->second);
      impl->publishes.erase(it);
      impl->session.cancel_publish(token);
      impl->complete(std::move(waiter.handler), asio::error::operation_aborted);
    });
  }
  i.publishes.emplace(token, Impl::PublishWaiter{std::move(handler)});
}

void Client::start_subscribe(std::string filter, SubscribeOptions options,
                             asio::any_completion_handler<void(error_code, Subscription)> handler) {
  Impl& i = *impl_;
  if (i.stopped || i.stopping) {
    i.complete_subscribe(std::move(handler), make_error_code(Errc::Stopped), {});
    return;
  }
  if (mqtt::validate_topic_filter(filter)) {
    i.complete_subscribe(std::move(handler), make_error_code(Errc::InvalidTopic), {});
    return;
  }
  auto state = std::make_shared<Subscription::State>();
  state->filter = filter;
  const auto shared = mqtt::split_shared(filter);
  state->match_filter = shared.group.empty() ? filter : std::string(shared.filter);
  state->executor = i.executor;
  state->inbox_total = &i.inbox_total;
  state->on_taken = [weak = std::weak_ptr<Impl>(impl_)] {
    auto impl = weak.lock();
    if (impl && impl->inbox_total <= impl->options.max_inbox_messages / 2)
      impl->inbox_space.cancel();
  };
  i.subscriptions.push_back(state);
  const Token token = i.next_token++;
  i.subscribes.emplace(token, Impl::SubscribeWaiter{std::move(handler), std::move(state)});
  i.session.subscribe(filter, options, token);
  i.flush();
}

void Client::start_unsubscribe(std::string filter,
                               asio::any_completion_handler<void(error_code)> handler) {
  Impl& i = *impl_;
  if (i.stopped || i.stopping) {
    i.complete(std::move(handler), make_error_code(Errc::Stopped));
    return;
  }
  for (auto& s : i.subscriptions)
    if (s->filter == filter) s->end();
  const Token token = i.next_token++;
  i.unsubscribes.emplace(token, std::move(handler));
  i.session.unsubscribe(filter, token);
  i.flush();
}

asio::awaitable<error_code> Client::wait_connected() {
  auto impl = impl_;
  while (impl->state != State::Connected) {
    if (impl->stopped) co_return make_error_code(Errc::Stopped);
    // Never reset the expiry here: that would cancel the other waiters. set_state() cancels.
    auto [ec] = co_await impl->state_changed.async_wait(use_tuple);
    if (ec && ec != asio::error::operation_aborted) co_return ec;
    auto cs = co_await asio::this_coro::cancellation_state;
    if (cs.cancelled() != asio::cancellation_type::none) co_return asio::error::operation_aborted;
  }
  co_return error_code{};
}

State Client::state() const noexcept {
  return impl_->state;
}
const std::string& Client::last_error() const noexcept {
  return impl_->last_error;
}
const ConnackInfo& Client::connack() const noexcept {
  return impl_->session.connack();
}
const std::string& Client::client_id() const noexcept {
  return impl_->session.client_id();
}
std::size_t Client::queued() const noexcept {
  return impl_->session.queued();
}
std::size_t Client::in_flight() const noexcept {
  return impl_->session.in_flight();
}
std::uint64_t Client::reconnects() const noexcept {
  return impl_->reconnect_count;
}
void Client::on_state(StateHandler handler) {
  impl_->state_handler = std::move(handler);
}
void Client::on_message(MessageHandler handler) {
  impl_->message_handler = std::move(handler);
}

}  // namespace psos::client
