// One client connection: a reader (bytes -> StreamDecoder -> Router) and a writer (the router's
// packets, encoded into one buffer and written with one write per wake-up) sharing a Link.
// Topic aliases and packet size limits live here: they belong to the connection.
// An idle connection is kept small (a broker may hold many thousands): it holds no read buffer,
// no decoded packet, no writer, no timer and no coroutine, only a callback waiting for the socket
// (Stream::wait_readable). The reader is a coroutine while it reads and handles one chunk (it may
// wait on backpressure or a password check), and ends once the chunk is handled. Its
// keep alive is the router's business (one timer for all connections), read from last_read();
// the timers it needs now and then (the connect timeout, a backpressure pause, the grace given to
// a closing writer) exist only while they are needed. tls, ws and wss streams cannot wait without
// a read, so their reader stays a coroutine, holding its read buffer while it waits.
#include "listeners/connection.hpp"

#include <spdlog/spdlog.h>

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
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
// A connection reads this much at first; reads that fill it double it up to kReadChunk. Over
// tls, ws and wss the buffer is held while the read waits: 1,000 idle clients cost 2 MiB, not 64.
constexpr std::size_t kFirstReadChunk = 2 * 1024;
constexpr auto kForever = asio::steady_timer::time_point::max();

// How long a connection closed by the server waits for its DISCONNECT to be written.
constexpr auto kDisconnectGrace = std::chrono::seconds(1);
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

// A read buffer lent to a connection while it reads and handles one chunk. Buffers come back to
// a per-thread free list (a few of each size), so busy connections do not allocate per read and
// idle ones hold none.
class ReadBuffer {
 public:
  explicit ReadBuffer(std::size_t size) : size_(size) {
    auto& spare = spares()[size_class(size)];
    if (spare.empty()) {
      data_ = std::make_unique<char[]>(size);
    } else {
      data_ = std::move(spare.back());
      spare.pop_back();
    }
  }
  ~ReadBuffer() {
    auto& spare = spares()[size_class(size_)];
    if (spare.size() < kSparesPerSize) spare.push_back(std::move(data_));
  }
  ReadBuffer(const ReadBuffer&) = delete;
  ReadBuffer& operator=(const ReadBuffer&) = delete;

  asio::mutable_buffer buffer() noexcept { return {data_.get(), size_}; }
  std::string_view view(std::size_t n) const noexcept { return {data_.get(), n}; }
  std::size_t size() const noexcept { return size_; }

 private:
  static constexpr std::size_t kSparesPerSize = 4;
  static constexpr std::size_t kSizes = 6;  // kFirstReadChunk << 0 ... kReadChunk
  static_assert(kFirstReadChunk << (kSizes - 1) == kReadChunk);
  using Spares = std::array<std::vector<std::unique_ptr<char[]>>, kSizes>;

  static Spares& spares() {
    thread_local Spares lists;
    return lists;
  }
  static std::size_t size_class(std::size_t size) noexcept {
    std::size_t c = 0;
    while ((kFirstReadChunk << c) < size)
      ++c;
    return c;
  }

  std::unique_ptr<char[]> data_;
  std::size_t size_;
};

class Connection final : public router::Link, public std::enable_shared_from_this<Connection> {
 public:
  Connection(router::Router& r, std::unique_ptr<net::Stream> stream,
             std::shared_ptr<const ConnectionOptions> options)
      : router_(r),
        stream_(std::move(stream)),
        options_(std::move(options)),
        decoder_(mqtt::Version::v5, r.options().limits.max_packet_size) {}

  // Runs the handshake (tls, ws, wss), then reads until the connection ends. The connection
  // lives as long as something it started: a wait for bytes, the reader, the writer or a timer.
  void start();

