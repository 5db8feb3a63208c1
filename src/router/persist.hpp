// The router's durable state in SQLite (WAL): retained messages and persistent sessions with
// their subscriptions, their queued and in-flight QoS 1/2 messages and the QoS 2 packet ids they
// have received. Writes are buffered into one transaction and committed together (group commit);
// the router commits before any byte goes to the network, so nothing is acknowledged before it
// is stored.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "mqtt/session_state.hpp"
#include "mqtt/subscription_trie.hpp"
#include "router/message.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace psos::router {

class Store {
 public:
  // Opens (creating if needed) DIR/psos.db. Null with `error` set when it cannot.
  static std::unique_ptr<Store> open(const std::filesystem::path& dir, std::string& error);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // ---- what was stored, read once at start ----
  struct QueuedMessage {
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
    std::int64_t disconnected_at = 0;  // unix seconds
    std::vector<std::pair<std::string, mqtt::SubscriptionOptions>> subscriptions;
    std::vector<QueuedMessage> queue;  // in seq order
    std::vector<std::uint16_t> inbound_qos2;
  };
  struct Contents {
    std::vector<MessagePtr> retained;
    std::vector<StoredSession> sessions;
  };
  Contents load();

  // ---- changes, committed by commit() ----
  void put_retained(const Message& message);
  void erase_retained(std::string_view topic);
  void put_session(std::string_view client_id, const std::optional<std::string>& username,
                   mqtt::Version version, std::uint32_t expiry_interval,
                   std::int64_t disconnected_at);
  void erase_session(std::string_view client_id);  // with its subscriptions, queue, inbound ids
  void put_subscription(std::string_view client_id, std::string_view filter,
                        const mqtt::SubscriptionOptions& options);
  void erase_subscription(std::string_view client_id, std::string_view filter);
  // A message queued for a session; one copy of the message is stored however many sessions
  // it is queued for.
  void put_queued(std::string_view client_id, std::uint64_t seq, const MessagePtr& message,
                  mqtt::QoS qos, bool retain, const std::vector<std::uint32_t>& subscription_ids);
  // The message was sent with `packet_id` (a flow started) ...
  void update_queued(std::string_view client_id, std::uint64_t seq, std::uint16_t packet_id,
                     mqtt::OutboundStage stage);
  // ... or its flow moved on (PUBREC received: awaiting PUBCOMP).
  void update_stage(std::string_view client_id, std::uint16_t packet_id, mqtt::OutboundStage stage);
  void erase_queued(std::string_view client_id, std::uint64_t seq, const MessagePtr& message);
  void put_inbound(std::string_view client_id, std::uint16_t packet_id);
  void erase_inbound(std::string_view client_id, std::uint16_t packet_id);

  bool dirty() const noexcept { return in_transaction_; }
  // Commits the open transaction. Returns false (and logs) when SQLite fails.
  bool commit();
  std::uint64_t commits() const noexcept { return commits_; }

 private:
  explicit Store(sqlite3* db);
  void begin();
  sqlite3_stmt* prepare(const char* sql);
  void run(sqlite3_stmt* statement);
  std::int64_t message_id(const MessagePtr& message);

  sqlite3* db_;
  std::vector<sqlite3_stmt*> statements_;
  bool in_transaction_ = false;
  std::uint64_t commits_ = 0;
  std::int64_t next_message_id_ = 1;
  struct StoredMessage {
    std::int64_t id;
    std::size_t references;
  };
  std::unordered_map<const Message*, StoredMessage> messages_;
  sqlite3_stmt* begin_ = nullptr;
  sqlite3_stmt* commit_ = nullptr;
  sqlite3_stmt* put_retained_ = nullptr;
  sqlite3_stmt* erase_retained_ = nullptr;
  sqlite3_stmt* put_session_ = nullptr;
  sqlite3_stmt* erase_session_[4] = {};
  sqlite3_stmt* put_subscription_ = nullptr;
  sqlite3_stmt* erase_subscription_ = nullptr;
  sqlite3_stmt* put_message_ = nullptr;
  sqlite3_stmt* erase_message_ = nullptr;
  sqlite3_stmt* put_queued_ = nullptr;
  sqlite3_stmt* update_queued_ = nullptr;
  sqlite3_stmt* update_stage_ = nullptr;
  sqlite3_stmt* erase_queued_ = nullptr;
  sqlite3_stmt* put_inbound_ = nullptr;
  sqlite3_stmt* erase_inbound_ = nullptr;
};

}  // namespace psos::router
