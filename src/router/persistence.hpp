// The router's durable state in SQLite (WAL): retained messages and persistent sessions with
// their subscriptions, their queued and in-flight QoS 1/2 messages and the QoS 2 packet ids they
// have received.
//
// Threads: the router's thread records changes (cheap: no SQL, no encoding); one writer thread
// runs them in SQLite. commit() hands what was recorded to the writer at once: while the writer
// is busy with one transaction, what is handed over joins the next one, which the writer takes as
// soon as it is done (group commit: the busier the broker, the larger the transactions). A
// small transaction while the writer is idle is written at once on the router's thread instead.
// Transactions are numbered; a link waits until the transaction holding everything recorded
// before its write is durable (`durable()`), so nothing is acknowledged or forwarded before it
// is stored.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "mqtt/session_state.hpp"
#include "mqtt/subscription_trie.hpp"
#include "router/message.hpp"
#include "router/stored.hpp"
#include "sqlite/database.hpp"

namespace psos::router {

class Persistence {
 public:
  // Opens (creating if needed) DIR/psos.db. Null with `error` set when it cannot.
  static std::unique_ptr<Persistence> open(const std::filesystem::path& dir, std::string& error);
  // Writes everything recorded, then stops the writer thread.
  ~Persistence();
  Persistence(const Persistence&) = delete;
  Persistence& operator=(const Persistence&) = delete;

  // What was stored, read once at start, before the first change.
  StoredState load();

  // ---- changes, recorded in order and written by commit() ----
  // The broker state's changes (its Store actions), each one of the calls below.
  void record(StoreChange change);
  void put_retained(const MessagePtr& message);
  void erase_retained(std::string_view topic);
  void put_session(const ClientKey& client_id, const std::optional<std::string>& username,
                   mqtt::Version version, std::uint32_t expiry_interval,
                   std::int64_t disconnected_at);
  void erase_session(const ClientKey& client_id);  // with its subscriptions, queue, inbound ids
  void put_subscription(const ClientKey& client_id, std::string_view filter,
                        const mqtt::SubscriptionOptions& options);
  void erase_subscription(const ClientKey& client_id, std::string_view filter);
  // A message queued for a session. A small one queued for one session is stored in its queue
  // row; one queued for several in one transaction (a fan-out), or a large one, is stored once
  // in a row of its own that the queue rows refer to.
  void put_queued(const ClientKey& client_id, std::uint64_t seq, const MessagePtr& message,
                  mqtt::QoS qos, bool retain, const std::vector<std::uint32_t>& subscription_ids);
  // The message was sent with `packet_id` (a flow started) ...
  void update_queued(const ClientKey& client_id, std::uint64_t seq, std::uint16_t packet_id,
                     mqtt::OutboundStage stage);
  // ... or its flow moved on (PUBREC received: awaiting PUBCOMP).
  void update_stage(const ClientKey& client_id, std::uint16_t packet_id, mqtt::OutboundStage stage);
  void erase_queued(const ClientKey& client_id, std::uint64_t seq, const MessagePtr& message);
  // A message queued for a session that ended (erase_session removed its queue).
  void release(const MessagePtr& message);
  void put_inbound(const ClientKey& client_id, std::uint16_t packet_id);
  // The will a stored session holds (its delay counted from the loss of its connection).
  void put_will(const ClientKey& client_id, const MessagePtr& will, std::uint32_t delay);
  void erase_will(const ClientKey& client_id);
  void erase_inbound(const ClientKey& client_id, std::uint16_t packet_id);

  // ---- transactions (all on the router's thread) ----
  // Hands what was recorded to the writer: a new transaction, or the one that waits for the
  // writer to finish the one before. Returns the number of the transaction that makes every
  // change recorded so far durable (0: there is nothing to wait for).
  std::uint64_t commit();
  // The last transaction known to be written. Transactions complete in order.
  std::uint64_t durable() const noexcept { return durable_; }
  // A transaction is being written or waits to be (its completion will be posted).
  bool busy() const noexcept { return writer_busy_; }
  // Called on the router's thread (through `post`) each time a transaction completed.
  // `post` runs a function on the router's thread: the writer thread never touches the router.
  void on_durable(std::function<void(std::function<void()>)> post,
                  std::function<void(std::uint64_t)> done);
  // Blocks until every change recorded so far is written (a clean stop).
  void sync();
  // The owner of `done` is going away: no more calls to it (posted completions included).
  void stop_notifying() { done_ = nullptr; }
  std::uint64_t commits() const noexcept { return durable_; }
  // Statements saved by merging a change into an earlier one of the same transaction (a queued
  // message sent before it was written is written as sent; consecutive removals from one queue
  // are one DELETE).
  std::uint64_t merged() const noexcept { return merged_; }
  // Queued messages acknowledged before their row was handed to the writer: neither the row nor
  // its removal was written.
  std::uint64_t cancelled() const noexcept { return cancelled_; }

 private:
  struct Op;
  struct Writer;
  struct Checkpointer;
  Persistence(std::unique_ptr<sqlite::Database> db, int lock_fd);
  void wal_committed(int frames);  // on the thread that committed
  Op& record(int kind);
  void write(std::vector<Op>& ops);  // on the writer thread: one transaction
  void execute(const Op& op);        // on the writer thread: one change
  void hand_over();
  void writer_done(std::uint64_t number, std::vector<Op> emptied);
  std::int64_t message_id(const MessagePtr& message);
  // A message held by queue rows: in a row of `messages` (id), or in the rows themselves (id 0).
  struct StoredMessage {
    std::int64_t id = 0;
    std::size_t references = 0;  // queue rows holding it, either way
    MessagePtr keep;  // so that no other message takes its address while it is a key here
    // Its first row while that is still recorded, not handed over: pending_[inline_row] while
    // batch == batches_.
    std::size_t inline_row = 0;
    std::uint64_t batch = 0;
  };
  using StoredMessages = std::unordered_map<const Message*, StoredMessage>;
  void release(StoredMessages::iterator stored);  // messages_.end(): nothing to release

  int lock_fd_;  // holds the data directory's lock (psos.lock) until the store is closed
  std::unique_ptr<sqlite::Database> db_;
  std::unique_ptr<Writer> writer_;  // after db_: its statements are finalized first
  std::unique_ptr<Checkpointer> checkpointer_;
  std::vector<Op> pending_;
  std::uint64_t batches_ = 1;  // how many times pending_ was emptied, plus one
  std::uint64_t handed_ = 0;   // the last transaction given to the writer
  std::uint64_t durable_ = 0;  // the last one it finished
  bool writer_busy_ = false;
  std::uint64_t merged_ = 0;
  std::uint64_t cancelled_ = 0;
  std::function<void(std::function<void()>)> post_;
  std::function<void(std::uint64_t)> done_;
  std::int64_t next_message_id_ = 1;
  StoredMessages messages_;
};

}  // namespace psos::router
