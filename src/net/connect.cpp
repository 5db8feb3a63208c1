#include "net/connect.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <vector>

#include "net/transports.hpp"

namespace psos::net {
namespace {

using detail::tcp;

// Asio's resolver ignores cancellation slots (getaddrinfo runs on a helper thread), so the
// coroutine waits on a timer that the resolver's handler cancels; cancelling the coroutine
// cancels that wait, and the lookup finishes unobserved.
struct Resolution {
  explicit Resolution(const asio::any_io_executor& executor)
      : done(executor, asio::steady_timer::time_point::max()) {}
  asio::steady_timer done;
  error_code code;
  tcp::resolver::results_type results;
  bool finished = false;
};

asio::awaitable<std::tuple<error_code, std::vector<tcp::endpoint>>> resolve(
    asio::any_io_executor executor, const Url& url) {
  std::vector<tcp::endpoint> endpoints;
  error_code ec;
  const asio::ip::address address = asio::ip::make_address(url.host, ec);
  if (!ec) {
    endpoints.emplace_back(address, url.port);
    co_return std::tuple{error_code{}, std::move(endpoints)};
  }
  auto resolution = std::make_shared<Resolution>(executor);
  tcp::resolver resolver(executor);
  resolver.async_resolve(url.host, std::to_string(url.port), tcp::resolver::numeric_service,
                         [resolution](error_code code, tcp::resolver::results_type results) {
                           resolution->code = code;
                           resolution->results = std::move(results);
                           resolution->finished = true;
                           resolution->done.cancel();
                         });
  if (!resolution->finished) {
    co_await resolution->done.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  if (!resolution->finished) {
    co_return std::tuple{error_code(asio::error::operation_aborted), std::move(endpoints)};
  }
  for (const auto& entry : resolution->results)
    endpoints.push_back(entry.endpoint());
  co_return std::tuple{resolution->code, std::move(endpoints)};
}

std::string join_addresses(const std::vector<std::string>& addresses) {
  std::string out;
  for (std::size_t i = 0; i < addresses.size(); ++i) {
    if (i > 0) out += i + 1 == addresses.size() ? " and " : ", ";
    out += addresses[i];
  }
  return out;
}

asio::awaitable<ConnectResult> connect_steps(asio::any_io_executor executor, const Url& url,
                                             const TlsClientOptions& tls) {
  ConnectResult result;
  std::shared_ptr<asio::ssl::context> context;
  if (url.uses_tls()) {
    detail::TlsContextResult made = detail::make_client_context(tls);
    if (!made.error.empty()) {
      result.code = asio::error::invalid_argument;
      result.error = "TLS settings for " + url.to_string() + ": " + made.error;
      co_return result;
    }
    context = std::move(made.context);
  }

  auto [resolve_error, endpoints] = co_await resolve(executor, url);
  if (resolve_error || endpoints.empty()) {
    result.code = resolve_error ? resolve_error : asio::error::host_not_found;
    result.error = "cannot resolve host '" + url.host + "': " + detail::describe(result.code);
    co_return result;
  }

  tcp::socket socket(executor);
  std::vector<std::string> refused;
  std::vector<std::string> failures;
  bool connected = false;
  for (const tcp::endpoint& endpoint : endpoints) {
    error_code ignored;
    socket.close(ignored);
    auto [ec] = co_await socket.async_connect(endpoint, asio::as_tuple(asio::use_awaitable));
    if (!ec) {
      connected = true;
      break;
    }
    result.code = ec;
    if (ec == asio::error::operation_aborted) co_return result;  // connect() words it
    const std::string address = detail::format_endpoint(endpoint);
    if (ec == asio::error::connection_refused) refused.push_back(address);
    failures.push_back(address + ": " + detail::describe(ec));
  }
  if (!connected) {
    if (refused.size() == failures.size()) {
      result.error =
          "connection refused by " + join_addresses(refused) + " — is the broker running?";
    } else {
      result.error = "cannot connect to " + url.host_port() + ": ";
      for (std::size_t i = 0; i < failures.size(); ++i) {
        result.error += (i > 0 ? "; " : "") + failures[i];
      }
    }
    co_return result;
  }
  result.code.clear();
  error_code ignored;
  socket.set_option(tcp::no_delay(true), ignored);

  switch (url.scheme) {
    case Scheme::Mqtt:
      result.stream = detail::make_tcp_stream(std::move(socket));
      break;
    case Scheme::Mqtts:
      result = co_await detail::tls_connect(std::move(socket), context, url, tls.insecure);
      break;
    case Scheme::Ws:
      result = co_await detail::ws_connect(std::move(socket), url);
      break;
    case Scheme::Wss:
      result = co_await detail::wss_connect(std::move(socket), context, url, tls.insecure);
      break;
  }
  co_return result;
}

asio::awaitable<ConnectResult> connect_owning(asio::any_io_executor executor, Url url,
                                              TlsClientOptions tls) {
  ConnectResult result;
  try {
    result = co_await connect_steps(executor, url, tls);
  } catch (const boost::system::system_error& e) {
    // A cancelled coroutine throws at its next co_await (Asio's throw_if_cancelled).
    result = ConnectResult{};
    result.code = e.code();
    result.error = "connecting to " + url.to_string() + " failed: " + detail::describe(e.code());
  }
  if (result.code == asio::error::operation_aborted) {
    result.error = "connecting to " + url.to_string() + " was cancelled";
  }
  co_return result;
}

}  // namespace

asio::awaitable<ConnectResult> connect(asio::any_io_executor executor, const Url& url,
                                       const TlsClientOptions& tls) {
  // Not a coroutine itself: copies the arguments into the coroutine's frame at once, so they
  // need not outlive the awaitable.
  return connect_owning(std::move(executor), url, tls);
}

}  // namespace psos::net
