// psos::listeners: a router's network connections over real loopback sockets. An idle tcp
// connection waits with a callback and no coroutine (connection.cpp); these tests drive it through
// every way out of that wait: bytes in pieces, a burst larger than its first read, the connect
// timeout, and the router closing it while it waits.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <cerrno>
#include <chrono>
#include <future>
#include <optional>
#include <string>
#include <thread>

#include "listeners/listener_set.hpp"
#include "mqtt/codec.hpp"
#include "mqtt/stream_decoder.hpp"
#include "net/url.hpp"
#include "router/router.hpp"

namespace psos::listeners {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// What a test reads of a packet (the decoded packet's views die with the client's buffer).
struct Received {
  mqtt::PacketType type{};
  mqtt::ReasonCode reason = mqtt::ReasonCode::Success;  // CONNACK, DISCONNECT
  std::string payload;                                  // PUBLISH
};

// A blocking MQTT 5 client on a plain socket: the test thread's side of a connection.
class RawClient {
 public:
  explicit RawClient(std::uint16_t port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0)
      throw std::runtime_error("cannot connect to the listener");
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    timeval timeout{.tv_sec = 5, .tv_usec = 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  }
  ~RawClient() { ::close(fd_); }
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  static std::string encoded(const mqtt::Packet& packet) {
    std::string out;
    if (mqtt::encode(packet, mqtt::Version::v5, out)) throw std::runtime_error("cannot encode");
    return out;
  }
  void send_bytes(std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) throw std::runtime_error("send failed");
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
  }
  void send(const mqtt::Packet& packet) { send_bytes(encoded(packet)); }

  // The next packet; nullopt at the end of the stream. Throws after 5 s of silence.
  std::optional<Received> next() {
    mqtt::Packet packet;
    while (true) {
      const auto status = decoder_.next(packet);
      if (status == mqtt::StreamDecoder::Status::Failed) throw std::runtime_error("bad packet");
      if (status == mqtt::StreamDecoder::Status::Ready) break;
      const ssize_t n = ::recv(fd_, chunk_.data(), chunk_.size(), 0);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        throw std::runtime_error("nothing from the broker for 5 s");
      if (n <= 0) return std::nullopt;
      decoder_.feed(std::string_view(chunk_.data(), static_cast<std::size_t>(n)));
    }
    Received r{.type = mqtt::type_of(packet)};
    if (const auto* c = std::get_if<mqtt::Connack>(&packet)) r.reason = c->reason;
    if (const auto* d = std::get_if<mqtt::Disconnect>(&packet)) r.reason = d->reason;
    if (const auto* p = std::get_if<mqtt::Publish>(&packet)) r.payload = p->payload;
    return r;
  }

  // PINGREQ, answered by PINGRESP.
  void ping() {
    send(mqtt::Pingreq{});
    const auto pong = next();
    ASSERT_TRUE(pong);
    EXPECT_EQ(pong->type, mqtt::PacketType::Pingresp);
  }

  void connect(std::string_view client_id) {
    send(mqtt::Connect{.client_id = client_id});
    const auto connack = next();
    ASSERT_TRUE(connack);
    ASSERT_EQ(connack->type, mqtt::PacketType::Connack);
    ASSERT_EQ(connack->reason, mqtt::ReasonCode::Success);
  }

 private:
  int fd_;
  std::array<char, 4096> chunk_{};
  mqtt::StreamDecoder decoder_;
};

class ConnectionTest : public ::testing::Test {
 protected:
  ConnectionTest() { spdlog::set_level(spdlog::level::warn); }
  ~ConnectionTest() override {
    if (thread_.joinable()) {
      boost::asio::post(io_, [this] {
        listeners_->stop();
        router_->close_all(mqtt::ReasonCode::ServerShuttingDown);
        router_->shutdown();
        work_.reset();
      });
      thread_.join();
    }
  }

  // A router and its listener on a free loopback port, run on a thread of their own.
  std::uint16_t start(ConnectionOptions options = {}) {
    router::RouterOptions router_options;
    router_options.sys_interval_seconds = 0;
    router_ = std::make_unique<router::Router>(io_.get_executor(), router_options);
    listeners_ = std::make_unique<ListenerSet>(io_.get_executor(), *router_, options);
    const std::string error = listeners_->add(net::parse_url("mqtt://127.0.0.1:0").url);
    if (!error.empty()) throw std::runtime_error(error);
    listeners_->start();
    thread_ = std::thread([this] { io_.run(); });
    return listeners_->urls().front().port;
  }