  // ---- router::Link ----
  void send_publish(const Delivery& d, std::uint16_t packet_id, bool dup) override;
  void send(const mqtt::Packet& packet) override { encode(packet); }
  void close() override;
  void pause() override {
    paused_ = true;
    if (!pause_) pause_ = std::make_unique<asio::steady_timer>(stream_->get_executor());
    pause_->expires_at(kForever);
  }
  void resume() override {
    paused_ = false;
    last_read_ = Clock::now();  // its silence counts from now: it read nothing on purpose
    if (pause_) pause_->cancel();
  }
  std::size_t backlog() const noexcept override { return out_.size() + in_write_; }
  Clock::time_point last_read() const noexcept override { return last_read_; }

 private:
  // False: the handshake failed or timed out, and the stream is closed.
  asio::awaitable<bool> handshake();
  // Arms the connect timeout and starts waiting for the CONNECT.
  void start_reading();
  // Reads and handles a chunk of what the peer sent, then waits for the next with wait_for_bytes
  // (tcp) or reads on (tls, ws, wss), until the connection ends (then finish()).
  asio::awaitable<void> read();
  // True: read() runs again once there are bytes; false: this stream cannot wait that way.
  bool wait_for_bytes();
  // Starts read() in a coroutine that holds the connection.
  void spawn_reader();
  // The reader is done: the router forgets the connection, what is left is written, and the
  // stream is closed.
  asio::awaitable<void> finish();
  // Handles the packets of the chunk fed to the decoder; false: stop reading. A coroutine of its
  // own, so that the packet being handled takes room only while there is one.
  asio::awaitable<bool> handle_chunk();
  // The writer runs while there is something to write (or the connection is closing).
  void start_writer();
  asio::awaitable<void> write_loop();
  // False: stop reading (the connection is closing).
  bool on_packet(mqtt::Packet& packet, std::optional<mqtt::ReasonCode> login);
  bool on_connect(const mqtt::Connect& connect, std::optional<mqtt::ReasonCode> login);
  bool resolve_topic_alias(mqtt::Publish& publish);
  // `waits_for_store`: the packet must not leave before the changes made until now are stored.
  void encode(const mqtt::Packet& packet, bool waits_for_store = true);
  // Sends a v5 DISCONNECT (v3.1.1 just closes) and closes once it is written.
  void disconnect(mqtt::ReasonCode reason, const char* why);
  // Closes the stream from a timer's callback: the coroutine keeps the connection (and so the
  // stream it runs on) alive until the close has finished.
  void close_stream() {
    asio::co_spawn(
        stream_->get_executor(), [self = shared_from_this()] { return self->stream_->close(); },
        asio::detached);
  }
  const std::string& who() const { return client_.empty() ? stream_->remote_address() : client_; }
  asio::steady_timer& watchdog() {
    if (!watchdog_) watchdog_ = std::make_unique<asio::steady_timer>(stream_->get_executor());
    return *watchdog_;
  }

  router::Router& router_;
  std::unique_ptr<net::Stream> stream_;
  std::shared_ptr<const ConnectionOptions> options_;
  // The reader waits on it while subscribers are congested (made at the first pause).
  std::unique_ptr<asio::steady_timer> pause_;
  // The connect timeout until CONNECT; once closing, how long the writer may take (the writer
  // cancels it when it has finished). None while the connection is open and connected.
  std::unique_ptr<asio::steady_timer> watchdog_;
  mqtt::StreamDecoder decoder_;
  mqtt::Version version_ = mqtt::Version::v5;
  SessionId session_ = 0;
  bool connected_ = false;
  std::string out_;           // encoded packets waiting for the writer
  std::size_t in_write_ = 0;  // bytes of the write in progress
  bool closing_ = false;      // flush what is queued, then close
  bool reader_done_ = false;
  bool paused_ = false;  // the reader waits for congested subscribers (Link::pause)
  // The backlog passed the congestion mark: tell the router once it is below half of it (the
  // broker's low-water mark, Broker::drained_enough).
  bool drain_owed_ = false;
  bool writer_running_ = false;
  // out_ holds a packet that must not leave before the changes made until then are stored
  // (anything but a PUBLISH of a message received at QoS 0 or 1).
  bool out_waits_for_store_ = false;
  std::size_t read_size_ = kFirstReadChunk;
  Clock::time_point last_read_{};
  std::string client_;  // client id once known, for logs
  std::uint32_t client_max_packet_size_ = mqtt::kMaxRemainingLength + 5;
  std::uint16_t client_alias_max_ = 0;
  std::uint16_t inbound_alias_max_ = 0;  // the Topic Alias Maximum we gave the client
  // Topic -> our alias; made at the first PUBLISH to a client that accepts aliases.
  using Aliases = std::unordered_map<std::string, std::uint16_t>;
  std::unique_ptr<Aliases> outbound_aliases_;
  std::vector<std::string> inbound_aliases_;  // alias - 1 -> topic; sized at the first alias
};

