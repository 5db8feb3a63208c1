// libFuzzer harness for the client's protocol state (client::Session): a fake server sends
// arbitrary bytes, interleaved with the application's operations (publish, subscribe,
// unsubscribe, cancel, ping) and reconnect cycles. The session must never crash, everything it
// writes must decode as a well-formed packet, and every publish completes at most once.
//
// Input: byte 0 chooses the session's options (version, clean start, small limits); the rest is
// a sequence of records, each a tag byte followed by its operands:
//   0 publish [qos/topic][payload size]      1 subscribe [filter/qos]     2 unsubscribe [filter]
//   3 ping                                    4 cancel [token]             5 reconnect
//   6 raw bytes [length][chunk size][bytes...], fed to on_bytes in chunks of that size
//   7 a well-formed broker packet [type][id hi][id lo][reason][flags], so that deep states (after
//     CONNACK, acknowledgements with the right ids) are easy to reach
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "client/session.hpp"
#include "mqtt/codec.hpp"
#include "mqtt/stream_decoder.hpp"

namespace {

using namespace psos;

[[noreturn]] void finding(const char* what, const std::string& detail) {
  std::fprintf(stderr, "fuzz_client_session: %s: %s\n", what, detail.c_str());
  std::abort();
}

struct Events final : client::SessionEvents {
  std::set<client::Token> open;  // QoS 1/2 publishes accepted and not yet completed
  std::set<client::Token> qos0;  // QoS 0 publishes queued offline
  void on_connack(const client::ConnackInfo&) override {}
  void on_message(client::MessagePtr message) override {
    if (!message) finding("on_message", "null message");
  }
  void on_publish_done(client::Token token, mqtt::ReasonCode) override {
    if (open.erase(token) != 1) finding("on_publish_done", "token completed twice or never open");
  }
  void on_subscribe_done(client::Token, const std::vector<mqtt::ReasonCode>&) override {}
  void on_unsubscribe_done(client::Token) override {}
  void on_dropped(client::Token token) override {
    if (qos0.erase(token) != 1) finding("on_dropped", "not a queued QoS 0 message");
  }
};

class Harness {
 public:
  explicit Harness(std::uint8_t flags) : version_(flags & 1 ? mqtt::Version::v311 : mqtt::Version::v5) {
    client::SessionOptions o;
    o.version = version_;
    o.client_id = flags & 2 ? "fuzz" : "";
    o.clean_start = (flags & 4) == 0;
    o.session_expiry_interval = flags & 4 ? 60 : 0;
    o.keep_alive = 10;
    if (flags & 8) o.receive_maximum = 2;
    if (flags & 16) o.max_packet_size = 128;
    if (flags & 32) {
      o.max_queued_messages = 4;
      o.max_queued_bytes = 2048;
    }
    if (flags & 64) {
      client::Will will;
      will.message.topic = "will/t";
      will.message.payload = "bye";
      will.message.qos = mqtt::QoS::AtLeastOnce;
      will.delay_seconds = 3;
      o.will = will;
    }
    if (flags & 128) {
      o.username = "u";
      o.password = "p";
    }
    session_.emplace(std::move(o), events_);
    session_->connection_started();
    drain();
  }

  void publish(std::uint8_t a, std::uint8_t b) {
    static const char* const topics[] = {"a", "a/b", "c/d/e", "+/bad"};
    auto m = std::make_shared<client::Message>();
    m->topic = topics[(a >> 2) & 3];
    m->qos = static_cast<mqtt::QoS>(a & 3 ? (a & 3) - 1 : 0);
    m->retain = (a & 16) != 0;
    m->payload.assign(static_cast<std::size_t>(b) * 2, 'x');
    if (a & 32) m->content_type = "text/plain";
    const client::Token token = next_token_++;
    const bool qos0 = m->qos == mqtt::QoS::AtMostOnce;
    const bool was_connected = session_->connected();
    if (session_->publish(std::move(m), token) == client::PublishStatus::Queued) {
      if (!qos0) {
        events_.open.insert(token);
      } else if (!was_connected) {
        events_.qos0.insert(token);
      }
    }
    drain();
  }

  void subscribe(std::uint8_t a) {
    static const char* const filters[] = {"a/#", "+/b", "c/d/e", "$share/g/a"};
    client::SubscribeOptions so;
    so.qos = static_cast<mqtt::QoS>((a >> 2) % 3);
    so.no_local = (a & 16) != 0;
    so.subscription_identifier = a & 32 ? 7 : 0;
    session_->subscribe(filters[a & 3], so, next_token_++);
    drain();
  }

  void unsubscribe(std::uint8_t a) {
    static const char* const filters[] = {"a/#", "+/b", "c/d/e", "x"};
    session_->unsubscribe(filters[a & 3], next_token_++);
    drain();
  }

  void cancel(std::uint8_t a) {
    const client::Token token = next_token_ > a ? next_token_ - a : 1;
    session_->cancel_publish(token);
    // A cancelled message that was still queued completes never; one in flight completes.
    // The harness cannot tell which, so it stops tracking neither: on_publish_done for it stays
    // allowed once, and a QoS 0 drop likewise.
    drain();
  }

  void ping() {
    session_->ping();
    drain();
  }

  void reconnect() {
    session_->connection_lost();
    if (session_->has_output()) finding("connection_lost", "output left after the connection");
    session_->connection_started();
    server_ = mqtt::StreamDecoder(version_);
    drain();
  }

