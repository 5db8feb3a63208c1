// The router's SQLite store (src/router/persistence.*): what is recorded is what a reopened store
// loads, transactions complete in order on the writer thread, changes merge within one, a
// message is stored in its queue row or shared between rows, older stores open, and a crash
// loses nothing that was durable.
#include "router/persistence.hpp"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>

#include "mqtt/codec.hpp"
#include "recording_link.hpp"
#include "router/router.hpp"
#include "sqlite/database.hpp"

namespace psos::router {
namespace {

namespace fs = std::filesystem;

class PersistenceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("psos-store-test-" + std::to_string(std::random_device{}()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unique_ptr<Persistence> open() {
    std::string error;
    auto store = Persistence::open(dir_, error);
    EXPECT_NE(store, nullptr) << error;
    return store;
  }

  static MessagePtr message(std::string topic, std::string payload) {
    auto m = std::make_shared<Message>();
    m->topic = std::move(topic);
    m->payload = std::move(payload);
    m->qos = mqtt::QoS::AtLeastOnce;
    m->received = Clock::now();
    return m;
  }

  // One number from the store, read once it is closed (it is locked while open).
  std::int64_t count(const std::string& sql) const {
    sqlite::Database db((dir_ / "psos.db").string());
    sqlite::Statement s = db.prepare(sql);
    return s.step() ? s.integer(0) : -1;
  }

  fs::path dir_;
};

// A store that cannot be opened says why and what to do, from SQLite's code.
TEST_F(PersistenceTest, AStoreInUseIsRefusedWithTheRemedy) {
  auto first = open();
  ASSERT_NE(first, nullptr);
  (void)first->load();
  std::string error;
  EXPECT_EQ(Persistence::open(dir_, error), nullptr);
  EXPECT_NE(error.find("database is locked"), std::string::npos) << error;
  EXPECT_NE(error.find("another broker or node is using " + dir_.string()), std::string::npos)
      << error;
}

TEST_F(PersistenceTest, AFileThatIsNoStoreIsRefusedWithTheRemedy) {
  fs::create_directories(dir_);
  {
    std::ofstream junk(dir_ / "psos.db", std::ios::binary);
    junk << std::string(4096, 'x');
  }
  std::string error;
  EXPECT_EQ(Persistence::open(dir_, error), nullptr);
  EXPECT_NE(error.find((dir_ / "psos.db").string() + " is not a psos store, or is damaged"),
            std::string::npos)
      << error;
}

TEST_F(PersistenceTest, QueuedMessageSentInTheSameTransactionIsWrittenOnceAsSent) {
  {
    auto store = open();
    (void)store->load();
    store->put_session("c1", std::string("alice"), mqtt::Version::v5, 60, 0);
    store->put_queued("c1", 7, message("a/b", "hello"), mqtt::QoS::ExactlyOnce, true, {3, 9});
    store->update_queued("c1", 7, 42, mqtt::OutboundStage::AwaitingPubrec);
    EXPECT_EQ(store->merged(), 1u);
    EXPECT_EQ(store->commit(), 0u);  // no one to tell: written at once
  }
  auto store = open();
  const StoredState contents = store->load();
  ASSERT_EQ(contents.sessions.size(), 1u);
  const auto& s = contents.sessions[0];
  EXPECT_EQ(s.client_id, "c1");
  EXPECT_EQ(s.username, std::optional<std::string>("alice"));
  EXPECT_EQ(s.expiry_interval, 60u);
  ASSERT_EQ(s.queue.size(), 1u);
  const auto& q = s.queue[0];
  EXPECT_EQ(q.seq, 7u);
  EXPECT_EQ(q.message->topic, "a/b");
  EXPECT_EQ(q.message->payload, "hello");
  EXPECT_EQ(q.qos, mqtt::QoS::ExactlyOnce);
  EXPECT_TRUE(q.retain);
  EXPECT_EQ(q.subscription_ids, (std::vector<std::uint32_t>{3, 9}));
  EXPECT_EQ(q.packet_id, 42);
  EXPECT_EQ(q.stage, mqtt::OutboundStage::AwaitingPubrec);
}

TEST_F(PersistenceTest, TransactionsCompleteInOrderOnTheWriterThread) {
  boost::asio::io_context io;
  auto work = boost::asio::make_work_guard(io);
  std::vector<std::uint64_t> completed;
  {
    auto store = open();
    (void)store->load();
    store->on_durable([&](std::function<void()> f) { boost::asio::post(io, std::move(f)); },
                      [&](std::uint64_t n) { completed.push_back(n); });
    EXPECT_EQ(store->commit(), 0u);  // nothing recorded, nothing to wait for
    // A small transaction while the writer is idle is written at once, on this thread.
    store->put_session("c1", std::nullopt, mqtt::Version::v311, 0xFFFFFFFF, 0);
    EXPECT_EQ(store->commit(), 0u);
    EXPECT_EQ(store->durable(), 1u);
    // A large one goes to the writer thread ...
    for (int i = 0; i < 100; ++i)
      store->put_subscription("c1", "x/" + std::to_string(i), {});
    const std::uint64_t second = store->commit();
    EXPECT_EQ(second, 2u);
    EXPECT_EQ(store->durable(), 1u);  // its completion is posted to `io`, not run yet
    // ... and what is handed over until its completion is seen makes (or joins) the next one.
    store->put_subscription("c1", "y/+", {});
    const std::uint64_t third = store->commit();
    EXPECT_GE(third, second);
    EXPECT_LE(third, second + 1);
    while (store->durable() < third)
      io.run_one();
    // Every transaction completes, in order, each once.
    std::vector<std::uint64_t> expected;
    for (std::uint64_t n = 1; n <= third; ++n)
      expected.push_back(n);
    EXPECT_EQ(completed, expected);
    EXPECT_EQ(store->commit(), 0u);
  }
  auto store = open();
  const auto contents = store->load();
  ASSERT_EQ(contents.sessions.size(), 1u);
  EXPECT_EQ(contents.sessions[0].subscriptions.size(), 101u);
  EXPECT_EQ(contents.sessions[0].version, mqtt::Version::v311);
}

TEST_F(PersistenceTest, CloseWritesWhatWasRecorded) {
  {
    boost::asio::io_context io;  // never run: the destructor must not need it
    auto store = open();
    (void)store->load();
    store->on_durable([&](std::function<void()> f) { boost::asio::post(io, std::move(f)); },
                      [](std::uint64_t) {});
    store->put_retained(message("r/1", "kept"));
    store->put_session("c1", std::nullopt, mqtt::Version::v5, 10, 0);
    store->put_inbound("c1", 5);
    (void)store->commit();
    store->put_inbound("c1", 6);
    store->erase_inbound("c1", 5);
  }
  auto store = open();
  const auto contents = store->load();
  ASSERT_EQ(contents.retained.size(), 1u);
  EXPECT_EQ(contents.retained[0]->payload, "kept");
  ASSERT_EQ(contents.sessions.size(), 1u);
  EXPECT_EQ(contents.sessions[0].inbound_qos2, (std::vector<std::uint16_t>{6}));
}

// A message queued for a session that ended must not lend its stored copy to a later message
// (a map keyed by address would, once the first message is freed and the address reused).
TEST_F(PersistenceTest, EndedSessionsMessagesAreNotMistakenForNewOnes) {
  {
    auto store = open();
    (void)store->load();
    for (int i = 0; i < 50; ++i) {
      const std::string old_client = "old" + std::to_string(i);
      {
        MessagePtr old = message("t", "old payload " + std::to_string(i));
        store->put_session(old_client, std::nullopt, mqtt::Version::v5, 10, 0);
        store->put_queued(old_client, 1, old, mqtt::QoS::AtLeastOnce, false, {});
        store->erase_session(old_client);
        store->release(old);
      }
      MessagePtr fresh = message("t", "new payload " + std::to_string(i));
      const std::string client = "new" + std::to_string(i);
      store->put_session(client, std::nullopt, mqtt::Version::v5, 10, 0);
      store->put_queued(client, 1, fresh, mqtt::QoS::AtLeastOnce, false, {});
    }
    store->sync();
  }
  auto store = open();
  const auto contents = store->load();
  ASSERT_EQ(contents.sessions.size(), 50u);
  for (const auto& s : contents.sessions) {
    ASSERT_EQ(s.queue.size(), 1u) << s.client_id;
    EXPECT_EQ(s.queue[0].message->payload, "new payload " + s.client_id.substr(3));
  }
}

// RouterOptions shares the store, so it may outlive the router: what it writes after the router
// is gone (its last sync) must not call back into it (under asan a use after free otherwise).
TEST_F(PersistenceTest, AStoreThatOutlivesItsRouterDoesNotCallIt) {
  boost::asio::io_context io;
  std::shared_ptr<Persistence> store = open();
  {
    RouterOptions options;
    options.sys_interval_seconds = 0;
    options.persistence = store;
    Router router(io.get_executor(), options);
  }
  // More than is written inline: the writer thread writes it and posts its completion.
  for (int i = 0; i < 40; ++i)
    store->put_retained(message("r/" + std::to_string(i), "after the router"));
  (void)store->commit();
  store->sync();
  io.run();
  EXPECT_EQ(store->commits(), 1u);
}

TEST_F(PersistenceTest, AMessageForOneQueueIsStoredInItsRowAndRestored) {
  {
    auto store = open();
    (void)store->load();
    store->put_session("c1", std::nullopt, mqtt::Version::v5, 60, 0);
    auto m = message("a/b", "inline");
    std::const_pointer_cast<Message>(m)->message_expiry_interval = 3600;
    std::const_pointer_cast<Message>(m)->content_type = "text/plain";
    store->put_queued("c1", 1, m, mqtt::QoS::AtLeastOnce, false, {4});
    store->sync();
    store->update_queued("c1", 1, 17, mqtt::OutboundStage::AwaitingPuback);  // a later transaction
    store->put_queued("c1", 2, message("a/c", std::string(2000, 'x')), mqtt::QoS::AtLeastOnce,
                      false, {});  // too large to be held by its row
  }
  EXPECT_EQ(count("SELECT COUNT(*) FROM messages"), 1);  // the large one only
  EXPECT_EQ(count("SELECT COUNT(*) FROM queue WHERE packet IS NOT NULL AND message_id = 0"), 1);
  {
    auto store = open();
    const StoredState contents = store->load();
    ASSERT_EQ(contents.sessions.size(), 1u);
    const auto& queue = contents.sessions[0].queue;
    ASSERT_EQ(queue.size(), 2u);
    EXPECT_EQ(queue[0].seq, 1u);
    EXPECT_EQ(queue[0].message->topic, "a/b");
    EXPECT_EQ(queue[0].message->payload, "inline");
    EXPECT_EQ(queue[0].message->content_type, std::optional<std::string>("text/plain"));
    const auto left = queue[0].message->remaining_expiry(Clock::now());
    ASSERT_TRUE(left.has_value());
    EXPECT_GT(*left, 3500u);
    EXPECT_LE(*left, 3600u);
    EXPECT_EQ(queue[0].subscription_ids, (std::vector<std::uint32_t>{4}));
    EXPECT_EQ(queue[0].packet_id, 17);
    EXPECT_EQ(queue[1].message->payload, std::string(2000, 'x'));
    store->erase_queued("c1", 1, queue[0].message);
    store->erase_queued("c1", 2, queue[1].message);
  }
  EXPECT_EQ(count("SELECT COUNT(*) FROM queue"), 0);
  EXPECT_EQ(count("SELECT COUNT(*) FROM messages"), 0);
}

// Removals of consecutive rows of one queue, with the sending of the next message between them,
// are one DELETE; a row queued again in between is not removed by an earlier one's merge.
TEST_F(PersistenceTest, ConsecutiveRemovalsFromOneQueueMerge) {
  std::vector<MessagePtr> m;
  for (int i = 0; i < 8; ++i)
    m.push_back(message("t", "m" + std::to_string(i)));
  {
    auto store = open();
    (void)store->load();
    for (const char* c : {"c1", "c2"})
      store->put_session(c, std::nullopt, mqtt::Version::v5, 60, 0);
    for (std::uint64_t seq = 1; seq <= 6; ++seq) {
      store->put_queued("c1", seq, m[seq], mqtt::QoS::AtLeastOnce, false, {});
      store->put_queued("c2", seq, m[seq], mqtt::QoS::AtLeastOnce, false, {});
    }
    store->sync();
    const std::uint64_t before = store->merged();
    store->erase_queued("c1", 1, m[1]);
    store->update_queued("c1", 4, 4, mqtt::OutboundStage::AwaitingPuback);
    store->erase_queued("c2", 1, m[1]);
    store->erase_queued("c1", 2, m[2]);  // merges with c1's 1 (two changes between)
    store->erase_queued("c1", 3, m[3]);
    store->erase_queued("c2", 3, m[3]);  // not after c2's 1: a DELETE of its own
    EXPECT_EQ(store->merged() - before, 2u);
    store->sync();
    // Removed, then queued again in the same transaction: the next removal does not merge
    // into the first (it would run before the row is written again).
    store->erase_queued("c2", 4, m[4]);
    store->put_queued("c2", 5, m[7], mqtt::QoS::AtLeastOnce, false, {});
    store->erase_queued("c2", 5, m[5]);
    EXPECT_EQ(store->merged() - before, 2u);
  }
  EXPECT_EQ(count("SELECT COUNT(*) FROM messages"), 4);  // m2, m4, m5, m6: still queued
  auto store = open();
  const StoredState contents = store->load();
  std::map<std::string, std::vector<std::uint64_t>> left;
  for (const auto& s : contents.sessions) {
    for (const auto& q : s.queue)
      left[s.client_id].push_back(q.seq);
  }
  EXPECT_EQ(left["c1"], (std::vector<std::uint64_t>{4, 5, 6}));
  EXPECT_EQ(left["c2"], (std::vector<std::uint64_t>{2, 6}));
}

// While the writer is busy, what is recorded waits on the router's thread for the next
// transaction; a queued message acknowledged meanwhile is never written, nor its removal.
TEST_F(PersistenceTest, AMessageAcknowledgedBeforeItsTransactionIsHandedOverIsNeverWritten) {
  boost::asio::io_context io;
  auto work = boost::asio::make_work_guard(io);
  {
    auto store = open();
    (void)store->load();
    store->on_durable([&](std::function<void()> f) { boost::asio::post(io, std::move(f)); },
                      [](std::uint64_t) {});
    // Enough for the writer thread (more than is written at once on this thread).
    for (int i = 0; i < 100; ++i)
      store->put_subscription("c1", "x/" + std::to_string(i), {});
    store->put_session("c1", std::nullopt, mqtt::Version::v5, 60, 0);
    const std::uint64_t first = store->commit();
    ASSERT_EQ(first, 1u);
    ASSERT_TRUE(store->busy());
    // Until the writer's completion is seen here, changes wait for the next transaction ...
    const MessagePtr acknowledged = message("t", "acknowledged"), kept = message("t", "kept");
    store->put_queued("c1", 1, acknowledged, mqtt::QoS::AtLeastOnce, false, {});
    store->update_queued("c1", 1, 1, mqtt::OutboundStage::AwaitingPuback);
    store->put_queued("c1", 2, kept, mqtt::QoS::AtLeastOnce, false, {});
    EXPECT_EQ(store->commit(), first + 1);
    // ... so a removal finds its row still here: neither is written.
    store->erase_queued("c1", 1, acknowledged);
    EXPECT_EQ(store->cancelled(), 1u);
    while (store->durable() < first + 1)
      io.run_one();
    // Once handed over, a row is written, and its removal too.
    const MessagePtr late = message("t", "late");
    store->put_queued("c1", 3, late, mqtt::QoS::AtLeastOnce, false, {});
    (void)store->commit();  // small, the writer idle: written at once
    store->erase_queued("c1", 3, late);
    EXPECT_EQ(store->cancelled(), 1u);
    store->sync();
  }
  auto store = open();
  const StoredState contents = store->load();
  ASSERT_EQ(contents.sessions.size(), 1u);
  ASSERT_EQ(contents.sessions[0].queue.size(), 1u);
  EXPECT_EQ(contents.sessions[0].queue[0].seq, 2u);
  EXPECT_EQ(contents.sessions[0].queue[0].message->payload, "kept");
  EXPECT_EQ(contents.sessions[0].subscriptions.size(), 100u);
}

// Checkpoints run on a connection of their own, beside the writer's transactions, and the WAL
// still starts over: it stays near the checkpoint mark (1,000 frames) instead of holding every
// frame written (SQLite starts it over only at a transaction that begins with nothing left to
// copy, which the writer arranges once the checkpointer has caught up).
TEST_F(PersistenceTest, TheWalStartsOverWhileCheckpointsRunBesideTheWriter) {
  const fs::path wal = dir_ / "psos.db-wal";
  std::uintmax_t largest = 0;
  {
    auto store = open();
    (void)store->load();
    const std::string payload(3000, 'x');
    // About 8,000 frames in all: each transaction replaces a retained message of its own.
    for (int i = 0; i < 4000; ++i) {
      auto m = message("r/" + std::to_string(i % 50), payload);
      store->put_retained(m);
      store->sync();
      if (fs::exists(wal)) largest = std::max(largest, fs::file_size(wal));
    }
  }
  constexpr std::uintmax_t kFrame = 4096 + 24;
  EXPECT_GT(largest, 900 * kFrame) << "the test wrote too little to need a checkpoint";
  EXPECT_LT(largest, 4000 * kFrame) << "the WAL was not started over";
  EXPECT_FALSE(fs::exists(wal)) << "the last connection to close removes it";
  auto store = open();
  EXPECT_EQ(store->load().retained.size(), 50u);
}

TEST_F(PersistenceTest, AFanOutInOneTransactionSharesOneStoredCopy) {
  {
    auto store = open();
    (void)store->load();
    const auto m = message("f/o", "shared");
    for (const char* c : {"c1", "c2", "c3"}) {
      store->put_session(c, std::nullopt, mqtt::Version::v5, 60, 0);
      store->put_queued(c, 1, m, mqtt::QoS::AtLeastOnce, false, {});
    }
  }
  EXPECT_EQ(count("SELECT COUNT(*) FROM messages"), 1);
  EXPECT_EQ(count("SELECT COUNT(*) FROM queue WHERE packet IS NULL AND message_id != 0"), 3);
  {
    auto store = open();
    const StoredState contents = store->load();
    ASSERT_EQ(contents.sessions.size(), 3u);
    for (const auto& s : contents.sessions) {
      ASSERT_EQ(s.queue.size(), 1u);
      EXPECT_EQ(s.queue[0].message, contents.sessions[0].queue[0].message);  // one copy
      EXPECT_EQ(s.queue[0].message->payload, "shared");
    }
    store->erase_queued("c1", 1, contents.sessions[0].queue[0].message);
    store->erase_queued("c2", 1, contents.sessions[1].queue[0].message);
  }
  EXPECT_EQ(count("SELECT COUNT(*) FROM messages"), 1);  // c3 still holds it
  {
    auto store = open();
    const StoredState contents = store->load();
    for (const auto& s : contents.sessions) {
      if (s.client_id != "c3") continue;
      ASSERT_EQ(s.queue.size(), 1u);
      EXPECT_EQ(s.queue[0].message->payload, "shared");
      store->erase_queued("c3", 1, s.queue[0].message);
    }
  }
  EXPECT_EQ(count("SELECT COUNT(*) FROM messages"), 0);
}

// A message first written in one queue row, then queued for two more sessions in a later
// transaction: those two share a stored copy, which lasts until every row of the message is gone.
TEST_F(PersistenceTest, ASharedCopyMadeLaterOutlivesEveryRowOfTheMessage) {
  {
    auto store = open();
    (void)store->load();
    const auto m = message("l/t", "late fan-out");
    for (const char* c : {"c1", "c2", "c3"})
      store->put_session(c, std::nullopt, mqtt::Version::v5, 60, 0);
    store->put_queued("c1", 1, m, mqtt::QoS::AtLeastOnce, false, {});
    store->sync();
    store->put_queued("c2", 1, m, mqtt::QoS::AtLeastOnce, false, {});
    store->put_queued("c3", 1, m, mqtt::QoS::AtLeastOnce, false, {});
    store->sync();
    store->erase_queued("c2", 1, m);
    store->erase_queued("c3", 1, m);
    store->sync();
  }
  // c1's row holds its own copy: the shared one is gone with the last row that referred to it.
  EXPECT_EQ(count("SELECT COUNT(*) FROM messages"), 0);
  {
    auto store = open();
    const auto m = message("l/t", "again");
    store->put_queued("c2", 2, m, mqtt::QoS::AtLeastOnce, false, {});
    store->put_queued("c3", 2, m, mqtt::QoS::AtLeastOnce, false, {});
    store->sync();
    store->erase_queued("c2", 2, m);
    store->sync();
    // Every row counts: c1's inline row and c3's shared one keep the copy.
    store->put_queued("c1", 3, m, mqtt::QoS::AtLeastOnce, false, {});
    store->sync();
    store->erase_queued("c3", 2, m);
  }
  EXPECT_EQ(count("SELECT COUNT(*) FROM messages"), 1);
  auto store = open();
  const StoredState contents = store->load();
  std::vector<std::string> c1;
  for (const auto& s : contents.sessions) {
    if (s.client_id != "c1") {
      EXPECT_TRUE(s.queue.empty()) << s.client_id;
      continue;
    }
    for (const auto& q : s.queue)
      c1.push_back(q.message->payload);
  }
  EXPECT_EQ(c1, (std::vector<std::string>{"late fan-out", "again"}));
}

// A store written before queue rows could hold their message (no packet, expires_at columns;
// retained without `local`) opens, loads, and takes new changes.
TEST_F(PersistenceTest, AStoreWithTheFirstLayoutOpens) {
  fs::create_directories(dir_);
  {
    sqlite::Database db((dir_ / "psos.db").string());
    db.exec(R"(
PRAGMA journal_mode=WAL;
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO meta VALUES('schema', '1');
CREATE TABLE retained(topic TEXT PRIMARY KEY, packet BLOB NOT NULL, expires_at INTEGER);
CREATE TABLE sessions(client_id TEXT PRIMARY KEY, username TEXT, version INTEGER NOT NULL,
  expiry_interval INTEGER NOT NULL, disconnected_at INTEGER NOT NULL);
CREATE TABLE subscriptions(client_id TEXT NOT NULL, filter TEXT NOT NULL,
  qos INTEGER NOT NULL, no_local INTEGER NOT NULL, retain_as_published INTEGER NOT NULL,
  retain_handling INTEGER NOT NULL, identifier INTEGER NOT NULL, PRIMARY KEY(client_id, filter));
CREATE TABLE messages(id INTEGER PRIMARY KEY, packet BLOB NOT NULL, expires_at INTEGER);
CREATE TABLE queue(client_id TEXT NOT NULL, seq INTEGER NOT NULL, message_id INTEGER NOT NULL,
  qos INTEGER NOT NULL, retain INTEGER NOT NULL, subscription_ids BLOB, packet_id INTEGER NOT NULL,
  stage INTEGER NOT NULL, PRIMARY KEY(client_id, seq));
CREATE TABLE inbound(client_id TEXT NOT NULL, packet_id INTEGER NOT NULL,
  PRIMARY KEY(client_id, packet_id));
CREATE TABLE wills(client_id TEXT PRIMARY KEY, packet BLOB NOT NULL,
  expires_at INTEGER, delay INTEGER NOT NULL);
INSERT INTO sessions VALUES('old', NULL, 5, 3600, 0);
)");
    mqtt::Publish p;
    p.topic = "o/t";
    p.payload = "stored by the first layout";
    p.qos = mqtt::QoS::AtLeastOnce;
    p.packet_id = 1;
    std::string packet;
    ASSERT_FALSE(mqtt::encode(p, mqtt::Version::v5, packet));
    db.prepare("INSERT INTO messages VALUES(7, ?1, NULL)").bind_blob(1, packet).run();
    db.exec("INSERT INTO queue VALUES('old', 1, 7, 1, 0, NULL, 3, 0)");
  }
  {
    auto store = open();
    ASSERT_NE(store, nullptr);
    const StoredState contents = store->load();
    ASSERT_EQ(contents.sessions.size(), 1u);
    ASSERT_EQ(contents.sessions[0].queue.size(), 1u);
    EXPECT_EQ(contents.sessions[0].queue[0].message->payload, "stored by the first layout");
    EXPECT_EQ(contents.sessions[0].queue[0].packet_id, 3);
    store->put_queued("old", 2, message("o/t", "new"), mqtt::QoS::AtLeastOnce, false, {});
    const auto shared = message("o/s", "shared");
    store->put_queued("old", 3, shared, mqtt::QoS::AtLeastOnce, false, {});
    store->put_session("other", std::nullopt, mqtt::Version::v5, 60, 0);
    store->put_queued("other", 1, shared, mqtt::QoS::AtLeastOnce, false, {});
  }
  EXPECT_EQ(count("SELECT COUNT(*) FROM messages"), 2);  // ids apart: 7 and the new one
  auto store = open();
  const StoredState contents = store->load();
  std::vector<std::string> old;
  for (const auto& s : contents.sessions) {
    if (s.client_id == "old") {
      for (const auto& q : s.queue)
        old.push_back(q.message->payload);
    }
  }
  EXPECT_EQ(old, (std::vector<std::string>{"stored by the first layout", "new", "shared"}));
}

// The process dies (no destructor runs, nothing more is written) at two points of a QoS 1 stream
// to a persistent subscriber: what was durable when the PUBACKs would have left is all there, and
// a message whose receiver acknowledged it after the last commit is delivered again.
TEST_F(PersistenceTest, ACrashLosesNothingDurableAndRedeliversWhatWasNotRemoved) {
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // Exit codes say what went wrong (gtest does not report from here).
    boost::asio::io_context io;
    std::string error;
    std::shared_ptr<Persistence> store = Persistence::open(dir_, error);
    if (!store) ::_exit(10);
    RouterOptions options;
    options.sys_interval_seconds = 0;
    options.persistence = store;
    Router router(io.get_executor(), options);
    const auto settle = [&] {
      // What the links would wait for before writing (Connection::write_loop).
      const std::uint64_t t = router.commit();
      while (store->durable() < t)
        io.run_one();
    };
    test::RecordingLink sub, pub;
    mqtt::Connect c;
    c.client_id = "sub";
    c.clean_start = false;
    c.properties.session_expiry_interval = 3600;
    const SessionId s = router.connect(sub, c, {.remote = "test"}).session;
    mqtt::Subscribe subscribe{.packet_id = 1};
    subscribe.topics.push_back(mqtt::SubscribeTopic{"t", mqtt::QoS::AtLeastOnce});
    router.handle(s, sub, subscribe);
    c.client_id = "pub";
    c.clean_start = true;
    c.properties.session_expiry_interval.reset();
    const SessionId p = router.connect(pub, c, {.remote = "test"}).session;
    for (std::uint16_t i = 1; i <= 3; ++i) {
      mqtt::Publish m;
      m.topic = "t";
      m.qos = mqtt::QoS::AtLeastOnce;
      m.packet_id = i;
      const std::string payload = "m" + std::to_string(i);
      m.payload = payload;
      router.handle(p, pub, m);
    }
    settle();  // the PUBACKs to the publisher may leave now
    if (pub.sent<mqtt::Puback>().size() != 3 || sub.publishes.size() != 3) ::_exit(11);
    router.handle(s, sub, mqtt::Puback{.packet_id = sub.publishes[0].packet_id});
    settle();  // m1's removal rides with the next transaction (a link about to write commits)
    router.handle(s, sub, mqtt::Puback{.packet_id = sub.publishes[1].packet_id});
    ::_exit(0);  // m2's removal is not committed
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0);
  auto store = open();
  const StoredState contents = store->load();
  std::vector<std::string> queued;
  for (const auto& s : contents.sessions) {
    if (s.client_id != "sub") continue;
    EXPECT_EQ(s.subscriptions.size(), 1u);
    for (const auto& q : s.queue) {
      queued.push_back(q.message->payload);
      EXPECT_NE(q.packet_id, 0) << "sent before the crash: resent with DUP";
    }
  }
  EXPECT_EQ(queued, (std::vector<std::string>{"m2", "m3"}));
}

}  // namespace
}  // namespace psos::router
