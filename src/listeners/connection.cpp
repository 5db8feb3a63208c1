// One client connection: a reader (bytes -> StreamDecoder -> Router) and a writer (the router's
// packets, encoded into one buffer and written with one write per wake-up) sharing a Link.
// Topic aliases and packet size limits live here: they belong to the connection.
#include "listeners/connection.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <string>
#include <unordered_map>
#include <vector>

#include "mqtt/codec.hpp"
#include "mqtt/stream_decoder.hpp"
#include "net/stream.hpp"
#include "router/router.hpp"

namespace psos::listeners {

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;
using router::Clock;
using router::Delivery;
using router::SessionId;

namespace {

constexpr std::size_t kReadChunk = 64 * 1024;
// An idle connection holds a read buffer this small; reads that fill it double it up to
// kReadChunk, so 1,000 idle clients cost 2 MiB of buffers, not 64.
constexpr std::size_t kFirstReadChunk = 2 * 1024;
constexpr auto kForever = asio::steady_timer::time_point::max();
// How long a connection closed by the server waits for its DISCONNECT to be written.
constexpr auto kDisconnectGrace = std::chrono::seconds(1);
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

class Connection final : public router::Link, public std::enable_shared_from_this<Connection> {
 public:
  Connection(router::Router& r, std::unique_ptr<net::Stream> stream, ConnectionOptions options)
      : router_(r),
        stream_(std::move(stream)),
        options_(options),
        wake_(stream_->get_executor()),
        writer_done_(stream_->get_executor()),
        pause_(stream_->get_executor()),
        watchdog_(stream_->get_executor()),
        decoder_(mqtt::Version::v5, r.options().limits.max_packet_size),
        outgoing_(std::in_place_type<mqtt::Publish>) {
    wake_.expires_at(kForever);
    writer_done_.expires_at(kForever);
  }

  asio::awaitable<void> run();

  // ---- router::Link ----
  void send_publish(const Delivery& d, std::uint16_t packet_id, bool dup) override;
  void send(const mqtt::Packet& packet) override { encode(packet); }
  void close() override {
    closing_ = true;
    wake_.cancel();
    pause_.cancel();  // a reader paused by backpressure wakes up to end the connection
  }
  std::size_t backlog() const noexcept override { return out_.size() + in_write_; }

 private:
  asio::awaitable<void> read_loop();
  asio::awaitable<void> write_loop();
  asio::awaitable<void> watch_keep_alive(std::chrono::milliseconds limit);
  // False: stop reading (the connection is closing).
  bool on_packet(mqtt::Packet& packet, std::optional<mqtt::ReasonCode> login);
  bool on_connect(const mqtt::Connect& connect, std::optional<mqtt::ReasonCode> login);
  bool resolve_topic_alias(mqtt::Publish& publish);
  void encode(const mqtt::Packet& packet);
  // Sends a v5 DISCONNECT (v3.1.1 just closes) and closes once it is written.
  void disconnect(mqtt::ReasonCode reason, const char* why);
  const std::string& who() const { return client_.empty() ? stream_->remote_address() : client_; }

