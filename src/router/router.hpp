// The topic router: the broker core every node runs. Sessions (network clients and, later,
// in-process services) connect, subscribe and publish; the router matches, queues and delivers.
// Single-threaded: every call happens on the router's executor (DESIGN.md decision 3).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "mqtt/packets.hpp"
#include "mqtt/subscription_trie.hpp"
#include "router/message.hpp"
#include "router/retained.hpp"
#include "router/session.hpp"

namespace psos::router {

class Acl;
class PasswordFile;
class Persistence;

struct RouterLimits {
  // Largest packet accepted from clients (fixed header included); announced in v5 CONNACK.
  std::uint32_t max_packet_size = 16 * 1024 * 1024;
  // Unacknowledged QoS 1/2 messages we accept from one client at a time (our Receive Maximum).
  std::uint16_t receive_maximum = 1024;
  // Unacknowledged QoS 1/2 messages we send to one client at a time (capped further by its own
  // Receive Maximum).
  std::uint16_t max_inflight = 1024;
  // QoS 1/2 messages queued for one session beyond its in-flight window; past this, new ones
  // for that session are dropped and counted (the policy when full: keep the oldest).
  std::size_t max_queued_messages = 10'000;
  // A connected session whose link holds more unwritten bytes than this (or more queued QoS 1/2
  // messages than max_queued_messages / 2) is congested: publishers feeding it are paused.
  std::size_t congestion_bytes = 1024 * 1024;
  // Past this many unwritten bytes QoS 0 messages to the session are dropped and counted.
  std::size_t max_backlog_bytes = 16 * 1024 * 1024;
  // Topic aliases a client may use toward us (v5 Topic Alias Maximum in CONNACK); the link
  // resolves them before the router sees the PUBLISH.
  std::uint16_t topic_alias_maximum = 64;
  // Keep alive the router imposes (MQTT 5 Server Keep Alive) on a v5 client that asks for 0 or
  // more than this; 0: none imposed. v3.1.1 clients keep theirs (they cannot be told).
  std::uint16_t max_keep_alive = 0;
  std::size_t max_connections = 100'000;
};

struct RouterOptions {
  RouterLimits limits;
  std::string sys_prefix = "$SYS/broker";
  std::uint32_t sys_interval_seconds = 10;  // 0 = no $SYS topics
  bool allow_anonymous = true;              // only consulted when a password file is set
  std::shared_ptr<const PasswordFile> passwords;
  std::shared_ptr<const Acl> acl;
  // Where retained messages and persistent sessions are kept (--data); null: in memory only.
  std::shared_ptr<Persistence> persistence;
  // A node's router: a publish to `<local_prefix>T` is delivered to this node's subscribers of T
  // and never leaves the node (DESIGN.md "local topic"). Empty (psos broker): no such rule.
  std::string local_prefix;
};

// Told when a session adds or removes a subscription (the uplink mirrors them).
using SubscriptionObserver =
    std::function<void(SessionId session, const std::string& filter, bool added)>;

struct RouterStats {
  std::uint64_t messages_received = 0;
  std::uint64_t messages_sent = 0;
  std::uint64_t bytes_received = 0;  // counted by the links
  std::uint64_t bytes_sent = 0;
  std::uint64_t messages_dropped = 0;
  std::uint64_t connections_total = 0;
  std::uint64_t connections_refused = 0;
};

// What the link needs from an accepted CONNECT. Topic aliases and packet size limits are the
// link's business: they belong to the connection, not the session.
struct ConnectResult {
  SessionId session = 0;         // 0: refused (the CONNACK saying why was sent)
  std::uint16_t keep_alive = 0;  // seconds the link must enforce (x 1.5); 0 = none
  std::uint32_t client_max_packet_size = mqtt::kMaxRemainingLength + 5;
  std::uint16_t client_topic_alias_maximum = 0;  // aliases we may use toward the client
};

class Router {
 public:
  Router(boost::asio::any_io_executor executor, RouterOptions options);
  ~Router();
  Router(const Router&) = delete;
  Router& operator=(const Router&) = delete;

  // ---- network sessions: called by the link's owner ----

  // Handles CONNECT: authentication, client id rules, session takeover or resume, and sends the
  // CONNACK through `link`. `remote` names the peer in logs.
  // `login`: the result of authenticate() when the caller ran it already (on a thread pool);
  // otherwise connect() runs it here.
  ConnectResult connect(Link& link, const mqtt::Connect& packet, std::string_view remote,
                        std::optional<mqtt::ReasonCode> login = std::nullopt);
  // The password check of a CONNECT: Success, BadUserNameOrPassword or NotAuthorized. Slow on
  // purpose (PBKDF2) and safe to call from any thread, so links run it off the event loop.
  mqtt::ReasonCode authenticate(const mqtt::Connect& packet) const;
  // Every packet after CONNECT. A protocol violation closes the link (v5: DISCONNECT with the
  // reason first). Links name their session by id and are checked against it: a connection
  // whose session was taken over (or ended) is ignored.
  void handle(SessionId session, Link& link, const mqtt::Packet& packet);
  // The connection behind `link` is gone (for any reason, a DISCONNECT included).
  void connection_lost(SessionId session, Link& link);
  // The link's backlog fell: publishers waiting on it may resume.
  void link_drained(SessionId session);
  // The link could not send the PUBLISH with this packet id (larger than the client's Maximum
  // Packet Size): the flow ends as if delivered (spec 3.1.2.11.4) and is counted as dropped.
  void publish_discarded(SessionId session, Link& link, std::uint16_t packet_id);

