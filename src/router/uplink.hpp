// The uplink: a node's router joined to another broker through the resilient client. Local
// subscriptions (except local/ ones) are mirrored upstream, messages from upstream are delivered
// into the router, and non-local publishes go up — each message reaching a local subscriber once.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>

#include "client/client.hpp"
#include "router/local_client.hpp"
#include "router/router.hpp"

namespace psos::router {

struct UplinkStats {
  std::uint64_t sent_up = 0;     // local messages handed to the client
  std::uint64_t received = 0;    // messages from upstream delivered into the router
  std::uint64_t duplicates = 0;  // upstream copies dropped (overlapping subscriptions)
  std::uint64_t echoes = 0;      // our own messages coming back (v3.1.1) dropped
  std::uint64_t refused = 0;     // publishes the client refused (queue full, too large)
};

class Uplink {
 public:
  // `options.session.client_id` names the node upstream. The client is started by start().
  Uplink(Router& router, boost::asio::any_io_executor executor, client::ClientOptions options);
  ~Uplink();
  Uplink(const Uplink&) = delete;
  Uplink& operator=(const Uplink&) = delete;

  void start();
  boost::asio::awaitable<void> stop();

  client::Client& client() noexcept { return *client_; }
  const UplinkStats& stats() const noexcept { return stats_; }
  // Filters subscribed upstream, with the number of local subscriptions behind each.
  std::map<std::string, std::size_t> upstream_filters() const;

 private:
  struct Upstream {
    std::size_t local_subscribers = 0;
    std::uint32_t identifier = 0;  // v5 Subscription Identifier
  };

  void on_local_message(const MessagePtr& message);
  void on_upstream_message(const client::MessagePtr& message);
  void on_subscription(SessionId session, const std::string& filter, bool added);
  bool mirrored(const std::string& filter) const;
  // v3.1.1 has no No Local: our own messages come back and are recognised by content.
  bool is_echo(const client::Message& message);

  Router& router_;
  boost::asio::any_io_executor executor_;
  bool v5_;
  std::unique_ptr<client::Client> client_;
  std::unique_ptr<LocalClient> local_;
  std::map<std::string, Upstream> filters_;
  std::uint32_t next_identifier_ = 1;
  struct Sent {
    std::size_t hash;
    std::chrono::steady_clock::time_point at;
  };
  std::deque<Sent> sent_;  // v3.1.1 only: messages sent up that a subscription will bring back
  UplinkStats stats_;
  static constexpr auto kRefusalReportInterval = std::chrono::seconds(10);
  std::chrono::steady_clock::time_point last_refusal_report_{};
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace psos::router