void Connection::start() {
  // Plain TCP has no handshake to wait for: its connection holds no coroutine until it sends.
  if (stream_->transport() == "tcp") {
    start_reading();
    return;
  }
  asio::co_spawn(
      stream_->get_executor(),
      [self = shared_from_this()]() -> asio::awaitable<void> {
        if (co_await self->handshake()) self->start_reading();
      },
      asio::detached);
}

asio::awaitable<void> Connection::finish() {
  reader_done_ = true;
  if (connected_) {
    connected_ = false;
    router_.connection_lost(session_, *this);
  }
  closing_ = true;
  if (writer_running_) {
    // What is left to write gets a moment, not longer: a peer gone without a trace may never
    // take it.
    watchdog().expires_after(kDisconnectGrace);
    co_await watchdog().async_wait(use_tuple);
  }
  watchdog_.reset();
  co_await stream_->close();
}

void Connection::close() {
  closing_ = true;
  start_writer();                // it flushes what is queued, then closes
  if (pause_) pause_->cancel();  // a reader paused by backpressure wakes up to end the connection
  // The writer gets a moment, not longer: a peer that is gone without a trace (a keep-alive
  // timeout) may never take what is left (its socket buffer full).
  watchdog().expires_after(kDisconnectGrace);
  watchdog().async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    if (ec || !self->writer_running_) return;
    self->close_stream();
  });
}

asio::awaitable<bool> Connection::handshake() {
  asio::steady_timer timer(stream_->get_executor());
  timer.expires_after(options_->connect_timeout);
  auto result = co_await (stream_->handshake() || timer.async_wait(use_tuple));
  if (result.index() == 1) {
    spdlog::info("{}: {} handshake timed out", stream_->remote_address(), stream_->transport());
    co_await stream_->close();
    co_return false;
  }
  if (const auto ec = std::get<0>(result)) {
    spdlog::info("{}: {} handshake failed: {}", stream_->remote_address(), stream_->transport(),
                 ec.message());
    co_await stream_->close();
    co_return false;
  }
  co_return true;
}

void Connection::start_reading() {
  last_read_ = Clock::now();
  // Until CONNECT arrives, the connect timeout bounds the wait.
  watchdog().expires_after(options_->connect_timeout);
  watchdog().async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    if (ec || self->connected_ || self->closing_) return;
    spdlog::info("{}: no CONNECT within {} ms, closing", self->stream_->remote_address(),
                 self->options_->connect_timeout.count());
    self->close_stream();
  });
  if (!wait_for_bytes()) spawn_reader();
}

void Connection::spawn_reader() {
  // The function object, and the connection it holds, live as long as the coroutine.
  asio::co_spawn(
      stream_->get_executor(), [self = shared_from_this()] { return self->read(); },
      asio::detached);
}

bool Connection::wait_for_bytes() {
  return stream_->wait_readable([self = shared_from_this()] { self->spawn_reader(); });
}