  // Flow control. After handle() returns: whether the packet it handled (a PUBLISH) was queued
  // for congested sessions, so that the caller should stop reading from that session until they
  // drain. It is about that one packet only (false after any other), and it never names the
  // publisher's own session (it drains by reading the very PUBACKs a pause would leave unread)
  // nor a session whose own connection is paused (waiting for it could close a cycle of
  // clients that feed each other, each waiting for the next forever).
  bool publisher_should_wait() const noexcept { return !congested_.empty(); }
  // Right after such a handle(): `publisher` is paused; `resume` is called once when none of
  // the sessions it waits for is congested any more (drained, disconnected or gone).
  void when_uncongested(SessionId publisher, std::function<void()> resume);

  // ---- in-process API and the router's own messages ----
  void publish(MessagePtr message);
  // Calls `observer` for every subscription that exists now, then for every change.
  void observe_subscriptions(SubscriptionObserver observer);

  // ---- observation ----
  const RouterStats& stats() const noexcept { return stats_; }
  RouterStats& stats() noexcept { return stats_; }
  std::size_t connected_count() const noexcept { return connected_; }
  // Connected network clients (in-process sessions left out).
  std::size_t network_connected_count() const noexcept;
  std::size_t session_count() const noexcept { return sessions_.size(); }
  std::size_t subscription_count() const noexcept { return trie_.size(); }
  std::size_t retained_count() const noexcept { return retained_.size(); }
  const RouterOptions& options() const noexcept { return options_; }
  // Hands what the persistence has recorded to its writer thread; returns the transaction to wait
  // for (0: none). Links wait for it before writing to the network (wait_durable), so that no
  // acknowledgement, and nothing forwarded, leaves before what it depends on is stored.
  std::uint64_t commit();
  boost::asio::awaitable<void> wait_durable(std::uint64_t transaction);

  // Closes every connection (v5: DISCONNECT with `reason` first), e.g. Server shutting down,
  // after publishing the wills of the network connections it closes (MQTT 5 3.1.2.5).
  void close_all(mqtt::ReasonCode reason);
  // Stops timers (will delays, session expiry, $SYS) so the executor can run out.
  void shutdown();

 private:
  struct Timers;

  void dispatch(Session& session, const mqtt::Packet& packet);
  void on_publish(Session& session, const mqtt::Publish& packet);
  void on_subscribe(Session& session, const mqtt::Subscribe& packet);
  void on_unsubscribe(Session& session, const mqtt::Unsubscribe& packet);
  void on_pubrel(Session& session, const mqtt::Pubrel& packet);
  void protocol_error(Session& session, mqtt::ReasonCode reason, const char* why);
  Session* find(SessionId id, const Link& link) noexcept;
  void lose_link(Session& session);
  void notify_drained(Session& session, bool force);

  // Matches `message` and delivers it to every subscribed session.
  void route(const MessagePtr& message);
  void deliver(Session& session, Delivery delivery);
  // Sends what the session's window allows.
  void pump(Session& session);
  // A QoS 1/2 flow ended (acknowledged, refused or discarded): forget its stored copy.
  void flow_ended(Session& session, const std::optional<Delivery>& delivery);
  // Ends a flow whatever its QoS and stage, as if the client had refused the message.
  void abandon_flow(Session& session, std::uint16_t packet_id);
  void send_retained(Session& session, std::string_view filter,
                     const mqtt::SubscriptionOptions& options);
  void store_retained(const MessagePtr& message);
  bool congested(const Session& session) const noexcept;
  void publish_will(Session& session);
  // Publishes the session's will after `after` unless it reconnects first.
  void arm_will(Session& session, std::chrono::seconds after);
  void end_session(Session& session);
  void schedule_sys();
  void load_persisted();
  void schedule_commit();
  void persist_session(Session& session, std::int64_t disconnected_at);
  void schedule_expiry(Session& session, std::chrono::seconds after);
  void publish_sys();
  // A message published to local_prefix + T becomes a local message on T.
  MessagePtr localize(MessagePtr message) const;
  void subscription_changed(SessionId session, const std::string& filter, bool added);

  boost::asio::any_io_executor executor_;
  RouterOptions options_;
  RouterStats stats_;
  mqtt::SubscriptionTrie trie_;
  std::unordered_map<SessionId, std::unique_ptr<Session>> sessions_;
  std::unordered_map<std::string, Session*> by_client_id_;
  RetainedMessages retained_;
  SessionId next_session_id_ = 1;
  std::size_t connected_ = 0;
  Clock::time_point started_;

  // Scratch space of route(), kept to avoid allocating per message.
  struct Match {
    SessionId session;
    mqtt::SubscriptionOptions options;
  };
  std::vector<Match> matches_;
  // Set by route() when a session's queue was full and refused the message (v5: 0x97).
  bool queue_full_ = false;
  // The congested sessions the packet being handled was queued for (publisher_should_wait()).
  std::vector<SessionId> congested_;
  SessionId handling_ = 0;  // the session whose packet handle() is handling
  std::unordered_map<SessionId, std::vector<std::function<void()>>> waiting_on_;
  std::unique_ptr<Timers> timers_;
  Persistence* persistence_ = nullptr;  // options_.persistence
  bool commit_posted_ = false;
  SubscriptionObserver subscription_observer_;
};

}  // namespace psos::router