  router::Router& router_;
  std::unique_ptr<net::Stream> stream_;
  ConnectionOptions options_;
  asio::steady_timer wake_;         // cancelled when there is something to write
  asio::steady_timer writer_done_;  // cancelled when the writer has finished
  asio::steady_timer pause_;        // the reader waits on it while subscribers are congested
  asio::steady_timer watchdog_;
  mqtt::StreamDecoder decoder_;
  mqtt::Version version_ = mqtt::Version::v5;
  SessionId session_ = 0;
  bool connected_ = false;
  std::string out_;           // encoded packets waiting for the writer
  std::size_t in_write_ = 0;  // bytes of the write in progress
  bool closing_ = false;      // flush what is queued, then close
  bool reader_done_ = false;
  bool paused_ = false;  // the reader waits for congested subscribers (backpressure)
  bool writer_running_ = false;
  Clock::time_point last_read_{};
  std::string client_;  // client id once known, for logs
  std::uint32_t client_max_packet_size_ = mqtt::kMaxRemainingLength + 5;
  std::uint16_t client_alias_max_ = 0;
  std::unordered_map<std::string, std::uint16_t> outbound_aliases_;  // topic -> our alias
  std::vector<std::string> inbound_aliases_;                         // alias - 1 -> topic
  mqtt::Packet outgoing_;  // reused to encode PUBLISH packets without reallocating
};

asio::awaitable<void> Connection::run() {
  auto self = shared_from_this();
  {
    asio::steady_timer timer(stream_->get_executor());
    timer.expires_after(options_.connect_timeout);
    auto result = co_await (stream_->handshake() || timer.async_wait(use_tuple));
    if (result.index() == 1) {
      spdlog::info("{}: {} handshake timed out", stream_->remote_address(), stream_->transport());
      co_await stream_->close();
      co_return;
    }
    if (const auto ec = std::get<0>(result)) {
      spdlog::info("{}: {} handshake failed: {}", stream_->remote_address(), stream_->transport(),
                   ec.message());
      co_await stream_->close();
      co_return;
    }
  }
  writer_running_ = true;
  asio::co_spawn(
      stream_->get_executor(), [self]() { return self->write_loop(); }, asio::detached);
  co_await read_loop();
  reader_done_ = true;
  if (connected_) {
    connected_ = false;
    router_.connection_lost(session_, *this);
  }
  closing_ = true;
  wake_.cancel();
  watchdog_.cancel();
  if (writer_running_) co_await writer_done_.async_wait(use_tuple);
  co_await stream_->close();
}

asio::awaitable<void> Connection::read_loop() {
  std::vector<char> buffer(kFirstReadChunk);
  last_read_ = Clock::now();
  // Until CONNECT arrives, the connect timeout bounds the wait.
  watchdog_.expires_after(options_.connect_timeout);
  watchdog_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    if (ec || self->connected_ || self->closing_) return;
    spdlog::info("{}: no CONNECT within {} ms, closing", self->stream_->remote_address(),
                 self->options_.connect_timeout.count());
    asio::co_spawn(self->stream_->get_executor(), self->stream_->close(), asio::detached);
  });
  mqtt::Packet packet;
  while (!closing_) {
    auto [ec, n] = co_await stream_->read_some(asio::buffer(buffer));
    if (ec) {
      if (!closing_ && connected_) spdlog::info("{}: connection lost: {}", who(), ec.message());
      co_return;
    }
    last_read_ = Clock::now();
    router_.stats().bytes_received += n;
    decoder_.feed(std::string_view(buffer.data(), n));
    while (!closing_) {
      const auto status = decoder_.next(packet);
      if (status == mqtt::StreamDecoder::Status::NeedMore) break;
      if (status == mqtt::StreamDecoder::Status::Failed) {
        const mqtt::Error& e = decoder_.error();
        spdlog::warn("{}: bad packet from {}: {}", who(), stream_->remote_address(),
                     mqtt::to_string(e));
        if (connected_) {
          // 0x84 Unsupported Protocol Version comes from a second CONNECT, itself a Protocol
          // Error; it is a CONNACK code that a DISCONNECT may not carry.
          disconnect(e.code == mqtt::ReasonCode::UnsupportedProtocolVersion
                         ? mqtt::ReasonCode::ProtocolError
                         : e.code,
                     e.message);
        } else {
          if (e.code == mqtt::ReasonCode::UnsupportedProtocolVersion) {
            // Spec 3.1.2-2 (3.1.1): refuse with CONNACK 0x01, in the 3.1.1 form that clients of
            // every version can read, then close.
            version_ = mqtt::Version::v311;
            encode(mqtt::Connack{.reason = e.code});
          }
          closing_ = true;
        }
        co_return;
      }
      std::optional<mqtt::ReasonCode> login;
      if (!connected_ && options_.blocking && router_.options().passwords) {
        // PBKDF2 takes a good fraction of a second: keep it off the event loop.
        if (const auto* connect = std::get_if<mqtt::Connect>(&packet)) {
          login = co_await asio::co_spawn(
              options_.blocking,
              [this, connect]() -> asio::awaitable<mqtt::ReasonCode> {
                co_return router_.authenticate(*connect);
              },
              asio::use_awaitable);
        }
      }
      if (!on_packet(packet, login)) co_return;
      if (connected_ && router_.publisher_should_wait()) {
        // Backpressure: stop reading until the sessions this publisher feeds have drained.
        pause_.expires_at(kForever);
        paused_ = true;
        router_.when_uncongested(session_, [self = shared_from_this()] {
          self->paused_ = false;
          self->pause_.cancel();
        });
        if (paused_ && !closing_) co_await pause_.async_wait(use_tuple);
        paused_ = false;
        last_read_ = Clock::now();
      }
    }
    // The decoder no longer refers to the buffer (it copied any partial packet): it may move.
    if (n == buffer.size() && buffer.size() < kReadChunk) buffer.resize(buffer.size() * 2);
  }
}

