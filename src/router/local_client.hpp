// An in-process session on the router: how code in the node (services, the control plane)
// publishes and subscribes without a socket and without encoding packets. Messages arrive as
// the shared immutable MessagePtr every subscriber gets, never copied.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "router/router.hpp"

namespace psos::router {

class LocalClient final : public Link {
 public:
  using Handler = std::function<void(const MessagePtr& message, const Delivery& delivery)>;

  // Connects a clean session named `client_id`. `on_message` is called for every message that
  // matches a subscription, from a handler posted on the router's executor (never from inside a
  // router call, so it may publish and subscribe itself).
  LocalClient(Router& router, boost::asio::any_io_executor executor, std::string client_id,
              Handler on_message);
  ~LocalClient() override;
  LocalClient(const LocalClient&) = delete;
  LocalClient& operator=(const LocalClient&) = delete;

  // In-process delivery cannot be lost in transit, so subscriptions are QoS 0 on the router;
  // the QoS a message was published with travels in Delivery::message->qos.
  void subscribe(std::string_view filter, bool no_local = false);
  void unsubscribe(std::string_view filter);
  // Publishes as this session (No Local subscriptions of its own do not receive it).
  void publish(std::string_view topic, std::string_view payload,
               mqtt::QoS qos = mqtt::QoS::AtMostOnce, bool retain = false);
  void publish(Message message);

  bool connected() const noexcept { return session_ != 0; }
  SessionId session() const noexcept { return session_; }
  std::size_t queued() const noexcept { return inbox_.size(); }

  // ---- Link ----
  void send_publish(const Delivery& delivery, std::uint16_t packet_id, bool dup) override;
  void send(const mqtt::Packet& packet) override;
  void close() override;
  // In-process sessions are never paused (they publish through Router::publish, which pauses no
  // one) and have no keep alive.
  void pause() override {}
  void resume() override {}
  std::size_t backlog() const noexcept override { return inbox_bytes_; }
  Clock::time_point last_read() const noexcept override { return Clock::now(); }

 private:
  void drain();

  Router& router_;
  boost::asio::any_io_executor executor_;
  std::string client_id_;
  Handler on_message_;
  SessionId session_ = 0;
  std::uint16_t next_packet_id_ = 1;
  std::vector<Delivery> inbox_;
  std::vector<Delivery> batch_;  // the inbox being drained
  std::size_t inbox_bytes_ = 0;
  bool drain_posted_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace psos::router
