// The client's names for the one message type (mqtt/message.hpp): what it sends, and what it
// receives, shared (MessagePtr) by every subscription that matches it.
#pragma once

#include "mqtt/message.hpp"

namespace psos::client {

using Message = mqtt::Message;
using MessagePtr = mqtt::MessagePtr;

}  // namespace psos::client
