// The uplink against real brokers (Mosquitto, psos broker; MQTT v5 and v3.1.1): local and remote
// messages reach local subscribers exactly once, local/ stays local, overlapping subscriptions
// do not duplicate, and local delivery goes on while the broker is down.
#include "bridge/uplink.hpp"

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "brokers.hpp"

namespace psos::bridge {
namespace {

using router::Delivery;
using router::LocalClient;
using router::MessagePtr;
using router::Router;
using router::RouterOptions;

using namespace std::chrono_literals;
using client::test::Broker;
namespace asio = boost::asio;

struct Param {
  Broker::Kind broker;
  mqtt::Version version;
};

std::string name_of(const testing::TestParamInfo<Param>& info) {
  return std::string(info.param.broker == Broker::Kind::Mosquitto ? "Mosquitto" : "Psos") +
         (info.param.version == mqtt::Version::v5 ? "V5" : "V311");
}

client::ClientOptions client_options(const Broker& broker, mqtt::Version version, std::string id) {
  client::ClientOptions o;
  o.url = net::parse_url(broker.url()).url;
  o.session.version = version;
  o.session.client_id = std::move(id);
  o.reconnect.initial_delay = 50ms;
  o.reconnect.max_delay = 300ms;
  return o;
}

class UplinkTest : public testing::TestWithParam<Param> {
 protected:
  UplinkTest() {
    spdlog::set_level(getenv("PSOS_DEBUG") ? spdlog::level::debug : spdlog::level::warn);
    spdlog::flush_on(spdlog::level::debug);
    options_.sys_interval_seconds = 0;
    options_.local_prefix = "local/";
  }

  // Runs `body` with a router joined to the broker; fails if it takes longer than `limit`.
  void run(std::function<asio::awaitable<void>(Router&, Uplink&)> body,
           std::chrono::milliseconds limit = 20s) {
    Router router(io_.get_executor(), options_);
    auto uplink_options = client_options(broker_, version_, "node-e01");
    uplink_options.session.clean_start = false;
    uplink_options.session.session_expiry_interval = 600;
    Uplink uplink(router, io_.get_executor(), std::move(uplink_options));
    uplink.start();
    bool done = false;
    std::exception_ptr failure;
    asio::co_spawn(
        io_,
        [&]() -> asio::awaitable<void> {
          co_await body(router, uplink);
          co_await uplink.stop();
        },
        [&](std::exception_ptr e) {
          done = true;
          failure = e;
        });
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done && std::chrono::steady_clock::now() < deadline)
      io_.run_for(50ms);
    router.shutdown();
    io_.restart();
    io_.poll();
    ASSERT_TRUE(done) << "did not finish within " << limit.count() << " ms";
    if (failure) std::rethrow_exception(failure);
  }

  asio::awaitable<void> sleep(std::chrono::milliseconds d) {
    asio::steady_timer t(io_, d);
    co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  // Waits until `done()` holds, at most `limit`.
  asio::awaitable<bool> eventually(std::function<bool()> done,
                                   std::chrono::milliseconds limit = 5s) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) co_return false;
      co_await sleep(10ms);
    }
    co_return true;
  }

  LocalClient::Handler record(std::vector<std::string>& into) {
    return [&into](const MessagePtr& m, const Delivery&) {
      into.push_back(m->topic + "=" + m->payload);
    };
  }

  Broker broker_{GetParam().broker};
  mqtt::Version version_ = GetParam().version;
  asio::io_context io_;
  RouterOptions options_;
};

client::Message make(std::string topic, std::string payload, mqtt::QoS qos) {
  client::Message m;
  m.topic = std::move(topic);
  m.payload = std::move(payload);
  m.qos = qos;
  return m;
}

