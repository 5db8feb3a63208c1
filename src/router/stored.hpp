// What the router keeps with --data, as plain data between the broker state and Persistence:
// the changes the broker asks to store (StoreChange, one of its actions) and what it finds stored
// when it starts (StoredState).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "mqtt/packets.hpp"
#include "mqtt/session_state.hpp"
#include "mqtt/subscription_trie.hpp"
#include "router/message.hpp"

namespace psos::router {

// A session's client id as its store changes carry it: one shared copy per session
// (Session::store_key), so that a change, recorded for every queued message and kept until its
// transaction is written, costs no copy of it. Made from text where there is no session to
// share one (tests, rare changes).
class ClientKey {
 public:
  ClientKey() = default;
  ClientKey(std::string_view id) : id_(std::make_shared<const std::string>(id)) {}
  ClientKey(const std::string& id) : ClientKey(std::string_view(id)) {}
  ClientKey(const char* id) : ClientKey(std::string_view(id)) {}

  const std::string& str() const noexcept { return id_ ? *id_ : empty(); }
  operator std::string_view() const noexcept { return str(); }
  // The same copy, or two copies of the same text.
  friend bool operator==(const ClientKey& a, const ClientKey& b) noexcept {
    return a.id_ == b.id_ || a.str() == b.str();
  }

 private:
  static const std::string& empty() noexcept {
    static const std::string none;
    return none;
  }
  std::shared_ptr<const std::string> id_;
};

namespace store {

struct PutRetained {
  MessagePtr message;
};
struct EraseRetained {
  std::string topic;
};
struct PutSession {
  std::string client_id;
  std::optional<std::string> username;
  mqtt::Version version = mqtt::Version::v5;
  std::uint32_t expiry_interval = 0;
  std::int64_t disconnected_at = 0;  // unix seconds; 0: connected
};
// The session with its subscriptions, queue, received QoS 2 ids and will.
struct EraseSession {
  std::string client_id;
};
struct PutSubscription {
  std::string client_id;
  std::string filter;
  mqtt::SubscriptionOptions options;
};
struct EraseSubscription {
  std::string client_id;
  std::string filter;
};
// A message queued for a session (Persistence decides whether its row holds it or refers to a
// copy that several rows share).
struct PutQueued {
  ClientKey client_id;
  std::uint64_t seq = 0;
  MessagePtr message;
  mqtt::QoS qos = mqtt::QoS::AtLeastOnce;
  bool retain = false;
  std::vector<std::uint32_t> subscription_ids;
};
// The queued message was sent with `packet_id`: its flow started.
struct UpdateQueued {
  ClientKey client_id;
  std::uint64_t seq = 0;
  std::uint16_t packet_id = 0;
  mqtt::OutboundStage stage = mqtt::OutboundStage::AwaitingPuback;
};
// The flow moved on (PUBREC received: awaiting PUBCOMP).
struct UpdateStage {
  ClientKey client_id;
  std::uint16_t packet_id = 0;
  mqtt::OutboundStage stage = mqtt::OutboundStage::AwaitingPubcomp;
};
struct EraseQueued {
  ClientKey client_id;
  std::uint64_t seq = 0;
  MessagePtr message;
};
// A message queued for a session that ended (EraseSession removed its queue entry).
struct Release {
  MessagePtr message;
};
struct PutInbound {
  ClientKey client_id;
  std::uint16_t packet_id = 0;
};
struct EraseInbound {
  ClientKey client_id;
  std::uint16_t packet_id = 0;
};
// The will a stored session holds (its delay counted from the loss of its connection).
struct PutWill {
  std::string client_id;
  MessagePtr message;
  std::uint32_t delay = 0;
};
struct EraseWill {
  std::string client_id;
};

}  // namespace store

using StoreChange =
    std::variant<store::PutRetained, store::EraseRetained, store::PutSession, store::EraseSession,
                 store::PutSubscription, store::EraseSubscription, store::PutQueued,
                 store::UpdateQueued, store::UpdateStage, store::EraseQueued, store::Release,
                 store::PutInbound, store::EraseInbound, store::PutWill, store::EraseWill>;

struct StoredDelivery {
  std::uint64_t seq = 0;
  MessagePtr message;
  mqtt::QoS qos = mqtt::QoS::AtLeastOnce;
  bool retain = false;
  std::vector<std::uint32_t> subscription_ids;
  std::uint16_t packet_id = 0;  // 0: not sent yet
  mqtt::OutboundStage stage = mqtt::OutboundStage::AwaitingPuback;
};

struct StoredSession {
  std::string client_id;
  std::optional<std::string> username;
  mqtt::Version version = mqtt::Version::v5;
  std::uint32_t expiry_interval = 0;
  std::int64_t disconnected_at = 0;  // unix seconds; 0: connected when the broker stopped
  std::vector<std::pair<std::string, mqtt::SubscriptionOptions>> subscriptions;
  std::vector<StoredDelivery> queue;  // in seq order
  std::vector<std::uint16_t> inbound_qos2;
  // The will of a session that was connected when the broker stopped, or whose delayed will
  // was not published yet (null: none).
  MessagePtr will;
  std::uint32_t will_delay = 0;
};

struct StoredState {
  std::vector<MessagePtr> retained;
  std::vector<StoredSession> sessions;
};

}  // namespace psos::router
