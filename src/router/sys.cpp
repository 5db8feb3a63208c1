// The $SYS topics: the broker's version, uptime, clients, messages and bytes, published retained
// under RouterOptions::sys_prefix every sys_interval_seconds (the Sys timer).
#include "router/broker.hpp"

namespace psos::router {

void Broker::publish_sys(Actions& out) {
  const auto now = Clock::now();
  const auto put = [&](std::string_view name, std::string value) {
    auto m = std::make_shared<Message>();
    m->topic = options_.sys_prefix;
    m->topic += '/';
    m->topic += name;
    m->payload = std::move(value);
    m->retain = true;
    m->received = now;
    publish(std::move(m), out);
  };
  const auto uptime = std::chrono::duration_cast<std::chrono::seconds>(now - started_).count();
  put("version", "psos " PSOS_VERSION);
  put("uptime", std::to_string(uptime) + " seconds");
  put("clients/connected", std::to_string(connected_));
  put("clients/total", std::to_string(sessions_.size()));
  put("messages/received", std::to_string(stats_.messages_received));
  put("messages/sent", std::to_string(stats_.messages_sent));
  put("messages/dropped", std::to_string(stats_.messages_dropped));
  put("bytes/received", std::to_string(stats_.bytes_received));
  put("bytes/sent", std::to_string(stats_.bytes_sent));
  put("subscriptions/count", std::to_string(trie_.size()));
  put("retained messages/count", std::to_string(retained_.size()));
}

}  // namespace psos::router
