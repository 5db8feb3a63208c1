// What a call of the broker state asks its shell to do, in order: packets to send through which
// link, links to close, pause or resume, timers to arm or cancel, changes to store, subscription
// changes to announce and lines to log. The broker appends; the shell (router.cpp) carries them
// out, and tests read them.
#pragma once

#include <fmt/format.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "mqtt/packets.hpp"
#include "router/session.hpp"
#include "router/stored.hpp"

namespace psos::router {

// A timer the broker asks for, named by what it is for and the session it concerns. Arming a
// timer that is armed moves it; when it expires the shell calls Broker::timer_fired with it.
enum class TimerKind : std::uint8_t {
  KeepAlive,      // check that the session's connection received something lately
  WillDelay,      // publish the will of a session that did not come back in time
  SessionExpiry,  // end a session that stayed away for its expiry interval
  Sys,            // publish the $SYS topics (session 0)
};
struct Timer {
  TimerKind kind = TimerKind::Sys;
  SessionId session = 0;
  friend auto operator<=>(const Timer&, const Timer&) = default;
};

enum class LogLevel : std::uint8_t { debug, info, warn, error };

namespace action {

// CONNACK, SUBACK, UNSUBACK, PINGRESP and DISCONNECT (boxed: an mqtt::Packet is large and rare
// here; the frequent acknowledgements have their own small action).
struct Send {
  Link* link;
  std::unique_ptr<mqtt::Packet> packet;
};
// PUBACK, PUBREC, PUBREL or PUBCOMP (`reason`: v5 only).
struct Acknowledge {
  Link* link;
  mqtt::PacketType type;
  std::uint16_t packet_id;
  mqtt::ReasonCode reason;
};
struct Publish {
  Link* link;
  Delivery delivery;
  std::uint16_t packet_id;  // 0 for QoS 0
  bool dup;
};
struct Close {
  Link* link;
};
struct Pause {
  Link* link;
};
struct Resume {
  Link* link;
};
struct Arm {
  Timer timer;
  std::chrono::milliseconds after;
};
struct Cancel {
  Timer timer;
};
struct Store {
  StoreChange change;
};
// Router::observe_subscriptions is told (the uplink mirrors subscriptions upstream).
struct SubscriptionChanged {
  SessionId session;
  std::string filter;
  bool added;
};
struct Log {
  LogLevel level;
  std::string text;
};

}  // namespace action

// The packet an Acknowledge stands for.
inline mqtt::Packet packet_of(const action::Acknowledge& a) {
  switch (a.type) {
    case mqtt::PacketType::Puback:
      return mqtt::Puback{.packet_id = a.packet_id, .reason = a.reason};
    case mqtt::PacketType::Pubrec:
      return mqtt::Pubrec{.packet_id = a.packet_id, .reason = a.reason};
    case mqtt::PacketType::Pubrel:
      return mqtt::Pubrel{.packet_id = a.packet_id, .reason = a.reason};
    default:
      return mqtt::Pubcomp{.packet_id = a.packet_id, .reason = a.reason};
  }
}

using Action = std::variant<action::Send, action::Acknowledge, action::Publish, action::Close,
                            action::Pause, action::Resume, action::Arm, action::Cancel,
                            action::Store, action::SubscriptionChanged, action::Log>;

class Actions {
 public:
  // Lines below `least` are not even formatted (the shell's log level).
  explicit Actions(LogLevel least = LogLevel::info) : least_(least) {}

  void send(Link& link, mqtt::Packet packet) {
    list_.emplace_back(action::Send{&link, std::make_unique<mqtt::Packet>(std::move(packet))});
  }
  void acknowledge(Link& link, mqtt::PacketType type, std::uint16_t packet_id,
                   mqtt::ReasonCode reason = mqtt::ReasonCode::Success) {
    list_.emplace_back(action::Acknowledge{&link, type, packet_id, reason});
  }
  void publish(Link& link, Delivery delivery, std::uint16_t packet_id, bool dup) {
    list_.emplace_back(action::Publish{&link, std::move(delivery), packet_id, dup});
  }
  void close(Link& link) { list_.emplace_back(action::Close{&link}); }
  void pause(Link& link) { list_.emplace_back(action::Pause{&link}); }
  void resume(Link& link) { list_.emplace_back(action::Resume{&link}); }
  void arm(Timer timer, std::chrono::milliseconds after) {
    list_.emplace_back(action::Arm{timer, after});
  }
  void cancel(Timer timer) { list_.emplace_back(action::Cancel{timer}); }
  void store(StoreChange change) { list_.emplace_back(action::Store{std::move(change)}); }
  void subscription_changed(SessionId session, std::string filter, bool added) {
    list_.emplace_back(action::SubscriptionChanged{session, std::move(filter), added});
  }
  template <class... Args>
  void log(LogLevel level, fmt::format_string<Args...> format, Args&&... args) {
    if (level < least_) return;
    list_.emplace_back(action::Log{level, fmt::format(format, std::forward<Args>(args)...)});
  }

  std::vector<Action>& list() noexcept { return list_; }
  const std::vector<Action>& list() const noexcept { return list_; }
  bool empty() const noexcept { return list_.empty(); }
  // Keeps the capacity: a shell reuses one Actions for every call.
  void clear() noexcept { list_.clear(); }
  LogLevel least() const noexcept { return least_; }
  void set_least(LogLevel least) noexcept { least_ = least; }

 private:
  std::vector<Action> list_;
  LogLevel least_;
};

}  // namespace psos::router
