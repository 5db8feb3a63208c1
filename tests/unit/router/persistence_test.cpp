// The router's SQLite store (src/router/persistence.*): what is recorded is what a reopened store
// loads, transactions complete in order on the writer thread, changes merge within one.
#include "router/persistence.hpp"

#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <filesystem>
#include <random>

#include "router/router.hpp"

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

  fs::path dir_;
};

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

}  // namespace
}  // namespace psos::router
