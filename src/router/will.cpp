// Wills: taken from CONNECT (and stored with a persistent session), published when a connection
// ends without a normal DISCONNECT, after their delay unless the session comes back first, and
// when a session ends with a will still pending.
#include "router/broker.hpp"

namespace psos::router {

void Broker::take_will(Session& s, const mqtt::Connect& c, Actions& out) {
  s.will.reset();
  if (c.will) {
    mqtt::Publish will_publish;
    will_publish.topic = c.will->topic;
    will_publish.payload = c.will->payload;
    will_publish.qos = c.will->qos;
    will_publish.retain = c.will->retain;
    will_publish.properties = c.will->properties;
    s.will = WillMessage{make_message(will_publish, c.will->topic, s.id, Clock::now()),
                         c.will->properties.will_delay_interval.value_or(0)};
  }
  if (!s.stored) return;
  // A broker that crashes loses every connection: the will is stored so that it is published
  // after the restart, as for any other lost connection.
  if (s.will) {
    out.store(store::PutWill{s.client_id, s.will->message, s.will->delay});
  } else {
    out.store(store::EraseWill{s.client_id});
  }
}

void Broker::will_on_lost_connection(Session& s, Actions& out) {
  if (!s.will) return;
  if (s.will->delay == 0 || s.expiry_interval == 0) {
    publish_will(s, out);
  } else {
    out.arm({TimerKind::WillDelay, s.id}, std::chrono::seconds(s.will->delay));
  }
}

void Broker::publish_will(Session& s, Actions& out) {
  if (!s.will) return;
  MessagePtr will = std::move(s.will->message);
  s.will.reset();
  if (s.stored) out.store(store::EraseWill{s.client_id});
  out.log(LogLevel::info, "publishing the will of {} to {}", s.client_id, will->topic);
  ++stats_.messages_received;
  publish(std::move(will), out);
}

}  // namespace psos::router
