// In-process sessions (LocalClient): publish and subscribe without packets, shared messages,
// No Local, and interplay with a network-style session.
#include "router/local_client.hpp"

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <boost/asio/io_context.hpp>
#include <string>
#include <vector>

namespace psos::router {
namespace {

struct Received {
  std::vector<std::string> topics;
  std::vector<MessagePtr> messages;
};

class LocalClientTest : public ::testing::Test {
 protected:
  LocalClientTest() {
    spdlog::set_level(spdlog::level::warn);
    options_.sys_interval_seconds = 0;
  }
  LocalClient::Handler record(Received& into) {
    return [&into](const MessagePtr& m, const Delivery&) {
      into.topics.push_back(m->topic + "=" + m->payload);
      into.messages.push_back(m);
    };
  }
  boost::asio::io_context io_;
  RouterOptions options_;
};

TEST_F(LocalClientTest, DeliversMatchingMessagesAfterTheCallReturns) {
  Router router(io_.get_executor(), options_);
  Received a;
  LocalClient sub(router, io_.get_executor(), "sub", record(a));
  LocalClient pub(router, io_.get_executor(), "pub", [](const MessagePtr&, const Delivery&) {});
  sub.subscribe("sensors/+/temp");
  pub.publish("sensors/e01/temp", "21.5");
  pub.publish("sensors/e01/hum", "40");
  EXPECT_TRUE(a.topics.empty()) << "delivered synchronously inside publish()";
  io_.poll();
  EXPECT_EQ(a.topics, (std::vector<std::string>{"sensors/e01/temp=21.5"}));
}

TEST_F(LocalClientTest, OneMessageIsSharedNotCopiedPerSubscriber) {
  Router router(io_.get_executor(), options_);
  Received a, b;
  LocalClient s1(router, io_.get_executor(), "s1", record(a));
  LocalClient s2(router, io_.get_executor(), "s2", record(b));
  s1.subscribe("t/#");
  s2.subscribe("t/x");
  LocalClient pub(router, io_.get_executor(), "pub", [](const MessagePtr&, const Delivery&) {});
  pub.publish("t/x", std::string(4096, 'p'));
  io_.poll();
  ASSERT_EQ(a.messages.size(), 1u);
  ASSERT_EQ(b.messages.size(), 1u);
  EXPECT_EQ(a.messages[0].get(), b.messages[0].get());
}

TEST_F(LocalClientTest, NoLocalSkipsOwnMessagesOnly) {
  Router router(io_.get_executor(), options_);
  Received own, other;
  LocalClient me(router, io_.get_executor(), "me", record(own));
  LocalClient them(router, io_.get_executor(), "them", record(other));
  me.subscribe("chat", /*no_local=*/true);
  them.subscribe("chat");
  me.publish("chat", "hello");
  them.publish("chat", "hi");
  io_.poll();
  EXPECT_EQ(own.topics, (std::vector<std::string>{"chat=hi"}));
  EXPECT_EQ(other.topics, (std::vector<std::string>{"chat=hello", "chat=hi"}));
}

TEST_F(LocalClientTest, HandlerMayPublishAndUnsubscribe) {
  Router router(io_.get_executor(), options_);
  Received out;
  LocalClient sink(router, io_.get_executor(), "sink", record(out));
  sink.subscribe("out");
  LocalClient* pipe_ptr = nullptr;
  LocalClient pipe(router, io_.get_executor(), "pipe", [&](const MessagePtr& m, const Delivery&) {
    pipe_ptr->publish("out", "got " + m->payload);
    pipe_ptr->unsubscribe("in");
  });
  pipe_ptr = &pipe;
  pipe.subscribe("in");
  LocalClient src(router, io_.get_executor(), "src", [](const MessagePtr&, const Delivery&) {});
  src.publish("in", "1");
  io_.poll();
  src.publish("in", "2");  // unsubscribed by now
  io_.poll();
  EXPECT_EQ(out.topics, (std::vector<std::string>{"out=got 1"}));
}

TEST_F(LocalClientTest, RetainedMessagesReachLateSubscribers) {
  Router router(io_.get_executor(), options_);
  LocalClient pub(router, io_.get_executor(), "pub", [](const MessagePtr&, const Delivery&) {});
  pub.publish("state", "on", mqtt::QoS::AtLeastOnce, /*retain=*/true);
  Received late;
  LocalClient sub(router, io_.get_executor(), "late", record(late));
  sub.subscribe("state");
  io_.poll();
  EXPECT_EQ(late.topics, (std::vector<std::string>{"state=on"}));
  EXPECT_EQ(router.retained_count(), 1u);
}

TEST_F(LocalClientTest, DestroyedClientLeavesNoSession) {
  Router router(io_.get_executor(), options_);
  {
    LocalClient c(router, io_.get_executor(), "gone", [](const MessagePtr&, const Delivery&) {});
    c.subscribe("a/#");
    EXPECT_EQ(router.subscription_count(), 1u);
    EXPECT_EQ(router.connected_count(), 1u);
  }
  EXPECT_EQ(router.subscription_count(), 0u);
  EXPECT_EQ(router.connected_count(), 0u);
  EXPECT_EQ(router.session_count(), 0u);
}

}  // namespace
}  // namespace psos::router
