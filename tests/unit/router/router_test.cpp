// psos::router::Router, the Asio shell around the broker state: its timers run on a real event
// loop (one Asio timer for all of them), links are paused and resumed, shutdown lets the loop run
// out. What the state decides is tested in broker_test.cpp.
#include "router/router.hpp"

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <string>
#include <vector>

#include "recording_link.hpp"

namespace psos::router {
namespace {

using namespace std::chrono_literals;
using mqtt::QoS;
using test::RecordingLink;

class RouterTest : public ::testing::Test {
 protected:
  RouterTest() {
    spdlog::set_level(spdlog::level::warn);
    options.sys_interval_seconds = 0;
  }

  Router& router() {
    if (!router_) router_ = std::make_unique<Router>(io.get_executor(), options);
    return *router_;
  }

  SessionId connect(RecordingLink& link, std::string_view client_id, std::uint16_t keep_alive = 60,
                    std::optional<mqtt::Will> will = std::nullopt,
                    std::optional<std::uint32_t> expiry = std::nullopt) {
    mqtt::Connect c;
    c.client_id = client_id;
    c.keep_alive = keep_alive;
    c.will = will;
    c.properties.session_expiry_interval = expiry;
    c.clean_start = !expiry;
    return router().connect(link, c, {.remote = "test"}).session;
  }

  void subscribe(SessionId id, RecordingLink& link, std::string_view filter, QoS qos) {
    mqtt::Subscribe s{.packet_id = 1};
    s.topics.push_back(mqtt::SubscribeTopic{filter, qos});
    router().handle(id, link, s);
  }

  boost::asio::io_context io;
  RouterOptions options;

 private:
  std::unique_ptr<Router> router_;
};

TEST_F(RouterTest, AWillDelayExpiresOnTheEventLoop) {
  RecordingLink watcher;
  subscribe(connect(watcher, "watcher"), watcher, "will/#", QoS::AtMostOnce);
  mqtt::Will will{.topic = "will/x", .payload = "late"};
  will.properties.will_delay_interval = 1;
  RecordingLink first;
  router().connection_lost(connect(first, "delayed", 60, will, 60), first);
  io.run_for(300ms);
  EXPECT_TRUE(watcher.publishes.empty());
  io.run_for(1200ms);
  EXPECT_EQ(watcher.payloads(), (std::vector<std::string>{"late"}));
}

TEST_F(RouterTest, TimersExpireInTheOrderOfTheirDeadlines) {
  // Two connections with keep alive 1 and 2 s that never send anything: closed after 1.5 s and
  // 3 s, although the later one was armed first.
  RecordingLink slow, quick;
  slow.read_at = quick.read_at = std::chrono::steady_clock::now();
  connect(slow, "slow", 2);
  connect(quick, "quick", 1);
  io.run_for(1700ms);
  EXPECT_TRUE(quick.closed);
  EXPECT_FALSE(slow.closed);
  io.run_for(1500ms);
  EXPECT_TRUE(slow.closed);
  EXPECT_EQ(slow.sent<mqtt::Disconnect>().at(0).reason, mqtt::ReasonCode::KeepAliveTimeout);
}

TEST_F(RouterTest, ACongestedSubscriberPausesThePublishersLinkUntilItDrains) {
  options.limits.congestion_bytes = 100;
  RecordingLink sub_link, pub_link;
  const SessionId sub = connect(sub_link, "sub");
  subscribe(sub, sub_link, "t", QoS::AtMostOnce);
  const SessionId pub = connect(pub_link, "pub");
  sub_link.backlog_bytes = 101;  // what it was sent is not written yet
  mqtt::Publish p;
  p.topic = "t";
  p.payload = "x";
  router().handle(pub, pub_link, p);
  EXPECT_TRUE(pub_link.paused);
  router().link_drained(sub);
  EXPECT_TRUE(pub_link.paused) << "still congested";
  sub_link.backlog_bytes = 0;
  router().link_drained(sub);
  EXPECT_FALSE(pub_link.paused);
}

TEST_F(RouterTest, ShutdownLetsTheEventLoopRunOut) {
  options.sys_interval_seconds = 1;
  RecordingLink link;
  router().connection_lost(connect(link, "kept", 60, std::nullopt, 600), link);
  router().shutdown();
  const auto start = std::chrono::steady_clock::now();
  io.run();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 500ms);
}

TEST_F(RouterTest, ObserversSeeTheSubscriptionsThatExistAndEveryChange) {
  RecordingLink link;
  const SessionId id = connect(link, "s");
  subscribe(id, link, "a", QoS::AtMostOnce);
  std::vector<std::string> seen;
  router().observe_subscriptions([&](SessionId, const std::string& filter, bool added) {
    seen.push_back((added ? "+" : "-") + filter);
  });
  subscribe(id, link, "b", QoS::AtMostOnce);
  router().connection_lost(id, link);
  ASSERT_EQ(seen.size(), 4u);
  EXPECT_EQ(seen[0], "+a");
  EXPECT_EQ(seen[1], "+b");
}

}  // namespace
}  // namespace psos::router
