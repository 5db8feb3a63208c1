// A connection as the router sees it, without a socket: records every packet it is asked to
// send, and whether it was closed or paused; its backlog and last read are set by the test.
#pragma once

#include <string>
#include <vector>

#include "router/session.hpp"

namespace psos::router::test {

class RecordingLink final : public Link {
 public:
  struct SentPublish {
    Delivery delivery;
    std::uint16_t packet_id;
    bool dup;
  };

  void send_publish(const Delivery& d, std::uint16_t packet_id, bool dup) override {
    publishes.push_back({d, packet_id, dup});
    if (closed) ++after_close;
  }
  void send(const mqtt::Packet& packet) override { packets.push_back(packet); }
  void close() override { closed = true; }
  void pause() override { paused = true; }
  void resume() override { paused = false; }
  std::size_t backlog() const noexcept override { return backlog_bytes; }
  Clock::time_point last_read() const noexcept override { return read_at; }

  // The packets of type P sent so far.
  template <class P>
  std::vector<P> sent() const {
    std::vector<P> out;
    for (const mqtt::Packet& p : packets)
      if (const auto* x = std::get_if<P>(&p)) out.push_back(*x);
    return out;
  }
  std::vector<std::string> payloads() const {
    std::vector<std::string> out;
    for (const SentPublish& p : publishes)
      out.push_back(p.delivery.message->payload);
    return out;
  }

  std::vector<SentPublish> publishes;
  std::vector<mqtt::Packet> packets;
  bool closed = false;
  bool paused = false;
  int after_close = 0;  // PUBLISH packets sent after close(): never allowed
  std::size_t backlog_bytes = 0;
  Clock::time_point read_at = Clock::now();
};

}  // namespace psos::router::test
