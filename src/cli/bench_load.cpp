// The bench clients and the run that drives them. Each client is a reader coroutine (bytes ->
// StreamDecoder -> packets) and a writer coroutine that encodes what is due into one buffer and
// writes it with one write per wake-up; a publisher's writer also makes the messages, so a
// publisher running as fast as possible is limited by its window and by the socket only.
#include "bench_load.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <cmath>
#include <map>
#include <memory>
#include <string_view>

#include "mqtt/codec.hpp"
#include "mqtt/stream_decoder.hpp"
#include "mqtt/topic.hpp"
#include "net/connect.hpp"
#include "net/stream.hpp"

namespace psos::cli::bench {
namespace {

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;
using Clock = std::chrono::steady_clock;
using std::chrono::duration_cast;

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr auto kForever = Clock::time_point::max();
constexpr std::size_t kReadChunk = 64 * 1024;
// Bytes of PUBLISH packets a publisher encodes per write: large enough to amortise the system
// call, small enough that a message's time stamp is taken just before it leaves.
constexpr std::size_t kWriteBatch = 16 * 1024;
// A sequence number this high is not from a publisher of this run (it would need years).
constexpr std::uint64_t kMaxSequence = std::uint64_t{1} << 40;

std::uint64_t to_ns(Clock::time_point t) {
  return static_cast<std::uint64_t>(
      duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count());
}

Clock::duration seconds(double s) {
  return duration_cast<Clock::duration>(std::chrono::duration<double>(s));
}

double seconds_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

std::string expand(std::string_view pattern, unsigned index) {
  std::string out;
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] == '%' && i + 1 < pattern.size() && pattern[i + 1] == 'i') {
      out += std::to_string(index);
      ++i;
    } else {
      out += pattern[i];
    }
  }
  return out;
}

enum class Role : std::uint8_t { Publisher, Subscriber, Idle };

// The messages one receiver got, per publisher. A receiver is one subscriber, or one shared
// subscription group (its members split the messages between them).
struct Receiver {
  std::vector<bool> matches;  // per publisher: does the publisher's topic match the filter
  std::vector<SequenceTracker> from;
};

class Load;

class Client final : public std::enable_shared_from_this<Client> {
 public:
  Client(asio::any_io_executor executor, Load& load, Role role, unsigned index,
         std::string client_id, std::string topic);

  asio::awaitable<void> run();

  // Publishers: start or stop making messages.
  void set_producing(bool on) {
    producing_ = on;
    wake();
  }
  // Sends DISCONNECT; the broker then closes the connection.
  void disconnect();
  // Ends the connection at once (the run is over and the broker did not close it).
  void abort();
  // Sends PINGREQ when nothing was sent for half the keep alive.
  void keep_alive(Clock::time_point now);
  // Lets the writer run: a packet was queued, a window slot opened or messages are due.
  void wake() {
    if (writer_waiting_) wake_.cancel();
  }

  const std::string& client_id() const noexcept { return client_id_; }
  const std::string& topic() const noexcept { return topic_; }
  bool started() const noexcept { return started_; }
  bool ready() const noexcept { return ready_; }
  bool finished() const noexcept { return finished_; }
  bool failed() const noexcept { return failed_; }
  std::uint64_t sent() const noexcept { return sent_; }
  std::uint64_t in_flight() const noexcept { return in_flight_; }
  std::size_t receiver = 0;  // subscribers: index into the run's receivers
  // Subscribers: per publisher, one past the highest sequence number received. A message below
  // it arrived out of order (per subscriber: members of a shared group receive in parallel).
  std::vector<std::uint64_t> next_sequence;

 private:
  asio::awaitable<void> read_loop();
  asio::awaitable<void> write_loop();
  // `arrived`: when the read that brought the packet completed.
  bool on_packet(const mqtt::Packet& packet, Clock::time_point arrived);
  bool on_connack(const mqtt::Connack& connack);
  void complete(std::uint16_t packet_id, bool refused);
  void produce();
  // When a rate-limited publisher must wake to send its next message; never for the others, and
  // not while its window is full (an acknowledgement wakes it).
  Clock::time_point next_message_time() const;
  std::uint16_t next_packet_id();
  void queue(const mqtt::Packet& packet);
  template <class Ack>
  void acknowledge(std::uint16_t packet_id);
  void fail(std::string error);
  // The connection attempt is over (ready or failed): the run may start the next one.
  void settle();

