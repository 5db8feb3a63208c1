// libFuzzer harness for the router: arbitrary byte streams from up to three clients, decoded
// and handed to one Router as a connection would. The router must never crash, and every packet
// it sends must encode. Bytes are framed as [client][length][bytes...] records.
#include <spdlog/spdlog.h>

#include <array>
#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "mqtt/codec.hpp"
#include "mqtt/stream_decoder.hpp"
#include "router/router.hpp"

namespace {

using namespace psos;

[[noreturn]] void finding(const char* what, const mqtt::Error& error) {
  std::fprintf(stderr, "fuzz_router_session: %s: %s\n", what, mqtt::to_string(error).c_str());
  std::abort();
}

// What a network connection does around the router, minus the sockets.
class FakeClient final : public router::Link {
 public:
  void send_publish(const router::Delivery& d, std::uint16_t packet_id, bool dup) override {
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
  void send(const mqtt::Packet& packet) override { check(packet); }
  void close() override { closed = true; }
  std::size_t backlog() const noexcept override { return 0; }

  void check(const mqtt::Packet& packet) {
    out.clear();
    if (const mqtt::Error e = mqtt::encode(packet, version, out)) finding("router sent", e);
  }

  mqtt::StreamDecoder decoder{mqtt::Version::v5, 4096};
  mqtt::Version version = mqtt::Version::v5;
  router::SessionId session = 0;
  bool closed = false;
  std::string out;
};

void feed(router::Router& r, FakeClient& c, std::string_view bytes) {
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
      c.session = r.connect(c, *connect, "fuzz").session;
      if (c.session == 0) c.closed = true;
      continue;
    }
    if (auto* publish = std::get_if<mqtt::Publish>(&packet)) {
      // The connection resolves topic aliases before the router sees a PUBLISH.
      if (publish->topic.empty()) continue;
      publish->properties.topic_alias.reset();
    }
    r.handle(c.session, c, packet);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const bool quiet = [] {
    spdlog::set_level(spdlog::level::off);
    return true;
  }();
  (void)quiet;
  boost::asio::io_context io;
  router::RouterOptions options;
  options.sys_interval_seconds = 0;
  options.limits.max_queued_messages = 16;
  options.limits.topic_alias_maximum = 4;
  {
    router::Router r(io.get_executor(), options);
    std::array<FakeClient, 3> clients;
    std::size_t i = 0;
    while (i + 2 <= size) {
      FakeClient& c = clients[data[i] % clients.size()];
      const std::size_t n = std::min<std::size_t>(data[i + 1], size - i - 2);
      feed(r, c, std::string_view(reinterpret_cast<const char*>(data + i + 2), n));
      if (c.closed && c.session != 0) {
        r.connection_lost(c.session, c);
        c.session = 0;
      }
      i += 2 + n;
      io.poll();
    }
    for (FakeClient& c : clients)
      if (c.session != 0) r.connection_lost(c.session, c);
    io.poll();
    r.shutdown();
  }
  io.poll();
  return 0;
}
