// In-process sessions: SUBSCRIBE/UNSUBSCRIBE go through the router's own handlers as packet
// structs (never encoded); deliveries queue in an inbox drained by a posted handler.
#include "router/local_client.hpp"

#include <boost/asio/post.hpp>

namespace psos::router {

LocalClient::LocalClient(Router& router, boost::asio::any_io_executor executor,
                         std::string client_id, Handler on_message)
    : router_(router),
      executor_(std::move(executor)),
      client_id_(std::move(client_id)),
      on_message_(std::move(on_message)) {
  mqtt::Connect connect;
  connect.version = mqtt::Version::v5;
  connect.client_id = client_id_;
  connect.clean_start = true;
  connect.keep_alive = 0;
  session_ = router_.connect(*this, connect, {.remote = "in-process", .in_process = true}).session;
}

LocalClient::~LocalClient() {
  *alive_ = false;
  // A normal DISCONNECT first (no will, no "unexpectedly"); ignored by the router when this
  // link is no longer the session's.
  if (session_ != 0) {
    router_.handle(session_, *this, mqtt::Disconnect{});
    router_.connection_lost(session_, *this);
  }
}

void LocalClient::subscribe(std::string_view filter, bool no_local) {
  if (session_ == 0) return;
  mqtt::Subscribe s{.packet_id = next_packet_id_++};
  if (next_packet_id_ == 0) next_packet_id_ = 1;
  s.topics.push_back({.filter = filter, .qos = mqtt::QoS::AtMostOnce, .no_local = no_local});
  router_.handle(session_, *this, s);
}

void LocalClient::unsubscribe(std::string_view filter) {
  if (session_ == 0) return;
  mqtt::Unsubscribe u{.packet_id = next_packet_id_++};
  if (next_packet_id_ == 0) next_packet_id_ = 1;
  u.filters.push_back(filter);
  router_.handle(session_, *this, u);
}

void LocalClient::publish(std::string_view topic, std::string_view payload, mqtt::QoS qos,
                          bool retain) {
  Message m;
  m.topic = topic;
  m.payload = payload;
  m.qos = qos;
  m.retain = retain;
  publish(std::move(m));
}

void LocalClient::publish(Message message) {
  message.origin = session_;
  // Only an expiry interval makes the time of arrival matter (Message::remaining_expiry).
  if (message.message_expiry_interval) message.received = Clock::now();
  router_.publish(std::make_shared<const Message>(std::move(message)));
}

void LocalClient::send_publish(const Delivery& delivery, std::uint16_t, bool) {
  inbox_bytes_ += delivery.message->footprint();
  inbox_.push_back(delivery);
  if (drain_posted_) return;
  drain_posted_ = true;
  boost::asio::post(executor_, [this, alive = alive_] {
    if (*alive) drain();
  });
}

void LocalClient::drain() {
  drain_posted_ = false;
  // Handlers may publish (and so add to this inbox): take what is here now. The two vectors
  // trade places on every drain, keeping their storage.
  batch_.clear();  // what a handler that threw left
  batch_.swap(inbox_);
  inbox_bytes_ = 0;
  for (const Delivery& d : batch_)
    on_message_(d.message, d);
  batch_.clear();
  if (session_ != 0) router_.link_drained(session_);
}

void LocalClient::send(const mqtt::Packet&) {
  // CONNACK, SUBACK and UNSUBACK need no answer in process.
}

void LocalClient::close() {
  // The router ends this session (taken over, or shutting down). Report the loss after the
  // router call returns; a link never calls back synchronously.
  boost::asio::post(executor_, [this, alive = alive_] {
    if (*alive) router_.connection_lost(session_, *this);
  });
}

}  // namespace psos::router