  Load& load_;
  Role role_;
  unsigned index_;
  std::string client_id_;
  std::string topic_;  // publishers: the topic; subscribers: the filter
  std::unique_ptr<net::Stream> stream_;
  mqtt::StreamDecoder decoder_;
  asio::steady_timer wake_;
  asio::steady_timer writer_done_;
  asio::steady_timer connect_deadline_;
  std::string out_;
  mqtt::Packet ack_;  // reused for acknowledgements
  bool writer_waiting_ = false;
  bool writer_running_ = false;
  bool started_ = false;
  bool connecting_ = false;
  bool closing_ = false;
  bool ready_ = false;
  bool failed_ = false;
  bool finished_ = false;
  Clock::time_point last_write_{};
  std::uint16_t keep_alive_ = 0;

  // Publishers.
  bool producing_ = false;
  unsigned window_ = 1;
  std::uint64_t sequence_ = 0;
  std::uint64_t sent_ = 0;
  std::uint64_t in_flight_ = 0;
  std::uint16_t last_packet_id_ = 0;
  std::vector<bool> id_in_use_;
  std::string payload_;
  mqtt::Packet publish_;
};

class Load {
 public:
  Load(asio::io_context& io, const LoadOptions& options,
       const std::function<void(const Progress&)>& progress);

  // An error before any connection is made (a bad topic); empty when the load can run.
  std::string prepare();
  asio::awaitable<void> run();
  LoadReport& report() noexcept { return report_; }

  // ---- called by the clients ----
  const LoadOptions& options() const noexcept { return options_; }
  const net::TlsClientOptions& tls() const noexcept { return tls_; }
  Clock::time_point connect_deadline() const noexcept { return connect_deadline_; }
  void client_failed(const Client& client, const std::string& error);
  void client_changed() { notify(); }
  void connect_done() {
    --connecting_;
    notify();
  }
  void note_connack(std::uint16_t receive_maximum, unsigned window) {
    report_.broker_receive_maximum = receive_maximum;
    report_.window = window;
  }
  // Publisher `slot` (0-based) of N sends its message k at (k + slot / N) / rate seconds into
  // the run, so that rate-limited publishers take turns instead of sending together.
  // How many messages it should have sent by `now` (all of them when free-running):
  std::uint64_t due(unsigned slot, Clock::time_point now) const;
  // When its message `sequence` is due (rate-limited publishers only).
  Clock::time_point due_time(unsigned slot, std::uint64_t sequence) const;
  void on_sent() { ++report_.sent; }
  void on_acknowledged(bool refused) {
    ++report_.acknowledged;
    if (refused) ++report_.refused;
  }
  void on_message(Client& subscriber, std::string_view payload, Clock::time_point arrived);

 private:
  void watch_signals();
  asio::awaitable<void> open(const std::vector<std::shared_ptr<Client>>& clients);
  asio::awaitable<void> publish_phase();
  asio::awaitable<void> drain_phase();
  asio::awaitable<void> close_phase();
  asio::awaitable<void> housekeeping();
  // Waits for notify() or `deadline`, whichever comes first.
  asio::awaitable<void> wait_event(Clock::time_point deadline);
  void notify() { event_.cancel(); }
  void finish_report();
  std::uint64_t in_flight() const;

  asio::io_context& io_;
  const LoadOptions& options_;
  const std::function<void(const Progress&)>& progress_;
  net::TlsClientOptions tls_;
  asio::steady_timer event_;
  asio::steady_timer phase_timer_;
  asio::steady_timer tick_timer_;
  asio::signal_set signals_;
  std::vector<std::shared_ptr<Client>> idle_;
  std::vector<std::shared_ptr<Client>> subscribers_;
  std::vector<std::shared_ptr<Client>> publishers_;
  std::vector<Receiver> receivers_;
  unsigned connecting_ = 0;
  Clock::time_point connect_deadline_{};
  Clock::time_point started_{};
  Clock::time_point last_receipt_{};
  std::uint64_t created_ns_ = to_ns(Clock::now());  // no message of this run is older
  std::uint64_t unique_ = 0;  // messages received for the first time, for the drain phase
  bool publishing_ = false;
  bool interrupted_ = false;
  bool drain_interrupted_ = false;
  bool over_ = false;  // tickers stop
  LoadReport report_;
};

