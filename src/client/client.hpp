// The resilient MQTT client (the node's uplink, `psos pub`, `psos sub`): reconnects with backoff,
// keeps QoS 1/2 messages until the broker has them, restores subscriptions, queues while offline
// and, with a data directory, keeps unacknowledged messages across a crash of the process.
#pragma once

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/error_code.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "client/message.hpp"
#include "client/session.hpp"
#include "net/connect.hpp"
#include "net/url.hpp"

namespace psos::client {

namespace asio = boost::asio;
using boost::system::error_code;

// Failures of client operations. A broker's refusal of a message or subscription is reported as
// an error_code of mqtt_category() whose value is the v5 reason code (0x87 Not authorized, ...).
enum class Errc {
  QueueFull = 1,  // the offline queue is at its bound (SessionOptions::max_queued_*)
  TooLarge,       // larger than the broker's Maximum Packet Size
  InvalidTopic,   // not a valid topic name or filter
  Stopped,        // the client was stopped before the operation completed
};
const boost::system::error_category& client_category() noexcept;
const boost::system::error_category& mqtt_category() noexcept;
error_code make_error_code(Errc e) noexcept;
error_code make_error_code(mqtt::ReasonCode reason) noexcept;

enum class State : std::uint8_t { Disconnected, Connecting, Connected, Stopped };
std::string_view to_string(State state) noexcept;

struct ReconnectOptions {
  // Delay before the first retry, doubled on each failure up to max_delay, each one drawn at
  // random between half and all of it (jitter, so that many clients do not retry in step).
  std::chrono::milliseconds initial_delay{250};
  std::chrono::milliseconds max_delay{30'000};
  // A connection that lasted this long resets the delay to initial_delay.
  std::chrono::milliseconds stable_after{10'000};
  // False: a failed first connection stops the client (as mosquitto_pub does) instead of
  // retrying; State::Stopped then comes with the reason.
  bool retry_first_connect = true;
  // False: a CONNACK refusal (bad password, not authorized, protocol version) stops the client.
  bool retry_on_refusal = true;
};

struct ClientOptions {
  ClientOptions() = default;  // not an aggregate: see net::TlsClientOptions

  net::Url url;
  net::TlsClientOptions tls;
  SessionOptions session;
  ReconnectOptions reconnect;
  // From the start of the TCP connection to CONNACK.
  std::chrono::milliseconds connect_timeout{10'000};
  // Durable queue: QoS 1/2 messages not yet acknowledged are kept in DIR/client-<id>.db
  // (SQLite) and sent again after the process restarts. Needs a client id; empty: memory only.
  std::string data_dir;
  // Received messages buffered for subscriptions that are not read fast enough; past this the
  // client stops reading from the broker (TCP backpressure) until the application catches up.
  std::size_t max_inbox_messages = 10'000;
};

// Called on every change of state, with the reason for Disconnected and Stopped ("connection
// refused by 127.0.0.1:1883 — is the broker running?").
using StateHandler = std::function<void(State state, const std::string& reason)>;
// Called for every received message (in addition to subscriptions that match it).
using MessageHandler = std::function<void(const MessagePtr& message)>;

class Client;

// One subscribe() call's stream of messages: every received message whose topic matches the
// filter, in order. Ends (null message, Errc::Stopped) when the client stops or close() is called.
class Subscription {
 public:
  struct State;
  Subscription() = default;
  explicit Subscription(std::shared_ptr<State> state) : state_(std::move(state)) {}

  template <class CompletionToken = asio::use_awaitable_t<>>
  auto next(CompletionToken&& token = {}) {
    return asio::async_initiate<CompletionToken, void(error_code, MessagePtr)>(
        [state = state_](auto handler) {
          start_next(state, asio::any_completion_handler<void(error_code, MessagePtr)>(
                                std::move(handler)));
        },
        token);
  }
  // Messages received and not yet taken with next().
  std::size_t pending() const noexcept;
  const std::string& filter() const noexcept;
  // Stops delivering to this object (the broker subscription stays; see Client::unsubscribe).
  void close();

 private:
  static void start_next(const std::shared_ptr<State>& state,
                         asio::any_completion_handler<void(error_code, MessagePtr)> handler);
  std::shared_ptr<State> state_;
};

class Client {
 public:
  Client(asio::any_io_executor executor, ClientOptions options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Starts connecting (in the background; the client then keeps itself connected).
  void start();
  // Sends DISCONNECT (v5 with `reason`), closes the connection and stops reconnecting. Pending
  // operations complete with Errc::Stopped; with a data directory their messages stay stored.
  asio::awaitable<void> stop(mqtt::ReasonCode reason = mqtt::ReasonCode::Success);

  // Completes when the QoS flow completes: QoS 0 once queued, QoS 1 at PUBACK, QoS 2 at PUBCOMP.
  // Errors: Errc (queue full, too large, invalid topic, stopped), the broker's reason code
  // (mqtt_category) when it refused the message, operation_aborted when cancelled (a message
  // already sent is still delivered).
  template <class CompletionToken = asio::use_awaitable_t<>>
  auto publish(Message message, CompletionToken&& token = {}) {
    return asio::async_initiate<CompletionToken, void(error_code)>(
        [this](auto handler, Message m) {
          start_publish(std::move(m),
                        asio::any_completion_handler<void(error_code)>(std::move(handler)));
        },
        token, std::move(message));
  }

  // Subscribes (and keeps the subscription across reconnects); completes at SUBACK with the
  // subscription's message stream. Messages matching the filter are buffered from the moment
  // this is called. Error: the broker's refusal (mqtt_category), Errc::InvalidTopic.
  template <class CompletionToken = asio::use_awaitable_t<>>
  auto subscribe(std::string filter, SubscribeOptions options = {}, CompletionToken&& token = {}) {
    return asio::async_initiate<CompletionToken, void(error_code, Subscription)>(
        [this](auto handler, std::string f, SubscribeOptions o) {
          start_subscribe(
              std::move(f), o,
              asio::any_completion_handler<void(error_code, Subscription)>(std::move(handler)));
        },
        token, std::move(filter), options);
  }

  template <class CompletionToken = asio::use_awaitable_t<>>
  auto unsubscribe(std::string filter, CompletionToken&& token = {}) {
    return asio::async_initiate<CompletionToken, void(error_code)>(
        [this](auto handler, std::string f) {
          start_unsubscribe(std::move(f),
                            asio::any_completion_handler<void(error_code)>(std::move(handler)));
        },
        token, std::move(filter));
  }

  // Completes when the client is connected (at once if it is), with Errc::Stopped if it stops
  // first (the reason is in last_error()).
  asio::awaitable<error_code> wait_connected();

  State state() const noexcept;
  // Why the last connection attempt failed or the last connection ended.
  const std::string& last_error() const noexcept;
  const ConnackInfo& connack() const noexcept;
  const std::string& client_id() const noexcept;
  std::size_t queued() const noexcept;
  std::size_t in_flight() const noexcept;
  std::uint64_t reconnects() const noexcept;  // connections made after the first

  void on_state(StateHandler handler);
  void on_message(MessageHandler handler);

  struct Impl;

 private:
  void start_publish(Message message, asio::any_completion_handler<void(error_code)> handler);
  void start_subscribe(std::string filter, SubscribeOptions options,
                       asio::any_completion_handler<void(error_code, Subscription)> handler);
  void start_unsubscribe(std::string filter,
                         asio::any_completion_handler<void(error_code)> handler);

  std::shared_ptr<Impl> impl_;
};

}  // namespace psos::client

template <>
struct boost::system::is_error_code_enum<psos::client::Errc> : std::true_type {};
