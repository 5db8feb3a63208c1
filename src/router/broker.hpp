// The broker's state without I/O, shaped like the client's (client/session.cpp, rumqttc's
// state.rs): sessions, subscriptions, retained messages, QoS flows, wills, flow control.
// Packets and timer events go in; what to do comes out, appended to an Actions list (packets to
// send through which link, links to close, pause or resume, timers to arm or cancel, changes to
// store, lines to log). It owns no timers, does no I/O and logs nothing itself: router.cpp is
// the Asio shell that carries the actions out. Its handlers are in files named after what they
// handle:
//   connect.cpp           CONNECT: authentication, client ids, takeover, resume, CONNACK
//   publish.cpp           PUBLISH received, routing (route), delivery (deliver), the window (pump)
//   subscribe.cpp         SUBSCRIBE, UNSUBSCRIBE, the retained messages a subscription brings
//   acknowledgements.cpp  PUBACK, PUBREC, PUBREL, PUBCOMP; flows that end otherwise
//   flow_control.cpp      congested sessions, pausing their publishers and resuming them
//   keep_alive.cpp        PINGREQ and the keep-alive timeout
//   disconnect.cpp        DISCONNECT, lost connections, session expiry, the clean stop
//   will.cpp              wills and their delay
//   sys.cpp               the $SYS topics
//   broker.cpp            packet dispatch, protocol errors, the state restored at start
#pragma once

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
#include "router/actions.hpp"
#include "router/message.hpp"
#include "router/retained.hpp"
#include "router/session.hpp"
#include "router/stored.hpp"

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
  // for that session are refused and counted (the policy when full: keep the oldest).
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
  // The broker state only asks whether there is one; the router's shell writes to it.
  std::shared_ptr<Persistence> persistence;
  // A node's router: a publish to `<local_prefix>T` is delivered to this node's subscribers of T
  // and never leaves the node (DESIGN.md "local topic"). Empty (psos broker): no such rule.
  std::string local_prefix;
};

struct RouterStats {
  std::uint64_t messages_received = 0;
  std::uint64_t messages_sent = 0;
  std::uint64_t bytes_received = 0;  // counted by the links
  std::uint64_t bytes_sent = 0;
  std::uint64_t messages_dropped = 0;
  std::uint64_t connections_total = 0;
  std::uint64_t connections_refused = 0;
};

// How a connection came, beside what its CONNECT says.
struct ConnectionInfo {
  std::string_view remote;  // names the peer in logs
  // Code in this node (LocalClient): the only kind of session local messages reach; it has no
  // keep alive, its will is not published on a clean stop, and its coming and going is not news.
  bool in_process = false;
  // The result of authenticate() when the caller ran it already (on a thread pool).
  std::optional<mqtt::ReasonCode> login;
};

// What the link needs from an accepted CONNECT. Topic aliases and packet size limits are the
// link's business: they belong to the connection, not the session.
struct ConnectResult {
  SessionId session = 0;         // 0: refused (the CONNACK saying why is among the actions)
  std::uint16_t keep_alive = 0;  // seconds, as granted (the broker times the connection out)
  std::uint32_t client_max_packet_size = mqtt::kMaxRemainingLength + 5;
  std::uint16_t client_topic_alias_maximum = 0;  // aliases we may use toward the client
};

class Broker {
 public:
  explicit Broker(RouterOptions options);
  ~Broker();
  Broker(const Broker&) = delete;
  Broker& operator=(const Broker&) = delete;

  // The first call: the $SYS timer, and what was stored (--data) comes back: retained messages,
  // sessions with their subscriptions and queues, their will and expiry timers.
  void start(StoredState stored, Actions& out);

  // CONNECT: authentication (unless info.login says), client id rules, takeover of a connected
  // session, resume or clean start, the will, keep alive, and the CONNACK.
  ConnectResult connect(Link& link, const mqtt::Connect& packet, const ConnectionInfo& info,
                        Actions& out);
  // The password check of a CONNECT: Success, BadUserNameOrPassword or NotAuthorized. Slow on
  // purpose (PBKDF2) and safe to call from any thread, so links run it off the event loop.
  mqtt::ReasonCode authenticate(const mqtt::Connect& packet) const;
  // Every packet after CONNECT. A protocol violation closes the link (v5: DISCONNECT with the
  // reason first). Links name their session by id and are checked against it: a connection
  // whose session was taken over (or ended) is ignored.
  void handle(SessionId session, Link& link, const mqtt::Packet& packet, Actions& out);
  // The connection behind `link` is gone (for any reason, a DISCONNECT included).
  void connection_lost(SessionId session, Link& link, Actions& out);
  // The link's backlog fell: publishers waiting on it may resume.
  void drained(SessionId session, Actions& out);
  // The link could not send the PUBLISH with this packet id (larger than the client's Maximum
  // Packet Size): the flow ends as if delivered (spec 3.1.2.11.4) and is counted as dropped.
  void publish_discarded(SessionId session, Link& link, std::uint16_t packet_id, Actions& out);
  // A message of the node (an in-process session) or of the router itself: it pauses no one.
  void publish(MessagePtr message, Actions& out);
  void timer_fired(const Timer& timer, Actions& out);
  // Closes every connection (v5: DISCONNECT with `reason` first), e.g. Server shutting down,
  // after publishing the wills of the network connections it closes (MQTT 5 3.1.2.5).
  void close_all(mqtt::ReasonCode reason, Actions& out);