  void bytes(std::string_view data, std::size_t chunk) {
    if (chunk == 0) chunk = data.size();
    bool failed = false;
    while (!data.empty() && !failed) {
      const std::string_view part = data.substr(0, chunk);
      // The decoder borrows the chunk until it asks for more: keep it alive like a read buffer.
      buffer_.assign(part.data(), part.size());
      failed = !session_->on_bytes(buffer_).empty();
      data.remove_prefix(part.size());
      drain();
    }
    if (failed) reconnect();  // what the client's loop does after an error
  }

  void packet(const std::uint8_t* p) {
    const std::uint16_t id = static_cast<std::uint16_t>(p[1] << 8 | p[2]);
    const auto reason = static_cast<mqtt::ReasonCode>(p[3] & 0x80 ? 0x80 + (p[3] & 0x1F) : 0);
    const std::uint8_t flags = p[4];
    std::string out;
    mqtt::Error error;
    switch (p[0] % 10) {
      case 0: {
        mqtt::Connack c;
        c.session_present = (flags & 1) != 0;
        c.reason = p[3] == 0xFF ? mqtt::ReasonCode::NotAuthorized : mqtt::ReasonCode::Success;
        if (version_ == mqtt::Version::v5) {
          if (flags & 2) c.properties.receive_maximum = static_cast<std::uint16_t>(1 + (p[1] & 3));
          if (flags & 4) c.properties.maximum_packet_size = 64u + p[2];
          if (flags & 8) c.properties.server_keep_alive = p[2];
          if (flags & 16) c.properties.assigned_client_identifier = "assigned";
          if (flags & 32) c.properties.maximum_qos = 1;
        }
        error = mqtt::encode(c, version_, out);
        break;
      }
      case 1: {
        mqtt::Puback a;
        a.packet_id = id;
        a.reason = reason;
        error = mqtt::encode(a, version_, out);
        break;
      }
      case 2: {
        mqtt::Pubrec a;
        a.packet_id = id;
        a.reason = reason;
        error = mqtt::encode(a, version_, out);
        break;
      }
      case 3: {
        mqtt::Pubcomp a;
        a.packet_id = id;
        error = mqtt::encode(a, version_, out);
        break;
      }
      case 4: {
        mqtt::Pubrel a;
        a.packet_id = id;
        error = mqtt::encode(a, version_, out);
        break;
      }
      case 5: {
        mqtt::Suback s;
        s.packet_id = id;
        s.reasons = {flags & 1 ? mqtt::ReasonCode::NotAuthorized : mqtt::ReasonCode::GrantedQos1};
        error = mqtt::encode(s, version_, out);
        break;
      }
      case 6: {
        mqtt::Unsuback u;
        u.packet_id = id;
        if (version_ == mqtt::Version::v5) u.reasons = {mqtt::ReasonCode::Success};
        error = mqtt::encode(u, version_, out);
        break;
      }
      case 7: {
        mqtt::Publish m;
        m.topic = flags & 1 ? "a/b" : "c/d/e";
        m.payload = "payload";
        m.qos = static_cast<mqtt::QoS>((flags >> 1) % 3);
        m.packet_id = m.qos == mqtt::QoS::AtMostOnce ? 0 : (id == 0 ? 1 : id);
        m.dup = (flags & 8) != 0 && m.qos != mqtt::QoS::AtMostOnce;
        if (version_ == mqtt::Version::v5 && (flags & 16)) m.properties.topic_alias = 1;
        error = mqtt::encode(m, version_, out);
        break;
      }
      case 8:
        error = mqtt::encode(mqtt::Pingresp{}, version_, out);
        break;
      default: {
        mqtt::Disconnect d;
        d.reason = reason;
        error = mqtt::encode(d, version_, out);
        break;
      }
    }
    if (error) return;  // not expressible in this version: nothing sent
    bytes(out, static_cast<std::size_t>(flags >> 5));
  }

 private:
  // Everything the session writes must decode (the server's view of it).
  void drain() {
    if (!session_->has_output()) return;
    session_->take_output(written_);
    server_.feed(written_);
    mqtt::Packet p;
    while (true) {
      const auto status = server_.next(p);
      if (status == mqtt::StreamDecoder::Status::NeedMore) break;
      if (status == mqtt::StreamDecoder::Status::Failed)
        finding("the session wrote", mqtt::to_string(server_.error()));
    }
    if (server_.buffered() != 0) finding("the session wrote", "a partial packet");
  }

  mqtt::Version version_;
  Events events_;
  std::optional<client::Session> session_;
  mqtt::StreamDecoder server_{version_};
  std::string written_;
  std::string buffer_;
  client::Token next_token_ = 1;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  Harness h(data[0]);
  std::size_t i = 1;
  while (i < size) {
    const std::uint8_t tag = data[i++];
    const auto left = size - i;
    switch (tag % 8) {
      case 0:
        if (left < 2) return 0;
        h.publish(data[i], data[i + 1]);
        i += 2;
        break;
      case 1:
        if (left < 1) return 0;
        h.subscribe(data[i++]);
        break;
      case 2:
        if (left < 1) return 0;
        h.unsubscribe(data[i++]);
        break;
      case 3:
        h.ping();
        break;
      case 4:
        if (left < 1) return 0;
        h.cancel(data[i++]);
        break;
      case 5:
        h.reconnect();
        break;
      case 6: {
        if (left < 2) return 0;
        const std::size_t n = std::min<std::size_t>(data[i], left - 2);
        const std::size_t chunk = data[i + 1];  // 0: all at once
        h.bytes(std::string_view(reinterpret_cast<const char*>(data + i + 2), n), chunk);
        i += 2 + n;
        break;
      }
      default:
        if (left < 5) return 0;
        h.packet(data + i);
        i += 5;
        break;
    }
  }
  return 0;
}