// ---- Client ---------------------------------------------------------------------------------

Client::Client(asio::any_io_executor executor, Load& load, Role role, unsigned index,
               std::string client_id, std::string topic)
    : load_(load),
      role_(role),
      index_(index),
      client_id_(std::move(client_id)),
      topic_(std::move(topic)),
      decoder_(load.options().version),
      wake_(executor),
      writer_done_(executor),
      connect_deadline_(executor),
      publish_(std::in_place_type<mqtt::Publish>) {
  wake_.expires_at(kForever);
  writer_done_.expires_at(kForever);
  if (role_ != Role::Publisher) return;
  payload_.assign(load.options().payload_size, '.');
  auto& publish = std::get<mqtt::Publish>(publish_);
  publish.topic = topic_;
  publish.payload = payload_;
  publish.qos = load.options().qos;
  if (publish.qos != mqtt::QoS::AtMostOnce) id_in_use_.assign(65536, false);
}

asio::awaitable<void> Client::run() {
  auto self = shared_from_this();
  started_ = true;
  connecting_ = true;
  const LoadOptions& options = load_.options();
  const auto executor = co_await asio::this_coro::executor;
  connect_deadline_.expires_at(load_.connect_deadline());
  auto connected = co_await (net::connect(executor, options.broker, load_.tls()) ||
                             connect_deadline_.async_wait(use_tuple));
  if (connected.index() == 1 || !std::get<0>(connected).ok()) {
    if (!closing_) {
      fail(connected.index() == 1 ? std::string("no connection within the connect timeout")
                                  : std::get<0>(connected).error);
    }
    settle();
    finished_ = true;
    load_.client_changed();
    co_return;
  }
  stream_ = std::move(std::get<0>(connected).stream);

  mqtt::Connect connect;
  connect.version = options.version;
  connect.client_id = client_id_;
  connect.clean_start = options.session_expiry == 0;
  if (options.session_expiry != 0 && options.version == mqtt::Version::v5)
    connect.properties.session_expiry_interval = options.session_expiry;
  connect.keep_alive = options.keep_alive;
  if (options.broker.username) connect.username = *options.broker.username;
  if (options.broker.password) connect.password = *options.broker.password;
  queue(connect);
  writer_running_ = true;
  asio::co_spawn(
      executor, [self] { return self->write_loop(); }, asio::detached);
  co_await read_loop();

  if (!ready_ && !closing_) fail("the connection ended before the broker accepted it");
  settle();
  closing_ = true;
  producing_ = false;
  wake();
  if (writer_running_) co_await writer_done_.async_wait(use_tuple);
  co_await stream_->close();
  finished_ = true;
  load_.client_changed();
}

asio::awaitable<void> Client::read_loop() {
  std::vector<char> buffer(kReadChunk);
  mqtt::Packet packet;
  for (;;) {
    auto [ec, n] = co_await stream_->read_some(asio::buffer(buffer));
    if (ec) {
      if (!closing_) {
        fail(ec == asio::error::eof ? std::string("the broker closed the connection")
                                    : "connection lost: " + ec.message());
      }
      co_return;
    }
    // One clock reading per read, not per message: the messages of one read arrived together,
    // and reading the clock costs as much as decoding a small PUBLISH.
    const auto arrived = Clock::now();
    decoder_.feed(std::string_view(buffer.data(), n));
    for (;;) {
      const auto status = decoder_.next(packet);
      if (status == mqtt::StreamDecoder::Status::NeedMore) break;
      if (status == mqtt::StreamDecoder::Status::Failed) {
        fail("bad packet from the broker: " + mqtt::to_string(decoder_.error()));
        co_return;
      }
      if (!on_packet(packet, arrived)) co_return;
    }
  }
}

