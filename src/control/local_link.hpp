// A Caller's link over an in-process session on a node's own router: what a node's dashboard
// (the node setting "dashboard") uses, so that it reaches the system over the node's one
// connection. Subscriptions are the router's, mirrored upstream by the uplink like any
// service's; requests and publishes go up through it; replies come back down.
#pragma once

#include <memory>
#include <string>

#include "control/caller.hpp"
#include "router/local_client.hpp"

namespace psos::control {

class LocalLink final : public CallerLink {
 public:
  // `client_id` names the session on the router ("$dashboard" shows in its counters).
  LocalLink(router::Router& router, boost::asio::any_io_executor executor, std::string client_id);
  ~LocalLink() override;

  boost::asio::awaitable<std::string> connect(Handler handler) override;
  boost::asio::awaitable<void> stop() override;
  // In-process delivery cannot be lost: the QoS asked for does not matter, and a live message
  // keeps the RETAIN flag it was published with (as Retain As Published asks).
  boost::asio::awaitable<client::error_code> subscribe(std::string filter,
                                                       client::SubscribeOptions options) override;
  boost::asio::awaitable<void> unsubscribe(std::string filter) override;
  boost::asio::awaitable<client::error_code> publish(client::Message message) override;
  void post(client::Message message) override;
  bool v311() const noexcept override { return false; }

 private:
  router::Router& router_;
  boost::asio::any_io_executor executor_;
  std::string client_id_;
  std::unique_ptr<router::LocalClient> session_;
};

}  // namespace psos::control
