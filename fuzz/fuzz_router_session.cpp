// libFuzzer harness for the broker state (router/broker.hpp): arbitrary byte streams from up to
// three clients, decoded and handed to one Broker as the router's shell would, and timer events
// in the order the input says. The broker must never crash, and every packet it asks to send
// must encode. Input: records [client][length][bytes...]; a client byte of 3 (mod 4) makes the
// earliest armed timer expire instead, with every connection silent for long.
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>

#include "mqtt/codec.hpp"
#include "mqtt/stream_decoder.hpp"
#include "router/broker.hpp"

namespace {

using namespace psos;
using router::Action;
using router::Actions;
using router::Broker;

[[noreturn]] void finding(const char* what, const mqtt::Error& error) {
  std::fprintf(stderr, "fuzz_router_session: %s: %s\n", what, mqtt::to_string(error).c_str());
  std::abort();
}

// What a network connection is to the broker state, minus the socket.
class FakeClient final : public router::Link {
 public:
  // The state never calls these: it asks the shell, through actions.
  void send_publish(const router::Delivery&, std::uint16_t, bool) override { std::abort(); }
  void send(const mqtt::Packet&) override { std::abort(); }
  void close() override { std::abort(); }
  void pause() override { std::abort(); }
  void resume() override { std::abort(); }
  std::size_t backlog() const noexcept override { return 0; }
  router::Clock::time_point last_read() const noexcept override { return read_at; }

  void check(const mqtt::Packet& packet) {
    out.clear();
    if (const mqtt::Error e = mqtt::encode(packet, version, out)) finding("broker sent", e);
  }
  void check_publish(const router::Delivery& d, std::uint16_t packet_id, bool dup) {
    mqtt::Publish p;
    mqtt::fill_publish(*d.message, p);
    p.properties.message_expiry_interval = d.message->remaining_expiry(router::Clock::now());
    p.qos = d.qos;
    p.packet_id = packet_id;
    p.dup = dup;
    p.retain = d.retain;
    p.properties.subscription_identifiers = d.subscription_ids;
    check(p);
  }

  mqtt::StreamDecoder decoder{mqtt::Version::v5, 4096};
  mqtt::Version version = mqtt::Version::v5;
  router::SessionId session = 0;
  bool closed = false;
  router::Clock::time_point read_at = router::Clock::now();
  std::string out;
};

struct Harness {
  Broker broker;
  Actions out{router::LogLevel::debug};
  std::map<router::Timer, router::Clock::time_point> armed;

  // Checks what the broker asked for and keeps its timers, as the shell would carry it out.
  void carry_out() {
    for (Action& a : out.list()) {
      if (auto* send = std::get_if<router::action::Send>(&a)) {
        static_cast<FakeClient*>(send->link)->check(*send->packet);
      } else if (auto* ack = std::get_if<router::action::Acknowledge>(&a)) {
        static_cast<FakeClient*>(ack->link)->check(router::packet_of(*ack));
      } else if (auto* publish = std::get_if<router::action::Publish>(&a)) {
        static_cast<FakeClient*>(publish->link)
            ->check_publish(publish->delivery, publish->packet_id, publish->dup);
      } else if (auto* close = std::get_if<router::action::Close>(&a)) {
        static_cast<FakeClient*>(close->link)->closed = true;
      } else if (auto* arm = std::get_if<router::action::Arm>(&a)) {
        armed[arm->timer] = router::Clock::now() + arm->after;
      } else if (auto* cancel = std::get_if<router::action::Cancel>(&a)) {
        armed.erase(cancel->timer);
      }
    }
    out.clear();
  }

  void fire_earliest() {
    if (armed.empty()) return;
    auto earliest = armed.begin();
    for (auto it = armed.begin(); it != armed.end(); ++it)
      if (it->second < earliest->second) earliest = it;
    const router::Timer timer = earliest->first;
    armed.erase(earliest);
    broker.timer_fired(timer, out);
    carry_out();
  }

  void feed(FakeClient& c, std::string_view bytes) {
    if (c.closed) return;
    c.decoder.feed(bytes);
    mqtt::Packet packet;
    while (!c.closed) {
      const auto status = c.decoder.next(packet);
      if (status == mqtt::StreamDecoder::Status::NeedMore) return;
      if (status == mqtt::StreamDecoder::Status::Failed) {
        c.closed = true;
        return;
      }
      if (c.session == 0) {
        const auto* connect = std::get_if<mqtt::Connect>(&packet);
        if (connect == nullptr) {
          c.closed = true;
          return;
        }
        c.version = connect->version;
        c.decoder.set_version(c.version);
        c.session = broker.connect(c, *connect, {.remote = "fuzz"}, out).session;
        carry_out();
        if (c.session == 0) c.closed = true;
        continue;
      }
      if (auto* publish = std::get_if<mqtt::Publish>(&packet)) {
        // The connection resolves topic aliases before the broker sees a PUBLISH.
        if (publish->topic.empty()) continue;
        publish->properties.topic_alias.reset();
      }
      broker.handle(c.session, c, packet, out);
      carry_out();
    }
  }
};

router::RouterOptions fuzz_options() {
  router::RouterOptions options;
  options.sys_interval_seconds = 10;
  options.limits.max_queued_messages = 16;
  options.limits.topic_alias_maximum = 4;
  return options;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Harness h{Broker(fuzz_options())};
  h.broker.start({}, h.out);
  h.carry_out();
  std::array<FakeClient, 3> clients;
  std::size_t i = 0;
  while (i + 2 <= size) {
    const std::size_t n = std::min<std::size_t>(data[i + 1], size - i - 2);
    if (data[i] % 4 == 3) {
      for (FakeClient& c : clients)
        c.read_at = router::Clock::now() - std::chrono::hours(24);
      h.fire_earliest();
    } else {
      FakeClient& c = clients[data[i] % 4];
      h.feed(c, std::string_view(reinterpret_cast<const char*>(data + i + 2), n));
      if (c.closed && c.session != 0) {
        h.broker.connection_lost(c.session, c, h.out);
        h.carry_out();
        c.session = 0;
      }
    }
    i += 2 + n;
  }
  for (FakeClient& c : clients) {
    if (c.session != 0) {
      h.broker.connection_lost(c.session, c, h.out);
      h.carry_out();
    }
  }
  return 0;
}
