// The uplink: a node's router joined to another broker through the resilient client. Local
// subscriptions (except local/ ones) are mirrored upstream, messages from upstream are delivered
// into the router, and non-local publishes go up — each message reaching a local subscriber once.
// What goes up and what comes in is decided by the forwarding core it shares with the `bridge`
// module (forward.hpp, with the loop-prevention scheme).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <map>
#include <memory>
#include <string>

#include "bridge/forward.hpp"
#include "client/client.hpp"
#include "router/local_client.hpp"
#include "router/router.hpp"

namespace psos::bridge {

class Uplink {
 public:
  // `options.session.client_id` names the node upstream. The client is started by start().
  Uplink(router::Router& router, boost::asio::any_io_executor executor,
         client::ClientOptions options);
  ~Uplink();
  Uplink(const Uplink&) = delete;
  Uplink& operator=(const Uplink&) = delete;

  void start();
  boost::asio::awaitable<void> stop();

  client::Client& client() noexcept { return *client_; }
  const ForwardStats& stats() const noexcept { return forwarder_.stats(); }
  // Filters subscribed upstream, with the number of local subscriptions behind each.
  std::map<std::string, std::size_t> upstream_filters() const { return forwarder_.counts(); }

 private:
  void on_local_message(const router::MessagePtr& message);
  void on_upstream_message(const client::MessagePtr& message);
  void on_subscription(router::SessionId session, const std::string& filter, bool added);
  bool mirrored(const std::string& filter) const;

  router::Router& router_;
  boost::asio::any_io_executor executor_;
  Forwarder forwarder_;
  std::unique_ptr<client::Client> client_;
  std::unique_ptr<router::LocalClient> local_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace psos::bridge
