// The router's names for the one message type (mqtt/message.hpp): owned, immutable once made,
// and shared by every session it is delivered to (MessagePtr), never copied per subscriber.
#pragma once

#include <chrono>
#include <cstdint>
#include <string_view>

#include "mqtt/message.hpp"

namespace psos::router {

using Clock = std::chrono::steady_clock;
using SessionId = std::uint64_t;
using Message = mqtt::Message;
using MessagePtr = mqtt::MessagePtr;

// Takes a decoded PUBLISH (whose views die with the input buffer) into a message published by
// session `origin` at `now`. `topic` is the effective topic (the PUBLISH's own, or the one its
// Topic Alias stands for).
MessagePtr make_message(const mqtt::Publish& publish, std::string_view topic, SessionId origin,
                        Clock::time_point now);

}  // namespace psos::router
