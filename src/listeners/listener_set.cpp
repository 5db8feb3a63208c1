// Accept loops: a failed accept (too many open files, say) is logged and retried after a pause
// rather than ending the listener.
#include "listeners/listener_set.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "net/stream.hpp"
#include "router/router.hpp"

namespace psos::listeners {

namespace asio = boost::asio;

namespace {

asio::awaitable<void> accept_loop(std::shared_ptr<net::Listener> listener, router::Router& router,
                                  std::shared_ptr<const ConnectionOptions> options) {
  const auto executor = co_await asio::this_coro::executor;
  while (true) {
    auto [ec, stream] = co_await listener->accept();
    if (ec == asio::error::operation_aborted) co_return;
    if (ec) {
      spdlog::warn("accepting on {}: {}; retrying in 100 ms", listener->url().to_string(),
                   ec.message());
      asio::steady_timer pause(executor, std::chrono::milliseconds(100));
      co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
      continue;
    }
    serve(router, std::move(stream), options);
  }
}

}  // namespace

ListenerSet::ListenerSet(asio::any_io_executor executor, router::Router& router,
                         ConnectionOptions options)
    : executor_(std::move(executor)),
      router_(router),
      options_(std::make_shared<ConnectionOptions>(std::move(options))) {
  // Threads only where there are passwords to hash (the router's options are fixed for its
  // life): a node or broker without a password file runs on its one thread.
  if (!options_->blocking && router_.options().passwords) {
    blocking_ = std::make_unique<asio::thread_pool>(2);
    options_->blocking = blocking_->get_executor();
  }
}

ListenerSet::~ListenerSet() {
  stop();
  if (blocking_) blocking_->join();
}

std::string ListenerSet::add(const net::Url& url, const net::TlsServerOptions& tls) {
  net::ListenResult result = net::Listener::open(executor_, url, tls);
  if (!result.ok()) return result.error;
  listeners_.push_back(std::move(result.listener));
  return {};
}

void ListenerSet::start() {
  for (const auto& listener : listeners_) {
    spdlog::info("listening on {}", listener->url().to_string());
    asio::co_spawn(executor_, accept_loop(listener, router_, options_), asio::detached);
  }
}

void ListenerSet::stop() {
  for (const auto& listener : listeners_)
    listener->close();
}

std::vector<net::Url> ListenerSet::urls() const {
  std::vector<net::Url> urls;
  for (const auto& listener : listeners_)
    urls.push_back(listener->url());
  return urls;
}

}  // namespace psos::listeners