bool Connection::on_packet(mqtt::Packet& packet, std::optional<mqtt::ReasonCode> login) {
  if (!connected_) {
    if (mqtt::type_of(packet) != mqtt::PacketType::Connect) {
      spdlog::warn("{}: first packet is {}, not CONNECT: closing", stream_->remote_address(),
                   mqtt::packet_name(mqtt::type_of(packet)));
      closing_ = true;
      return false;
    }
    return on_connect(std::get<mqtt::Connect>(packet), login);
  }
  if (auto* publish = std::get_if<mqtt::Publish>(&packet)) {
    if (!resolve_topic_alias(*publish)) return false;
  }
  router_.handle(session_, *this, packet);
  return !closing_;
}

bool Connection::on_connect(const mqtt::Connect& connect, std::optional<mqtt::ReasonCode> login) {
  version_ = connect.version;
  decoder_.set_version(version_);
  client_ = connect.client_id;
  const router::ConnectResult result =
      router_.connect(*this, connect, stream_->remote_address(), login);
  if (result.session == 0) return false;
  session_ = result.session;
  connected_ = true;
  client_max_packet_size_ = result.client_max_packet_size;
  client_alias_max_ = result.client_topic_alias_maximum;
  if (version_ == mqtt::Version::v5)
    inbound_aliases_.assign(router_.options().limits.topic_alias_maximum, std::string());
  watchdog_.cancel();
  if (result.keep_alive != 0) {
    // Spec 3.1.2.10: nothing from the client for 1.5 x keep alive means the connection is dead.
    const auto limit = std::chrono::milliseconds(std::uint64_t{result.keep_alive} * 1500);
    asio::co_spawn(
        stream_->get_executor(),
        [self = shared_from_this(), limit]() { return self->watch_keep_alive(limit); },
        asio::detached);
  }
  return !closing_;
}

asio::awaitable<void> Connection::watch_keep_alive(std::chrono::milliseconds limit) {
  auto self = shared_from_this();
  while (!reader_done_ && !closing_) {
    // A paused reader reads nothing on purpose: the client's silence is not known until it
    // resumes.
    const auto deadline = (paused_ ? Clock::now() : last_read_) + limit;
    if (Clock::now() >= deadline) {
      spdlog::info("{}: nothing received for {} ms (1.5 x keep alive): closing", who(),
                   limit.count());
      if (version_ == mqtt::Version::v5) {
        disconnect(mqtt::ReasonCode::KeepAliveTimeout, "keep alive timeout");
        // The writer sends the DISCONNECT and closes. A peer that is gone without a trace may
        // never take it (its socket buffer full): wait for the writer a moment, not longer.
        if (writer_running_) {
          watchdog_.expires_after(kDisconnectGrace);
          co_await (writer_done_.async_wait(use_tuple) || watchdog_.async_wait(use_tuple));
        }
      }
      co_await stream_->close();
      co_return;
    }
    watchdog_.expires_at(deadline);
    co_await watchdog_.async_wait(use_tuple);
  }
}