  boost::asio::io_context io_;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_{
      io_.get_executor()};
  std::unique_ptr<router::Router> router_;
  std::unique_ptr<ListenerSet> listeners_;
  std::thread thread_;
};

TEST_F(ConnectionTest, PacketsSentInPiecesAreAnsweredAcrossIdleWaits) {
  RawClient client(start());
  // Every byte of the CONNECT on its own, after a pause: each one ends the reader and the next
  // wakes it again.
  const std::string connect = RawClient::encoded(mqtt::Connect{.client_id = "pieces"});
  for (const char byte : connect) {
    client.send_bytes(std::string_view(&byte, 1));
    std::this_thread::sleep_for(5ms);
  }
  auto connack = client.next();
  ASSERT_TRUE(connack);
  EXPECT_EQ(connack->type, mqtt::PacketType::Connack);
  for (int i = 0; i < 3; ++i) {
    std::this_thread::sleep_for(50ms);
    client.ping();
  }
}

TEST_F(ConnectionTest, ABurstLargerThanTheFirstReadIsHandledWhole) {
  RawClient client(start());
  client.connect("burst");
  mqtt::Subscribe subscribe{.packet_id = 1};
  subscribe.topics.push_back(mqtt::SubscribeTopic{"burst/t", mqtt::QoS::AtMostOnce});
  client.send(subscribe);
  const auto suback = client.next();
  ASSERT_TRUE(suback);
  ASSERT_EQ(suback->type, mqtt::PacketType::Suback);
  // 300 PUBLISHes of about 110 bytes in one write: 33 KB against a first read of 2 KiB.
  std::string burst;
  const std::string filler(100, 'x');
  for (int i = 0; i < 300; ++i) {
    const std::string payload = std::to_string(i) + filler;
    burst += RawClient::encoded(mqtt::Publish{.topic = "burst/t", .payload = payload});
  }
  ASSERT_GT(burst.size(), 32'000u);
  client.send_bytes(burst);
  for (int i = 0; i < 300; ++i) {
    const auto publish = client.next();
    ASSERT_TRUE(publish) << "message " << i << " of 300 missing";
    ASSERT_EQ(publish->type, mqtt::PacketType::Publish);
    EXPECT_EQ(publish->payload, std::to_string(i) + filler);
  }
}

TEST_F(ConnectionTest, ASilentSocketIsClosedAtTheConnectTimeout) {
  RawClient client(start({.connect_timeout = 400ms}));
  const auto begin = Clock::now();
  EXPECT_FALSE(client.next());  // the end of the stream
  const auto waited = Clock::now() - begin;
  EXPECT_GE(waited, 350ms);
  EXPECT_LT(waited, 3s);
}

TEST_F(ConnectionTest, AConnectedClientOutlivesTheConnectTimeout) {
  RawClient client(start({.connect_timeout = 200ms}));
  client.connect("stays");
  std::this_thread::sleep_for(500ms);
  client.ping();
}

TEST_F(ConnectionTest, AnIdleConnectionTakenOverGetsItsDisconnectAndTheEnd) {
  const std::uint16_t port = start();
  RawClient first(port);
  first.connect("same-id");
  std::this_thread::sleep_for(50ms);  // the first connection waits, idle
  RawClient second(port);
  second.connect("same-id");
  const auto disconnect = first.next();
  ASSERT_TRUE(disconnect);
  EXPECT_EQ(disconnect->type, mqtt::PacketType::Disconnect);
  EXPECT_EQ(disconnect->reason, mqtt::ReasonCode::SessionTakenOver);
  EXPECT_FALSE(first.next());
  // The second one is served.
  second.ping();
}

TEST_F(ConnectionTest, ClientsThatLeaveWhileIdleAreForgotten) {
  const std::uint16_t port = start();
  {
    RawClient gone(port);
    gone.connect("gone");
  }  // closed while its connection waits
  RawClient watcher(port);
  watcher.connect("watcher");
  // The router hears of the loss: only the watcher is left connected.
  for (int attempt = 0; attempt < 50; ++attempt) {
    std::promise<std::size_t> connected;
    boost::asio::post(io_, [&] { connected.set_value(router_->connected_count()); });
    if (connected.get_future().get() == 1) return;
    std::this_thread::sleep_for(20ms);
  }
  FAIL() << "the router still counts 'gone' as connected 1 s after its socket closed";
}

}  // namespace
}  // namespace psos::listeners
