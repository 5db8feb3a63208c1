// Messages made from the PUBLISH packets the router receives.
#include "router/message.hpp"

namespace psos::router {

MessagePtr make_message(const mqtt::Publish& publish, std::string_view topic, SessionId origin,
                        Clock::time_point now) {
  auto m = std::make_shared<Message>();
  mqtt::fill_message(publish, topic, *m);
  m->received = now;
  m->origin = origin;
  return m;
}

}  // namespace psos::router
