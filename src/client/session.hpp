// The client's protocol state, with no I/O (like rumqttc's state.rs): what to send on connect,
// what every received packet means, outbound QoS 1/2 flows that survive reconnects, inbound QoS 2
// duplicate suppression, the offline queue and the subscriptions to restore. The Asio loop in
// client.cpp moves bytes in and out of it; tests and the fuzzer drive it directly.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "client/message.hpp"
#include "mqtt/session_state.hpp"
#include "mqtt/stream_decoder.hpp"

namespace psos::client {

// Names an operation (publish, subscribe, unsubscribe) whose completion the caller awaits.
// 0 is never handed out: it marks the client's own operations (restoring subscriptions).
using Token = std::uint64_t;

struct Will {
  Message message;
  std::uint32_t delay_seconds = 0;  // v5 Will Delay Interval
};

struct SessionOptions {
  mqtt::Version version = mqtt::Version::v5;
  // Empty: the broker assigns one (v5; a v3.1.1 broker accepts it only with clean_start).
  std::string client_id;
  bool clean_start = true;
  // v5 Session Expiry Interval (seconds) asked for; v3.1.1 keeps the session when !clean_start.
  std::uint32_t session_expiry_interval = 0;
  std::uint16_t keep_alive = 60;  // seconds; 0 = none
  std::optional<std::string> username;
  std::optional<std::string> password;
  std::optional<Will> will;
  // Unacknowledged QoS 2 messages we accept from the broker (our v5 Receive Maximum).
  std::uint16_t receive_maximum = 65535;
  // Largest packet we accept (v5 Maximum Packet Size); 0 = no limit beyond the protocol's.
  std::uint32_t max_packet_size = 0;
  // The offline queue: messages not yet sent (queued while disconnected, or beyond the broker's
  // Receive Maximum). When a new message would exceed either bound, queued QoS 0 messages are
  // dropped, oldest first; if that is not enough the publish fails with QueueFull. A QoS 1/2
  // message once accepted is never dropped.
  std::size_t max_queued_messages = 100'000;
  std::size_t max_queued_bytes = 64 * 1024 * 1024;
};

struct SubscribeOptions {
  mqtt::QoS qos = mqtt::QoS::AtLeastOnce;
  bool no_local = false;                                                         // v5
  bool retain_as_published = false;                                              // v5
  mqtt::RetainHandling retain_handling = mqtt::RetainHandling::SendOnSubscribe;  // v5
  std::uint32_t subscription_identifier = 0;                                     // v5; 0 = none
};

// What CONNACK told us, kept for the connection's life.
struct ConnackInfo {
  mqtt::ReasonCode reason = mqtt::ReasonCode::Success;
  bool session_present = false;
  std::string assigned_client_id;
  std::optional<std::uint16_t> server_keep_alive;
  std::uint16_t receive_maximum = 65535;
  std::uint32_t max_packet_size = mqtt::kMaxRemainingLength + 5;
  std::uint8_t maximum_qos = 2;
  bool retain_available = true;
  std::string reason_string;
};

enum class PublishStatus : std::uint8_t {
  Queued,     // accepted: completion comes through on_publish_done (QoS 0: already done)
  QueueFull,  // refused: the offline queue is at its bound and holds no QoS 0 to drop
  TooLarge,   // refused: larger than the broker's Maximum Packet Size
  Invalid,    // refused: topic name invalid (wildcards, empty, bad UTF-8)
};

// How the state machine reports back. Called from inside Session calls.
class SessionEvents {
 public:
  virtual ~SessionEvents() = default;
  virtual void on_connack(const ConnackInfo& info) = 0;
  virtual void on_message(MessagePtr message) = 0;
  // A publish flow ended: Success, a v5 refusal (>= 0x80), or PacketTooLarge.
  virtual void on_publish_done(Token token, mqtt::ReasonCode reason) = 0;
  virtual void on_subscribe_done(Token token, const std::vector<mqtt::ReasonCode>& reasons) = 0;
  virtual void on_unsubscribe_done(Token token) = 0;
  // A QoS 0 message was dropped from the full offline queue (counted; never QoS 1/2).
  virtual void on_dropped(Token token) = 0;
};

class Session {
 public:
  Session(SessionOptions options, SessionEvents& events);

