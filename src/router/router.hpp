// The topic router: the broker core every node runs. Sessions (network clients and in-process
// services) connect, subscribe and publish; the router matches, queues and delivers.
// This is the Asio shell around the broker state (broker.hpp, which does no I/O): each call hands
// an event to the state and carries out the actions it returns (sends through links, timers,
// persistence, logs). Single-threaded: every call happens on the router's executor (DESIGN.md
// decision 3).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "router/broker.hpp"

namespace psos::router {

// Told when a session adds or removes a subscription (the uplink mirrors them).
using SubscriptionObserver =
    std::function<void(SessionId session, const std::string& filter, bool added)>;

class Router {
 public:
  Router(boost::asio::any_io_executor executor, RouterOptions options);
  ~Router();
  Router(const Router&) = delete;
  Router& operator=(const Router&) = delete;

  // ---- sessions: called by the link's owner (listeners/, LocalClient) ----

  // Handles CONNECT (Broker::connect) and sends the CONNACK through `link`.
  ConnectResult connect(Link& link, const mqtt::Connect& packet, const ConnectionInfo& info);
  // The password check of a CONNECT (Broker::authenticate); safe to call from any thread.
  mqtt::ReasonCode authenticate(const mqtt::Connect& packet) const;
  // Every packet after CONNECT. When a PUBLISH was queued for congested sessions, the link is
  // paused (Link::pause) before this returns, and resumed once they drain.
  void handle(SessionId session, Link& link, const mqtt::Packet& packet);
  // The connection behind `link` is gone (for any reason, a DISCONNECT included).
  void connection_lost(SessionId session, Link& link);
  // The link's backlog fell: publishers waiting on it may resume.
  void link_drained(SessionId session);
  // The link could not send the PUBLISH with this packet id (larger than the client's Maximum
  // Packet Size): the flow ends as if delivered (spec 3.1.2.11.4) and is counted as dropped.
  void publish_discarded(SessionId session, Link& link, std::uint16_t packet_id);

  // ---- in-process API and the router's own messages ----
  void publish(MessagePtr message);
  // Calls `observer` for every subscription that exists now, then for every change.
  void observe_subscriptions(SubscriptionObserver observer);

  // ---- observation ----
  const RouterStats& stats() const noexcept { return broker_.stats(); }
  RouterStats& stats() noexcept { return broker_.stats(); }
  std::size_t connected_count() const noexcept { return broker_.connected_count(); }
  // Connected network clients (in-process sessions left out).
  std::size_t network_connected_count() const noexcept { return broker_.network_connected_count(); }
  std::size_t session_count() const noexcept { return broker_.session_count(); }
  std::size_t subscription_count() const noexcept { return broker_.subscription_count(); }
  std::size_t retained_count() const noexcept { return broker_.retained_count(); }
  const RouterOptions& options() const noexcept { return broker_.options(); }
  // Hands what the persistence has recorded to its writer thread; returns the transaction to wait
  // for (0: none). Links wait for it before writing to the network (wait_durable), so that no
  // acknowledgement, and nothing forwarded, leaves before what it depends on is stored.
  std::uint64_t commit();
  boost::asio::awaitable<void> wait_durable(std::uint64_t transaction);

  // Closes every connection (v5: DISCONNECT with `reason` first), e.g. Server shutting down,
  // after publishing the wills of the network connections it closes (MQTT 5 3.1.2.5).
  void close_all(mqtt::ReasonCode reason);
  // Stops timers (will delays, session expiry, keep alive, $SYS) so the executor can run out.
  void shutdown();

 private:
  struct Shell;
  struct Carry;

  // Runs `call(Actions&)` on the broker state, then carries out what it asked for.
  template <class Call>
  auto run(Call&& call);
  void carry_out(Actions& actions);

  Broker broker_;
  std::unique_ptr<Shell> shell_;
};

}  // namespace psos::router