bool Client::on_packet(const mqtt::Packet& packet, Clock::time_point arrived) {
  switch (mqtt::type_of(packet)) {
    case mqtt::PacketType::Connack:
      return on_connack(std::get<mqtt::Connack>(packet));
    case mqtt::PacketType::Suback: {
      const auto& suback = std::get<mqtt::Suback>(packet);
      if (suback.reasons.empty() || mqtt::is_failure(suback.reasons.front())) {
        const auto reason =
            suback.reasons.empty() ? mqtt::ReasonCode::UnspecifiedError : suback.reasons.front();
        fail("SUBSCRIBE to '" + topic_ + "' refused: " + std::string(mqtt::reason_name(reason)));
        return false;
      }
      ready_ = true;
      settle();
      return true;
    }
    case mqtt::PacketType::Publish: {
      const auto& publish = std::get<mqtt::Publish>(packet);
      load_.on_message(*this, publish.payload, arrived);
      if (publish.qos == mqtt::QoS::AtLeastOnce) acknowledge<mqtt::Puback>(publish.packet_id);
      if (publish.qos == mqtt::QoS::ExactlyOnce) acknowledge<mqtt::Pubrec>(publish.packet_id);
      return true;
    }
    case mqtt::PacketType::Pubrel:
      acknowledge<mqtt::Pubcomp>(std::get<mqtt::Pubrel>(packet).packet_id);
      return true;
    case mqtt::PacketType::Puback: {
      const auto& puback = std::get<mqtt::Puback>(packet);
      complete(puback.packet_id, mqtt::is_failure(puback.reason));
      return true;
    }
    case mqtt::PacketType::Pubrec: {
      const auto& pubrec = std::get<mqtt::Pubrec>(packet);
      if (mqtt::is_failure(pubrec.reason)) {
        complete(pubrec.packet_id, true);
      } else {
        acknowledge<mqtt::Pubrel>(pubrec.packet_id);
      }
      return true;
    }
    case mqtt::PacketType::Pubcomp:
      complete(std::get<mqtt::Pubcomp>(packet).packet_id, false);
      return true;
    case mqtt::PacketType::Disconnect: {
      const auto& disconnect = std::get<mqtt::Disconnect>(packet);
      std::string why =
          "the broker sent DISCONNECT: " + std::string(mqtt::reason_name(disconnect.reason));
      if (disconnect.properties.reason_string)
        why += " (" + std::string(*disconnect.properties.reason_string) + ")";
      fail(std::move(why));
      return false;
    }
    default:
      return true;  // PINGRESP
  }
}

bool Client::on_connack(const mqtt::Connack& connack) {
  if (mqtt::is_failure(connack.reason)) {
    fail("CONNECT refused: " + std::string(mqtt::reason_name(connack.reason)));
    return false;
  }
  const LoadOptions& options = load_.options();
  keep_alive_ = connack.properties.server_keep_alive.value_or(options.keep_alive);
  const std::uint16_t receive_maximum = connack.properties.receive_maximum.value_or(0);
  if (role_ == Role::Publisher) {
    window_ = options.inflight;
    if (receive_maximum != 0) window_ = std::min<unsigned>(window_, receive_maximum);
    load_.note_connack(receive_maximum, window_);
    auto& publish = std::get<mqtt::Publish>(publish_);
    publish.packet_id = publish.qos == mqtt::QoS::AtMostOnce ? 0 : 1;
    const std::size_t size = mqtt::encoded_size(publish_, options.version);
    if (connack.properties.maximum_packet_size && size > *connack.properties.maximum_packet_size) {
      fail("a PUBLISH of " + std::to_string(size) + " bytes exceeds the broker's Maximum Packet " +
           "Size of " + std::to_string(*connack.properties.maximum_packet_size) + " bytes");
      return false;
    }
  }
  if (role_ == Role::Subscriber) {
    mqtt::Subscribe subscribe;
    subscribe.packet_id = 1;
    mqtt::SubscribeTopic topic;
    topic.filter = topic_;
    topic.qos = options.qos;
    subscribe.topics.push_back(topic);
    queue(subscribe);
    return true;
  }
  ready_ = true;
  settle();
  return true;
}

template <class Ack>
void Client::acknowledge(std::uint16_t packet_id) {
  if (!std::holds_alternative<Ack>(ack_)) ack_.emplace<Ack>();
  std::get<Ack>(ack_).packet_id = packet_id;
  queue(ack_);
}