  // ---- connection lifecycle ----
  // A transport is up: encodes CONNECT into the output and resets the decoder.
  void connection_started();
  // The transport is gone. Flows stay for the next connection.
  void connection_lost();
  bool connected() const noexcept { return connected_; }  // CONNACK accepted
  const ConnackInfo& connack() const noexcept { return connack_; }
  // The client id in use (assigned by the broker when ours was empty).
  const std::string& client_id() const noexcept { return client_id_; }

  // Received bytes. Returns an error description when the connection must be closed (protocol
  // violation, malformed packet, broker's DISCONNECT, CONNACK refusal); empty otherwise.
  std::string on_bytes(std::string_view chunk);

  // ---- operations ----
  PublishStatus publish(MessagePtr message, Token token);
  // Forgets a publish whose waiter went away: a queued message is dropped, one in flight
  // completes anyway (it was sent; the broker may already have it).
  void cancel_publish(Token token);
  void subscribe(const std::string& filter, const SubscribeOptions& options, Token token);
  void unsubscribe(const std::string& filter, Token token);
  void ping();
  // Encodes a DISCONNECT (v5 with `reason`).
  void disconnect(mqtt::ReasonCode reason = mqtt::ReasonCode::Success);

  // Bytes to write; take them with take_output().
  bool has_output() const noexcept { return !out_.empty(); }
  void take_output(std::string& into) {
    into.clear();
    into.swap(out_);
  }

  std::size_t queued() const noexcept { return flows_.pending() + qos0_.size(); }
  std::size_t in_flight() const noexcept { return flows_.in_flight(); }
  std::uint64_t dropped() const noexcept { return dropped_; }
  // Filters the client keeps subscribed across reconnects.
  const std::map<std::string, SubscribeOptions>& subscriptions() const noexcept {
    return subscriptions_;
  }

  // For the durable queue: each QoS 1/2 flow's packet id and stage as it is sent or advanced.
  struct FlowObserver {
    virtual ~FlowObserver() = default;
    virtual void on_sent(Token token, std::uint16_t packet_id) = 0;
    virtual void on_released(Token token) = 0;  // PUBREC received: awaiting PUBCOMP
    // A new connection without the old session: ids are forgotten.
    virtual void on_ids_reset() = 0;
  };
  void set_flow_observer(FlowObserver* observer) noexcept { observer_ = observer; }
  // Restores a QoS 1/2 flow that was in flight before the process stopped (durable queue),
  // before connecting. `stage` AwaitingPubcomp when its PUBREC had arrived.
  bool restore(MessagePtr message, Token token, std::uint16_t packet_id, mqtt::OutboundStage stage);

 private:
  struct Outgoing {
    MessagePtr message;
    Token token = 0;
  };
  struct Request {  // a SUBSCRIBE or UNSUBSCRIBE awaiting its acknowledgement
    Token token = 0;
    bool subscribe = true;
    std::string filter;
    SubscribeOptions options;
    std::uint16_t packet_id = 0;  // 0: not sent on this connection yet
  };

  std::string fail(std::string why);
  std::string handle(const mqtt::Packet& packet);
  std::string on_connack(const mqtt::Connack& connack);
  std::string on_publish(const mqtt::Publish& publish);
  void encode(const mqtt::Packet& packet);
  void send_request(Request& request);
  // Sends what the window allows.
  void pump();
  void encode_publish(const Message& message, std::uint16_t packet_id, bool dup);
  bool make_room(std::size_t bytes);
  void end_flow(const mqtt::AckOutcome<Outgoing>& outcome, mqtt::ReasonCode reason);

  SessionOptions options_;
  SessionEvents& events_;
  FlowObserver* observer_ = nullptr;
  mqtt::StreamDecoder decoder_;
  mqtt::Packet packet_;
  mqtt::Packet outgoing_;
  std::string out_;
  bool transport_up_ = false;
  bool connected_ = false;
  ConnackInfo connack_;
  std::string client_id_;
  mqtt::OutboundFlows<Outgoing> flows_;
  mqtt::InboundQos2 inbound_;
  std::deque<Outgoing> qos0_;  // QoS 0 messages queued while disconnected
  std::size_t queued_bytes_ = 0;
  std::map<std::string, SubscribeOptions> subscriptions_;
  std::deque<Request> requests_;
  std::uint64_t dropped_ = 0;
};

}  // namespace psos::client