asio::awaitable<void> Connection::read() {
  while (!closing_) {
    // Taken once there are bytes (tcp) or for the wait (tls, ws, wss); an idle tcp connection
    // holds none.
    ReadBuffer buffer(read_size_);
    const auto [ec, n] = co_await stream_->read_some(buffer.buffer());
    if (ec) {
      if (!closing_ && connected_) spdlog::info("{}: connection lost: {}", who(), ec.message());
      break;
    }
    last_read_ = Clock::now();
    router_.stats().bytes_received += n;
    decoder_.feed(buffer.view(n));
    if (!co_await handle_chunk()) break;
    // The decoder no longer refers to the buffer (it copied any partial packet).
    if (n == buffer.size() && read_size_ < kReadChunk) read_size_ *= 2;
    // The next chunk waits for its turn behind the other connections' work, even when bytes are
    // there already: a publisher whose socket stays full would otherwise hold the event loop
    // (measured: fan-in 16->1 QoS 0 fell from 2.6M to 1.1M msg/s, some publishers starved for
    // seconds). Between chunks a tcp connection holds no coroutine.
    if (!closing_ && wait_for_bytes()) co_return;
  }
  co_await finish();
}

asio::awaitable<bool> Connection::handle_chunk() {
  mqtt::Packet packet;
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
      co_return false;
    }
    std::optional<mqtt::ReasonCode> login;
    if (!connected_ && options_->blocking && router_.options().passwords) {
      // PBKDF2 takes a good fraction of a second: keep it off the event loop.
      if (const auto* connect = std::get_if<mqtt::Connect>(&packet)) {
        login = co_await asio::co_spawn(
            options_->blocking,
            [this, connect]() -> asio::awaitable<mqtt::ReasonCode> {
              co_return router_.authenticate(*connect);
            },
            asio::use_awaitable);
      }
    }
    if (!on_packet(packet, login)) co_return false;
    // Backpressure: the router paused this connection until the sessions its PUBLISH was queued
    // for have drained (Link::pause, then resume).
    if (paused_ && !closing_) co_await pause_->async_wait(use_tuple);
  }
  co_return true;
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
      router_.connect(*this, connect, {.remote = stream_->remote_address(), .login = login});
  if (result.session == 0) return false;
  session_ = result.session;
  connected_ = true;
  client_max_packet_size_ = result.client_max_packet_size;
  client_alias_max_ = result.client_topic_alias_maximum;
  if (version_ == mqtt::Version::v5)
    inbound_alias_max_ = router_.options().limits.topic_alias_maximum;
  if (!closing_) watchdog_.reset();  // its wait ends as cancelled
  return !closing_;
}