void Client::complete(std::uint16_t packet_id, bool refused) {
  if (packet_id >= id_in_use_.size() || !id_in_use_[packet_id]) return;
  id_in_use_[packet_id] = false;
  --in_flight_;
  load_.on_acknowledged(refused);
  wake();
}

void Client::produce() {
  if (!producing_ || closing_) return;
  // One clock reading per batch: its messages leave in one write.
  const auto now = Clock::now();
  const std::uint64_t sent_ns = to_ns(now);
  const std::uint64_t due = load_.due(index_ - 1, now);
  std::uint64_t allowed = due > sequence_ ? due - sequence_ : 0;
  auto& publish = std::get<mqtt::Publish>(publish_);
  const bool acknowledged = publish.qos != mqtt::QoS::AtMostOnce;
  if (acknowledged) allowed = std::min<std::uint64_t>(allowed, window_ - in_flight_);
  const mqtt::Version version = load_.options().version;
  for (; allowed > 0 && out_.size() < kWriteBatch; --allowed) {
    write_stamp(Stamp{index_ - 1, sequence_, sent_ns}, payload_.data());
    if (acknowledged) {
      publish.packet_id = next_packet_id();
      ++in_flight_;
    }
    if (const mqtt::Error e = mqtt::encode(publish_, version, out_)) {
      fail("cannot encode a PUBLISH: " + mqtt::to_string(e));
      producing_ = false;
      return;
    }
    ++sequence_;
    ++sent_;
    load_.on_sent();
  }
}

Clock::time_point Client::next_message_time() const {
  const auto qos = std::get<mqtt::Publish>(publish_).qos;
  if (!producing_ || closing_ || load_.options().rate <= 0) return kForever;
  if (qos != mqtt::QoS::AtMostOnce && in_flight_ >= window_) return kForever;
  return load_.due_time(index_ - 1, sequence_);
}

std::uint16_t Client::next_packet_id() {
  // The window (at most 65535) is smaller than the id space, so a free id exists.
  do {
    last_packet_id_ =
        last_packet_id_ == 65535 ? 1 : static_cast<std::uint16_t>(last_packet_id_ + 1);
  } while (id_in_use_[last_packet_id_]);
  id_in_use_[last_packet_id_] = true;
  return last_packet_id_;
}

void Client::queue(const mqtt::Packet& packet) {
  if (const mqtt::Error e = mqtt::encode(packet, load_.options().version, out_)) {
    fail("cannot encode " + std::string(mqtt::packet_name(mqtt::type_of(packet))) + ": " +
         mqtt::to_string(e));
    return;
  }
  wake();
}

asio::awaitable<void> Client::write_loop() {
  auto self = shared_from_this();
  std::string writing;
  for (;;) {
    produce();
    if (out_.empty()) {
      if (closing_) break;
      writer_waiting_ = true;
      wake_.expires_at(next_message_time());
      co_await wake_.async_wait(use_tuple);
      writer_waiting_ = false;
      continue;
    }
    writing.swap(out_);
    last_write_ = Clock::now();
    const auto ec = co_await stream_->write(asio::buffer(writing));
    writing.clear();
    if (ec) {
      if (!closing_) fail("write failed: " + ec.message());
      closing_ = true;
      out_.clear();
      break;
    }
  }
  writer_running_ = false;
  writer_done_.cancel();
}

void Client::disconnect() {
  if (!stream_ || finished_) {
    abort();
    return;
  }
  if (closing_) return;
  producing_ = false;
  queue(mqtt::Disconnect{});
  closing_ = true;
  wake();
}

void Client::abort() {
  closing_ = true;
  producing_ = false;
  connect_deadline_.cancel();
  if (!stream_ || finished_) return;
  asio::co_spawn(
      stream_->get_executor(),
      [self = shared_from_this()]() -> asio::awaitable<void> { co_await self->stream_->close(); },
      asio::detached);
}

void Client::keep_alive(Clock::time_point now) {
  if (keep_alive_ == 0 || !ready_ || closing_) return;
  if (now - last_write_ >= std::chrono::seconds(keep_alive_) / 2) queue(mqtt::Pingreq{});
}

void Client::fail(std::string error) {
  if (failed_) return;
  failed_ = true;
  load_.client_failed(*this, error);
}