TEST_P(UplinkTest, EachMessageReachesLocalSubscribersOnce) {
  run([&](Router& router, Uplink& uplink) -> asio::awaitable<void> {
    std::vector<std::string> a, c, remote_seen;
    LocalClient sub_a(router, io_.get_executor(), "a", record(a));
    LocalClient sub_c(router, io_.get_executor(), "c", record(c));
    LocalClient pub(router, io_.get_executor(), "pub", [](const MessagePtr&, const Delivery&) {});
    // Overlapping filters from two services: two upstream subscriptions that both match.
    sub_a.subscribe("s/#");
    sub_c.subscribe("s/+");
    EXPECT_TRUE(co_await uplink.client().wait_connected() == client::error_code{});
    client::Client remote(io_.get_executor(), client_options(broker_, version_, "remote"));
    remote.start();
    client::Subscription rs = co_await remote.subscribe("s/#");
    co_await sleep(200ms);  // the uplink's SUBSCRIBEs are on their way

    co_await remote.publish(make("s/remote", "1", mqtt::QoS::AtLeastOnce));
    pub.publish("s/local", "2", mqtt::QoS::AtLeastOnce);
    pub.publish("local/s/only-here", "3", mqtt::QoS::AtLeastOnce);
    client::MessagePtr up = co_await rs.next();
    EXPECT_EQ(up->topic + "=" + up->payload, "s/remote=1");
    up = co_await rs.next();
    EXPECT_EQ(up->topic + "=" + up->payload, "s/local=2");
    EXPECT_TRUE(co_await eventually([&] { return a.size() >= 3 && c.size() >= 3; }));
    co_await sleep(300ms);  // time for any duplicate or echo to arrive
    const std::vector<std::string> want{"s/remote=1", "s/local=2", "s/only-here=3"};
    auto sorted = [](std::vector<std::string> v) {
      std::sort(v.begin(), v.end());
      return v;
    };
    EXPECT_EQ(sorted(a), sorted(want));
    EXPECT_EQ(sorted(c), sorted(want));
    EXPECT_EQ(rs.pending(), 0u) << "local/ left the node, or a message went up twice";
    co_await remote.stop();
  });
}

TEST_P(UplinkTest, LocalDeliveryGoesOnWhileTheBrokerIsDown) {
  run([&](Router& router, Uplink& uplink) -> asio::awaitable<void> {
    std::vector<std::string> a;
    LocalClient sub_a(router, io_.get_executor(), "a", record(a));
    LocalClient pub(router, io_.get_executor(), "pub", [](const MessagePtr&, const Delivery&) {});
    sub_a.subscribe("d/#");
    auto ro = client_options(broker_, version_, "remote-d");
    ro.session.clean_start = false;
    ro.session.session_expiry_interval = 600;
    client::Client remote(io_.get_executor(), ro);
    remote.start();
    client::Subscription rs = co_await remote.subscribe("d/#");
    EXPECT_TRUE(co_await uplink.client().wait_connected() == client::error_code{});
    broker_.stop();
    EXPECT_TRUE(
        co_await eventually([&] { return uplink.client().state() != client::State::Connected; }));
    pub.publish("d/while-down", "x", mqtt::QoS::AtLeastOnce);
    EXPECT_TRUE(co_await eventually([&] { return a.size() == 1; }, 1s))
        << "local delivery waited for the uplink";
    broker_.start();
    // Queued in the uplink client, sent after it reconnects; the remote client's persistent
    // session gets it.
    client::MessagePtr up = co_await rs.next();
    EXPECT_EQ(up->topic + "=" + up->payload, "d/while-down=x");
    co_await sleep(300ms);
    EXPECT_EQ(a, std::vector<std::string>{"d/while-down=x"});
    co_await remote.stop();
  });
}

INSTANTIATE_TEST_SUITE_P(Brokers, UplinkTest,
                         testing::Values(Param{Broker::Kind::Mosquitto, mqtt::Version::v5},
                                         Param{Broker::Kind::Mosquitto, mqtt::Version::v311},
                                         Param{Broker::Kind::Psos, mqtt::Version::v5},
                                         Param{Broker::Kind::Psos, mqtt::Version::v311}),
                         name_of);

}  // namespace
}  // namespace psos::bridge