bool Connection::resolve_topic_alias(mqtt::Publish& publish) {
  if (!publish.properties.topic_alias) return true;
  const std::uint16_t alias = *publish.properties.topic_alias;
  if (alias > inbound_aliases_.size()) {
    disconnect(mqtt::ReasonCode::TopicAliasInvalid, "Topic Alias above the Topic Alias Maximum");
    return false;
  }
  std::string& slot = inbound_aliases_[alias - 1];
  if (!publish.topic.empty()) {
    slot.assign(publish.topic);
  } else if (slot.empty()) {
    disconnect(mqtt::ReasonCode::ProtocolError, "Topic Alias that was never set");
    return false;
  } else {
    publish.topic = slot;
  }
  publish.properties.topic_alias.reset();
  return true;
}

void Connection::disconnect(mqtt::ReasonCode reason, const char* why) {
  if (version_ == mqtt::Version::v5 && connected_) {
    mqtt::Disconnect d;
    d.reason = reason;
    d.properties.reason_string = why;
    encode(d);
  }
  close();
}

void Connection::encode(const mqtt::Packet& packet) {
  if (reader_done_ && closing_) return;
  if (const mqtt::Error e = mqtt::encode(packet, version_, out_)) {
    spdlog::error("{}: cannot encode {}: {}", who(), mqtt::packet_name(mqtt::type_of(packet)),
                  mqtt::to_string(e));
    return;
  }
  wake_.cancel();
}

void Connection::send_publish(const Delivery& d, std::uint16_t packet_id, bool dup) {
  auto& p = std::get<mqtt::Publish>(outgoing_);
  router::fill_publish(*d.message, Clock::now(), p);
  p.qos = d.qos;
  p.packet_id = packet_id;
  p.dup = dup;
  p.retain = d.retain;
  p.properties.subscription_identifiers = d.subscription_ids;
  p.properties.topic_alias.reset();
  if (client_alias_max_ != 0) {
    // Aliases are handed out first come, first served until the client's maximum is reached.
    if (auto it = outbound_aliases_.find(d.message->topic); it != outbound_aliases_.end()) {
      p.properties.topic_alias = it->second;
      p.topic = {};
    } else if (outbound_aliases_.size() < client_alias_max_) {
      const auto alias = static_cast<std::uint16_t>(outbound_aliases_.size() + 1);
      outbound_aliases_.emplace(d.message->topic, alias);
      p.properties.topic_alias = alias;
    }
  }
  const std::size_t before = out_.size();
  encode(outgoing_);
  if (out_.size() - before > client_max_packet_size_) {
    out_.resize(before);
    spdlog::debug("{}: not sending a PUBLISH on {}: larger than its Maximum Packet Size", who(),
                  d.message->topic);
    if (p.properties.topic_alias && !p.topic.empty()) outbound_aliases_.erase(d.message->topic);
    if (packet_id != 0) {
      // A link never calls back into the router from inside a router call: post it.
      asio::post(stream_->get_executor(), [self = shared_from_this(), packet_id] {
        self->router_.publish_discarded(self->session_, *self, packet_id);
      });
    }
  }
}

asio::awaitable<void> Connection::write_loop() {
  auto self = shared_from_this();
  std::string writing;
  const std::size_t congestion = router_.options().limits.congestion_bytes;
  while (true) {
    if (out_.empty()) {
      if (closing_) break;
      wake_.expires_at(kForever);
      co_await wake_.async_wait(use_tuple);
      continue;
    }
    // Nothing acknowledges what is not yet stored: commit the router's pending writes first.
    router_.commit();
    writing.swap(out_);
    in_write_ = writing.size();
    const auto ec = co_await stream_->write(asio::buffer(writing));
    router_.stats().bytes_sent += writing.size();
    const bool was_congested = in_write_ + out_.size() > congestion;
    in_write_ = 0;
    writing.clear();
    if (ec) {
      closing_ = true;
      out_.clear();
      break;
    }
    if (was_congested && out_.size() <= congestion && connected_) router_.link_drained(session_);
  }
  // Let the reader see the end (a DISCONNECT or protocol error closed the connection).
  if (!reader_done_) co_await stream_->close();
  writer_running_ = false;
  writer_done_.cancel();
}

}  // namespace

asio::awaitable<void> serve(router::Router& router, std::unique_ptr<net::Stream> stream,
                            ConnectionOptions options) {
  auto connection = std::make_shared<Connection>(router, std::move(stream), options);
  co_await connection->run();
}

}  // namespace psos::listeners