void Client::settle() {
  if (!connecting_) return;
  connecting_ = false;
  load_.connect_done();
}

// ---- Load -----------------------------------------------------------------------------------

Load::Load(asio::io_context& io, const LoadOptions& options,
           const std::function<void(const Progress&)>& progress)
    : io_(io),
      options_(options),
      progress_(progress),
      event_(io),
      phase_timer_(io),
      tick_timer_(io),
      signals_(io, SIGINT, SIGTERM) {
  tls_.ca_file = options.ca_file;
  tls_.insecure = options.insecure;
}

std::string Load::prepare() {
  const auto executor = io_.get_executor();
  const std::string& prefix = options_.client_prefix;
  for (unsigned i = 1; i <= options_.idle; ++i) {
    idle_.push_back(std::make_shared<Client>(executor, *this, Role::Idle, i,
                                             prefix + "-idle-" + std::to_string(i), ""));
  }
  for (unsigned i = 1; i <= options_.publishers; ++i) {
    std::string topic = expand(options_.topic, i);
    if (const mqtt::Error e = mqtt::validate_topic_name(topic))
      return "topic '" + topic + "': " + mqtt::to_string(e);
    publishers_.push_back(std::make_shared<Client>(executor, *this, Role::Publisher, i,
                                                   prefix + "-pub-" + std::to_string(i), topic));
  }
  const std::string& pattern = options_.filter.empty() ? options_.topic : options_.filter;
  std::map<std::string, std::size_t, std::less<>> groups;  // shared filter -> receiver
  for (unsigned i = 1; i <= options_.subscribers; ++i) {
    std::string filter = expand(pattern, i);
    if (const mqtt::Error e = mqtt::validate_topic_filter(filter))
      return "subscription '" + filter + "': " + mqtt::to_string(e);
    auto subscriber = std::make_shared<Client>(executor, *this, Role::Subscriber, i,
                                               prefix + "-sub-" + std::to_string(i), filter);
    const mqtt::SharedFilter shared = mqtt::split_shared(filter);
    subscriber->receiver = receivers_.size();
    subscriber->next_sequence.assign(publishers_.size(), 0);
    const bool new_receiver =
        shared.group.empty() || groups.emplace(filter, receivers_.size()).second;
    if (new_receiver) {
      Receiver receiver;
      receiver.from.resize(publishers_.size());
      for (const auto& publisher : publishers_)
        receiver.matches.push_back(mqtt::topic_matches(shared.filter, publisher->topic()));
      receivers_.push_back(std::move(receiver));
    } else {
      subscriber->receiver = groups.find(filter)->second;
    }
    subscribers_.push_back(std::move(subscriber));
  }
  return {};
}

asio::awaitable<void> Load::run() {
  watch_signals();
  const auto begin = Clock::now();
  connect_deadline_ = begin + seconds(options_.connect_timeout);
  asio::co_spawn(io_, housekeeping(), asio::detached);
  for (const auto* group : {&idle_, &subscribers_, &publishers_}) {
    if (!report_.errors.empty() || interrupted_) break;
    co_await open(*group);
  }
  report_.connect_seconds = seconds_between(begin, Clock::now());
  report_.connected = 0;
  for (const auto* group : {&idle_, &subscribers_, &publishers_}) {
    for (const auto& client : *group)
      if (client->ready()) ++report_.connected;
  }
  if (report_.errors.empty() && !interrupted_) {
    co_await publish_phase();
    co_await drain_phase();
  } else if (report_.errors.empty()) {
    report_.errors.push_back("interrupted while connecting");
  }
  co_await close_phase();
  over_ = true;
  tick_timer_.cancel();
  signals_.cancel();
  finish_report();
}

void Load::watch_signals() {
  // The first Ctrl-C ends the publishing time (the results still come); the second, the drain.
  signals_.async_wait([this](const boost::system::error_code& ec, int) {
    if (ec) return;
    if (interrupted_) drain_interrupted_ = true;
    interrupted_ = true;
    phase_timer_.cancel();
    notify();
    watch_signals();
  });
}