bool Connection::resolve_topic_alias(mqtt::Publish& publish) {
  if (!publish.properties.topic_alias) return true;
  const std::uint16_t alias = *publish.properties.topic_alias;
  if (alias > inbound_alias_max_) {
    disconnect(mqtt::ReasonCode::TopicAliasInvalid, "Topic Alias above the Topic Alias Maximum");
    return false;
  }
  if (inbound_aliases_.empty()) inbound_aliases_.resize(inbound_alias_max_);
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

void Connection::encode(const mqtt::Packet& packet, bool waits_for_store) {
  if (reader_done_ && closing_) return;
  out_waits_for_store_ = out_waits_for_store_ || waits_for_store;
  if (const mqtt::Error e = mqtt::encode(packet, version_, out_)) {
    spdlog::error("{}: cannot encode {}: {}", who(), mqtt::packet_name(mqtt::type_of(packet)),
                  mqtt::to_string(e));
    return;
  }
  start_writer();
}

void Connection::send_publish(const Delivery& d, std::uint16_t packet_id, bool dup) {
  // Reused (one PUBLISH is encoded at a time) so that its vectors keep their capacity; shared by
  // the thread's connections rather than held by each.
  thread_local mqtt::Packet outgoing{std::in_place_type<mqtt::Publish>};
  auto& p = std::get<mqtt::Publish>(outgoing);
  mqtt::fill_publish(*d.message, p);
  // What is left of the Message Expiry Interval (spec 3.3.2.3.3).
  p.properties.message_expiry_interval = d.message->remaining_expiry(Clock::now());
  p.qos = d.qos;
  p.packet_id = packet_id;
  p.dup = dup;
  p.retain = d.retain;
  p.properties.subscription_identifiers = d.subscription_ids;
  p.properties.topic_alias.reset();
  if (client_alias_max_ != 0) {
    // Aliases are handed out first come, first served until the client's maximum is reached.
    if (!outbound_aliases_) outbound_aliases_ = std::make_unique<Aliases>();
    Aliases& aliases = *outbound_aliases_;
    if (auto it = aliases.find(d.message->topic); it != aliases.end()) {
      p.properties.topic_alias = it->second;
      p.topic = {};
    } else if (aliases.size() < client_alias_max_) {
      const auto alias = static_cast<std::uint16_t>(aliases.size() + 1);
      aliases.emplace(d.message->topic, alias);
      p.properties.topic_alias = alias;
    }
  }
  // A message its publisher sent at QoS 0 or 1 is forwarded without waiting for its store: a
  // crash before the store would only make its QoS 1 publisher, unacknowledged, send it again
  // (a duplicate, as QoS 1 allows). One received at QoS 2 waits: its resend must be recognised.
  const std::size_t before = out_.size();
  encode(outgoing, d.message->qos == mqtt::QoS::ExactlyOnce);
  if (out_.size() - before > client_max_packet_size_) {
    out_.resize(before);
    spdlog::debug("{}: not sending a PUBLISH on {}: larger than its Maximum Packet Size", who(),
                  d.message->topic);
    if (p.properties.topic_alias && !p.topic.empty()) outbound_aliases_->erase(d.message->topic);
    if (packet_id != 0) {
      // A link never calls back into the router from inside a router call: post it.
      asio::post(stream_->get_executor(), [self = shared_from_this(), packet_id] {
        self->router_.publish_discarded(self->session_, *self, packet_id);
      });
    }
  }
}

void Connection::start_writer() {
  if (writer_running_) return;
  writer_running_ = true;
  // Posted, not started here: the router calls send() from inside its own calls, and the writer
  // calls into the router (commit).
  asio::post(stream_->get_executor(), [self = shared_from_this()] {
    asio::co_spawn(
        self->stream_->get_executor(), [self] { return self->write_loop(); }, asio::detached);
  });
}

asio::awaitable<void> Connection::write_loop() {
  auto self = shared_from_this();
  std::string writing;
  const std::size_t congestion = router_.options().limits.congestion_bytes;
  while (true) {
    if (out_.empty()) {
      if (closing_) break;
      // Nothing left to write: this writer ends (encode() starts the next one), and a buffer
      // grown by a burst is not kept by an idle connection.
      if (out_.capacity() > kFirstReadChunk) out_ = std::string();
      writer_running_ = false;
      co_return;
    }
    // Nothing acknowledges what is not yet stored: the bytes taken now wait for the transaction
    // holding every change made before them (what arrives meanwhile waits its turn), unless
    // they are only PUBLISHes that need not wait (send_publish).
    const std::uint64_t transaction = out_waits_for_store_ ? router_.commit() : 0;
    out_waits_for_store_ = false;
    writing.swap(out_);
    in_write_ = writing.size();
    if (transaction != 0) co_await router_.wait_durable(transaction);
    const auto ec = co_await stream_->write(asio::buffer(writing));
    router_.stats().bytes_sent += writing.size();
    if (in_write_ + out_.size() > congestion) drain_owed_ = true;
    in_write_ = 0;
    writing.clear();
    if (ec) {
      closing_ = true;
      out_.clear();
      break;
    }
    if (drain_owed_ && out_.size() <= congestion / 2 && connected_) {
      drain_owed_ = false;
      router_.link_drained(session_);
    }
  }
  // Let the reader see the end (a DISCONNECT or protocol error closed the connection).
  if (!reader_done_) co_await stream_->close();
  writer_running_ = false;
  if (watchdog_) watchdog_->cancel();  // the grace is over: the writer has finished
}

}  // namespace

void serve(router::Router& router, std::unique_ptr<net::Stream> stream,
           std::shared_ptr<const ConnectionOptions> options) {
  std::make_shared<Connection>(router, std::move(stream), std::move(options))->start();
}

}  // namespace psos::listeners
