// One MQTT session on the broker: what outlives a connection when the session is persistent
// (subscriptions, QoS flows, queued messages), and the link to its connection while there is one.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "mqtt/packets.hpp"
#include "mqtt/session_state.hpp"
#include "mqtt/subscription_trie.hpp"
#include "router/message.hpp"
#include "router/stored.hpp"

namespace psos::router {

// A message on its way to one session, with what its subscription made of it.
struct Delivery {
  MessagePtr message;
  mqtt::QoS qos = mqtt::QoS::AtMostOnce;  // min(published QoS, granted QoS)
  bool retain = false;                    // the RETAIN flag as sent
  std::vector<std::uint32_t> subscription_ids;
  std::uint64_t seq = 0;  // per session, in queueing order: the key of its stored copy
};

// The connection side of a connected session: a network connection (listeners/) or an
// in-process service (LocalClient). The broker state never calls it: the router's shell carries
// out the broker's actions through it. It never calls back into the router synchronously.
class Link {
 public:
  virtual ~Link() = default;
  // A PUBLISH for `delivery`; `packet_id` is 0 for QoS 0.
  virtual void send_publish(const Delivery& delivery, std::uint16_t packet_id, bool dup) = 0;
  // Any other packet: CONNACK, acknowledgements, SUBACK, UNSUBACK, PINGRESP, DISCONNECT.
  virtual void send(const mqtt::Packet& packet) = 0;
  // Ends the connection once what was sent is written. The owner of the link then reports the
  // loss with Router::connection_lost.
  virtual void close() = 0;
  // Backpressure: stop reading from the connection (after the packet being handled) until
  // resume(). Closing the link ends a pause too.
  virtual void pause() = 0;
  virtual void resume() = 0;

  // What the broker state reads of a connection (it never writes through it):
  // bytes handed to the link and not yet written, its measure of a slow consumer, ...
  virtual std::size_t backlog() const noexcept = 0;
  // ... and when the connection last received bytes (keep alive; a paused link counts from its
  // resumption, as it reads nothing on purpose meanwhile).
  virtual Clock::time_point last_read() const noexcept = 0;
};

struct WillMessage {
  MessagePtr message;
  std::uint32_t delay = 0;  // v5 Will Delay Interval, seconds
};

inline constexpr std::uint32_t kNeverExpires = 0xFFFF'FFFF;

struct Session {
  SessionId id = 0;
  std::string client_id;
  std::optional<std::string> username;
  mqtt::Version version = mqtt::Version::v5;
  // Seconds the session outlives its connection: 0 = ends with it (v3 clean session),
  // kNeverExpires = never (v3 persistent session).
  std::uint32_t expiry_interval = 0;
  // Filter (as subscribed, $share/ prefix included) -> options; the trie holds the same.
  std::map<std::string, mqtt::SubscriptionOptions, std::less<>> subscriptions;
  mqtt::OutboundFlows<Delivery> outbound;
  mqtt::InboundQos2 inbound;
  std::optional<WillMessage> will;
  Link* link = nullptr;            // null while disconnected
  bool normal_disconnect = false;  // a DISCONNECT without "with will" ended the connection
  bool stored = false;             // kept by the router's persistence (persistent, with --data)
  std::uint64_t next_seq = 1;
  // A session of code in this node (a service, the control plane, the uplink), as its connect
  // said: the only kind a local message (Message::local) is delivered to.
  bool in_process = false;
  // Nothing received for this long closes the connection (1.5 x keep alive); 0: no limit.
  std::chrono::milliseconds keep_alive_limit{0};

  // Backpressure. A paused session's connection stopped reading until the sessions it published
  // to drain; no publisher waits for a paused session. `pauses` tells the current pause from
  // earlier ones; `awaited`: how many congested sessions the current pause still waits for.
  bool paused = false;
  std::uint64_t pauses = 0;
  std::size_t awaited = 0;
  // Publishers paused until this session drains: (publisher, its pause).
  std::vector<std::pair<SessionId, std::uint64_t>> waiters;

  std::uint64_t dropped = 0;  // messages this session lost to limits (also counted router-wide)
  bool connected() const noexcept { return link != nullptr; }

  // The client id as this session's store changes carry it, made at the first one.
  const ClientKey& store_key() {
    if (key_.str().empty() && !client_id.empty()) key_ = ClientKey(client_id);
    return key_;
  }

 private:
  ClientKey key_;
};

}  // namespace psos::router
