// Keep alive: PINGREQ, and the connection that received nothing for 1.5 x its keep alive (spec
// 3.1.2.10), found when the session's KeepAlive timer expires.
#include "router/broker.hpp"

namespace psos::router {

void Broker::on_pingreq(Session& s, Actions& out) {
  out.send(*s.link, mqtt::Pingresp{});
}

void Broker::keep_alive_due(Session& s, Actions& out) {
  if (s.link == nullptr || s.keep_alive_limit.count() == 0) return;
  const Timer timer{TimerKind::KeepAlive, s.id};
  // A paused connection reads nothing on purpose: its client's silence is not known until it
  // resumes.
  if (s.paused) return out.arm(timer, s.keep_alive_limit);
  const auto idle =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - s.link->last_read());
  if (idle < s.keep_alive_limit) return out.arm(timer, s.keep_alive_limit - idle);
  out.log(LogLevel::info, "{}: nothing received for {} ms (1.5 x keep alive): closing", s.client_id,
          s.keep_alive_limit.count());
  if (s.version == mqtt::Version::v5) {
    mqtt::Disconnect d;
    d.reason = mqtt::ReasonCode::KeepAliveTimeout;
    d.properties.reason_string = "keep alive timeout";
    out.send(*s.link, d);
  }
  out.close(*s.link);
}

}  // namespace psos::router