asio::awaitable<void> Load::open(const std::vector<std::shared_ptr<Client>>& clients) {
  for (const auto& client : clients) {
    while (connecting_ >= options_.connect_parallelism && Clock::now() < connect_deadline_ &&
           !interrupted_) {
      co_await wait_event(connect_deadline_);
    }
    if (Clock::now() >= connect_deadline_ || interrupted_ || !report_.errors.empty()) break;
    ++connecting_;
    asio::co_spawn(
        io_, [client] { return client->run(); }, asio::detached);
  }
  const auto settled = [&] {
    for (const auto& client : clients)
      if (!client->ready() && !client->failed()) return false;
    return true;
  };
  while (!settled() && report_.errors.empty() && Clock::now() < connect_deadline_ &&
         !interrupted_) {
    co_await wait_event(connect_deadline_);
  }
  if (!settled() && report_.errors.empty() && !interrupted_) {
    std::size_t late = 0;
    for (const auto& client : clients)
      if (!client->ready() && !client->failed()) ++late;
    report_.errors.push_back(std::to_string(late) + " of " + std::to_string(clients.size()) +
                             " connections not ready after " +
                             std::to_string(options_.connect_timeout) + " s (--connect-timeout)");
  }
}

asio::awaitable<void> Load::publish_phase() {
  started_ = Clock::now();
  last_receipt_ = started_;
  publishing_ = true;
  report_.ran = true;
  for (const auto& publisher : publishers_)
    publisher->set_producing(true);

  const auto end = started_ + seconds(options_.duration);
  auto next_report = started_ + std::chrono::seconds(1);
  auto last_report = started_;
  std::uint64_t last_sent = 0;
  std::uint64_t last_received = 0;
  while (!interrupted_) {
    phase_timer_.expires_at(std::min(next_report, end));
    co_await phase_timer_.async_wait(use_tuple);
    const auto now = Clock::now();
    if (interrupted_ || now >= end) break;
    if (now < next_report) continue;
    if (progress_) {
      Progress progress;
      progress.elapsed = seconds_between(started_, now);
      progress.interval = seconds_between(last_report, now);
      progress.sent = report_.sent - last_sent;
      progress.received = report_.received - last_received;
      progress.in_flight = in_flight();
      progress.p50_ns = report_.latency.percentile(50);
      progress.p99_ns = report_.latency.percentile(99);
      progress.connected = report_.connected;
      progress_(progress);
    }
    last_report = now;
    last_sent = report_.sent;
    last_received = report_.received;
    next_report += std::chrono::seconds(1);
  }
  publishing_ = false;
  for (const auto& publisher : publishers_)
    publisher->set_producing(false);
  report_.seconds = seconds_between(started_, Clock::now());
  report_.received_in_window = report_.received;
}

asio::awaitable<void> Load::drain_phase() {
  // Until every message sent has arrived, or nothing has arrived for a while (QoS 0 losses),
  // or the drain time is up.
  const auto deadline = Clock::now() + seconds(options_.drain);
  constexpr auto kQuiet = std::chrono::milliseconds(500);
  for (;;) {
    const auto now = Clock::now();
    if (now >= deadline || drain_interrupted_) break;
    std::uint64_t expected = 0;
    for (const Receiver& receiver : receivers_) {
      for (std::size_t i = 0; i < publishers_.size(); ++i)
        if (receiver.matches[i]) expected += publishers_[i]->sent();
    }
    const bool acknowledged = in_flight() == 0;
    if (acknowledged && (unique_ >= expected || now - last_receipt_ >= kQuiet)) break;
    phase_timer_.expires_after(std::chrono::milliseconds(20));
    co_await phase_timer_.async_wait(use_tuple);
  }
}

asio::awaitable<void> Load::close_phase() {
  const auto all = {&idle_, &subscribers_, &publishers_};
  const auto closed = [&] {
    for (const auto* group : all) {
      for (const auto& client : *group)
        if (client->started() && !client->finished()) return false;
    }
    return true;
  };
  for (const auto* group : all) {
    for (const auto& client : *group)
      client->disconnect();
  }
  // The broker closes each connection after its DISCONNECT; a broker that does not is cut off.
  auto deadline = Clock::now() + std::chrono::seconds(2);
  while (!closed() && Clock::now() < deadline)
    co_await wait_event(deadline);
  for (const auto* group : all) {
    for (const auto& client : *group)
      if (client->started() && !client->finished()) client->abort();
  }
  deadline = Clock::now() + net::Stream::kCloseGrace + std::chrono::milliseconds(500);
  while (!closed() && Clock::now() < deadline)
    co_await wait_event(deadline);
}

