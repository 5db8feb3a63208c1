// The router's network endpoints: one accept loop per listener URL, each connection served by
// by a Connection (connection.hpp).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <memory>
#include <string>
#include <vector>

#include "listeners/connection.hpp"
#include "net/listener.hpp"
#include "net/url.hpp"

namespace boost::asio {
class thread_pool;
}
namespace psos::router {
class Router;
}

namespace psos::listeners {

class ListenerSet {
 public:
  ListenerSet(boost::asio::any_io_executor executor, router::Router& router,
              ConnectionOptions options = {});
  ~ListenerSet();

  // Opens a listener for `url` (mqtt://, mqtts://, ws://, wss://). Returns an error message
  // (empty on success) such as "cannot listen on 127.0.0.1:1883: address already in use".
  std::string add(const net::Url& url, const net::TlsServerOptions& tls = {});
  // Starts accepting on every listener added.
  void start();
  // Stops accepting; connections already accepted go on until they end.
  void stop();
  // The bound URLs (port 0 resolved), in the order added.
  std::vector<net::Url> urls() const;

 private:
  boost::asio::any_io_executor executor_;
  router::Router& router_;
  // Shared by every connection (and kept by those that outlive the set).
  std::shared_ptr<ConnectionOptions> options_;
  std::vector<std::shared_ptr<net::Listener>> listeners_;
  std::unique_ptr<boost::asio::thread_pool> blocking_;  // password hashing, if there are passwords
};

}  // namespace psos::listeners