  // ---- observation ----
  const RouterOptions& options() const noexcept { return options_; }
  const RouterStats& stats() const noexcept { return stats_; }
  RouterStats& stats() noexcept { return stats_; }
  std::size_t connected_count() const noexcept { return connected_; }
  std::size_t network_connected_count() const noexcept;
  std::size_t session_count() const noexcept { return sessions_.size(); }
  std::size_t subscription_count() const noexcept { return trie_.size(); }
  std::size_t retained_count() const noexcept { return retained_.size(); }
  // Calls `visit(session, filter)` for every subscription.
  void for_each_subscription(const std::function<void(SessionId, const std::string&)>& visit) const;

 private:
  // The publisher of a PUBLISH being routed, and the congested sessions it was queued for: the
  // publisher pauses until they drain (flow_control.cpp).
  struct Waits {
    SessionId publisher = 0;
    std::vector<SessionId> congested;
  };
  struct RouteOutcome {
    bool matched = false;  // some session subscribes to it
    bool refused = false;  // a full queue refused it (v5: PUBACK 0x97 Quota exceeded)
  };
  struct Match {
    SessionId session;
    mqtt::SubscriptionOptions options;
  };

  // broker.cpp
  Session* find(SessionId id, const Link& link) noexcept;
  Session* find(SessionId id) noexcept;
  void dispatch(Session& s, const mqtt::Packet& packet, Actions& out);
  void protocol_error(Session& s, mqtt::ReasonCode reason, const char* why, Actions& out);
  void restore(StoredSession& stored, std::int64_t now, Actions& out);
  // connect.cpp
  ConnectResult refuse(Link& link, const mqtt::Connect& c, const ConnectionInfo& info,
                       mqtt::ReasonCode reason, std::string_view why, Actions& out);
  // The session a CONNECT continues or starts: a connected one is taken over (its connection
  // closed), a persistent one resumed unless clean start; `present` tells which.
  Session& take_over(const mqtt::Connect& c, const ConnectionInfo& info,
                     const std::string& client_id, bool& present, Actions& out);
  void store_connected_session(Session& s, Actions& out);
  void send_connack(Session& s, const mqtt::Connect& c, bool present, bool assigned,
                    std::optional<std::uint16_t> server_keep_alive, Actions& out);
  void resume(Session& s, Actions& out);
  // publish.cpp
  void on_publish(Session& s, const mqtt::Publish& packet, Actions& out);
  RouteOutcome route(const MessagePtr& message, Waits* waits, Actions& out);
  // False: refused (the session's queue is full).
  bool deliver(Session& s, Delivery delivery, Waits* waits, Actions& out);
  void pump(Session& s, Actions& out);
  void store_retained(const MessagePtr& message, Actions& out);
  MessagePtr localize(MessagePtr message) const;
  // subscribe.cpp
  void on_subscribe(Session& s, const mqtt::Subscribe& packet, Actions& out);
  void on_unsubscribe(Session& s, const mqtt::Unsubscribe& packet, Actions& out);
  void send_retained(Session& s, std::string_view filter, const mqtt::SubscriptionOptions& options,
                     Actions& out);
  // acknowledgements.cpp
  void on_puback(Session& s, const mqtt::Puback& ack, Actions& out);
  void on_pubrec(Session& s, const mqtt::Pubrec& rec, Actions& out);
  void on_pubrel(Session& s, const mqtt::Pubrel& rel, Actions& out);
  void on_pubcomp(Session& s, const mqtt::Pubcomp& comp, Actions& out);
  // A QoS 1/2 flow ended (acknowledged, refused or discarded): forget its stored copy.
  void flow_ended(Session& s, const std::optional<Delivery>& delivery, Actions& out);
  // An acknowledgement moved a flow on: send what the window allows, resume who waited.
  void window_moved(Session& s, Actions& out);
  // Ends a flow whatever its QoS and stage, as if the client had refused the message.
  void abandon_flow(Session& s, std::uint16_t packet_id, Actions& out);
  // flow_control.cpp
  bool congested(const Session& s) const noexcept;
  // Low-water mark: publishers waiting for `s` resume once this holds (hysteresis).
  bool drained_enough(const Session& s) const noexcept;
  void pause(Session& publisher, Waits& waits, Actions& out);
  // Resumes the publishers waiting for `s` once it drained enough (or `force`: it is gone).
  void release_waiters(Session& s, bool force, Actions& out);
  // keep_alive.cpp
  void on_pingreq(Session& s, Actions& out);
  void keep_alive_due(Session& s, Actions& out);
  // disconnect.cpp
  void on_disconnect(Session& s, const mqtt::Disconnect& packet, Actions& out);
  void lose_link(Session& s, Actions& out);
  void end_session(Session& s, Actions& out);
  void store_session(Session& s, std::int64_t disconnected_at, Actions& out);
  void session_expired(Session& s, Actions& out);
  // will.cpp
  // The will of the CONNECT (or none) becomes the session's, stored with it.
  void take_will(Session& s, const mqtt::Connect& c, Actions& out);
  void publish_will(Session& s, Actions& out);
  // Publishes the will of a lost connection now, or arms its delay.
  void will_on_lost_connection(Session& s, Actions& out);
  // sys.cpp
  void publish_sys(Actions& out);

  RouterOptions options_;
  bool durable_;  // options_.persistence is set: persistent sessions are stored
  RouterStats stats_;
  mqtt::SubscriptionTrie trie_;
  std::unordered_map<SessionId, std::unique_ptr<Session>> sessions_;
  std::unordered_map<std::string, Session*> by_client_id_;
  RetainedMessages retained_;
  SessionId next_session_id_ = 1;
  std::size_t connected_ = 0;
  Clock::time_point started_;
  // route()'s working list, kept to reuse its capacity; nothing reads it after route() returns.
  std::vector<Match> matches_;
};

// Wall-clock seconds (the time a session was disconnected, as stored).
std::int64_t wall_seconds();

}  // namespace psos::router