asio::awaitable<void> Load::housekeeping() {
  while (!over_) {
    tick_timer_.expires_after(std::chrono::seconds(1));
    co_await tick_timer_.async_wait(use_tuple);
    if (over_) break;
    const auto now = Clock::now();
    for (const auto* group : {&idle_, &subscribers_, &publishers_}) {
      for (const auto& client : *group)
        client->keep_alive(now);
    }
  }
}

asio::awaitable<void> Load::wait_event(Clock::time_point deadline) {
  event_.expires_at(deadline);
  co_await event_.async_wait(use_tuple);
}

void Load::client_failed(const Client& client, const std::string& error) {
  report_.errors.push_back(client.client_id() + ": " + error);
  notify();
}

std::uint64_t Load::due(unsigned slot, Clock::time_point now) const {
  if (!publishing_) return 0;
  if (options_.rate <= 0) return UINT64_MAX;
  const double turns = seconds_between(started_, now) * options_.rate -
                       static_cast<double>(slot) / static_cast<double>(publishers_.size());
  return turns < 0 ? 0 : static_cast<std::uint64_t>(std::floor(turns)) + 1;
}

Clock::time_point Load::due_time(unsigned slot, std::uint64_t sequence) const {
  const double turns = static_cast<double>(sequence) +
                       static_cast<double>(slot) / static_cast<double>(publishers_.size());
  // Rounded up, so that due() counts the message when the writer wakes at this time.
  return started_ + std::chrono::nanoseconds(
                        static_cast<std::int64_t>(std::ceil(turns / options_.rate * 1e9)));
}

void Load::on_message(Client& subscriber, std::string_view payload, Clock::time_point arrived) {
  const std::optional<Stamp> stamp = read_stamp(payload);
  // A persistent session resumed from an earlier run (same client ids) may bring that run's
  // messages: they were sent before this run began.
  if (!stamp || stamp->publisher >= publishers_.size() || stamp->sequence >= kMaxSequence ||
      stamp->sent_ns < created_ns_) {
    ++report_.foreign;
    return;
  }
  const std::uint64_t arrived_ns = to_ns(arrived);
  ++report_.received;
  report_.latency.add(arrived_ns > stamp->sent_ns ? arrived_ns - stamp->sent_ns : 0);
  last_receipt_ = arrived;
  if (!receivers_[subscriber.receiver].from[stamp->publisher].add(stamp->sequence)) return;
  ++unique_;
  std::uint64_t& next = subscriber.next_sequence[stamp->publisher];
  if (stamp->sequence < next) {
    ++report_.out_of_order;
  } else {
    next = stamp->sequence + 1;
  }
}

std::uint64_t Load::in_flight() const {
  std::uint64_t total = 0;
  for (const auto& publisher : publishers_)
    if (!publisher->finished()) total += publisher->in_flight();
  return total;
}

void Load::finish_report() {
  for (const Receiver& receiver : receivers_) {
    for (std::size_t i = 0; i < publishers_.size(); ++i) {
      const SequenceTracker& from = receiver.from[i];
      report_.unique += from.unique();
      report_.duplicates += from.duplicates();
      if (!receiver.matches[i]) continue;
      const std::uint64_t expected = publishers_[i]->sent();
      report_.expected += expected;
      if (expected > from.unique()) report_.lost += expected - from.unique();
    }
  }
}

}  // namespace

LoadReport run_load(const LoadOptions& options,
                    const std::function<void(const Progress&)>& progress) {
  asio::io_context io(1);
  Load load(io, options, progress);
  if (std::string error = load.prepare(); !error.empty()) {
    LoadReport report;
    report.errors.push_back(std::move(error));
    return report;
  }
  asio::co_spawn(io, load.run(), [&](const std::exception_ptr& failure) {
    if (failure) {
      try {
        std::rethrow_exception(failure);
      } catch (const std::exception& e) {
        load.report().errors.push_back(std::string("internal error: ") + e.what());
      }
    }
    io.stop();
  });
  io.run();
  return std::move(load.report());
}

}  // namespace psos::cli::bench
