#include "net/listener.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "net/transports.hpp"

namespace psos::net {

using detail::tcp;

struct Listener::Impl {
  Impl(asio::any_io_executor executor, Url bound_url)
      : acceptor(executor), url(std::move(bound_url)) {}
  tcp::acceptor acceptor;
  Url url;
  std::shared_ptr<asio::ssl::context> tls;
};

Listener::Listener(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Listener::~Listener() = default;

ListenResult Listener::open(asio::any_io_executor executor, const Url& url,
                            const TlsServerOptions& tls) {
  ListenResult result;
  auto impl = std::make_unique<Impl>(executor, url);
  if (url.uses_tls()) {
    detail::TlsContextResult made = detail::make_server_context(tls);
    if (!made.error.empty()) {
      result.error = "listener " + url.to_string() + ": " + made.error;
      return result;
    }
    impl->tls = std::move(made.context);
  }

  error_code ec;
  tcp::endpoint endpoint;
  if (const asio::ip::address address = asio::ip::make_address(url.host, ec); !ec) {
    endpoint = tcp::endpoint(address, url.port);
  } else {
    tcp::resolver resolver(executor);
    const auto results =
        resolver.resolve(url.host, std::to_string(url.port),
                         tcp::resolver::passive | tcp::resolver::numeric_service, ec);
    if (ec || results.empty()) {
      result.error = "cannot listen on " + url.host_port() + ": cannot resolve host '" + url.host +
                     "': " + (ec ? detail::describe(ec) : std::string("no address"));
      return result;
    }
    endpoint = results.begin()->endpoint();
  }

  const std::string where = detail::format_endpoint(endpoint);
  tcp::acceptor& acceptor = impl->acceptor;
  const auto fail = [&](const char* step) {
    result.error = "cannot listen on " + where + ": " + detail::describe(ec);
    if (ec == asio::error::address_in_use) {
      result.error += " — choose another with --listen";
    } else if (ec == asio::error::access_denied) {
      result.error += " — ports below 1024 need privileges";
    } else if (ec == boost::system::errc::address_not_available) {
      result.error += " — no interface has this address";
    } else {
      result.error += std::string(" (") + step + ")";
    }
    return std::move(result);
  };
  acceptor.open(endpoint.protocol(), ec);
  if (ec) return fail("socket");
  acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (ec) return fail("SO_REUSEADDR");
  if (endpoint.protocol() == tcp::v6()) {
    acceptor.set_option(asio::ip::v6_only(true), ec);
    if (ec) return fail("IPV6_V6ONLY");
  }
  acceptor.bind(endpoint, ec);
  if (ec) return fail("bind");
  acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return fail("listen");
  impl->url.port = acceptor.local_endpoint(ec).port();
  if (ec) return fail("getsockname");
  result.listener.reset(new Listener(std::move(impl)));
  return result;
}

asio::awaitable<std::tuple<error_code, std::unique_ptr<Stream>>> Listener::accept() {
  auto [ec, socket] = co_await impl_->acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
  std::unique_ptr<Stream> stream;
  if (ec) co_return std::tuple{ec, std::move(stream)};
  error_code ignored;
  socket.set_option(tcp::no_delay(true), ignored);
  switch (impl_->url.scheme) {
    case Scheme::Mqtt:
      stream = detail::make_tcp_stream(std::move(socket));
      break;
    case Scheme::Mqtts:
      stream = detail::make_tls_stream(std::move(socket), impl_->tls);
      break;
    case Scheme::Ws:
      stream = detail::make_ws_stream(std::move(socket));
      break;
    case Scheme::Wss:
      stream = detail::make_wss_stream(std::move(socket), impl_->tls);
      break;
  }
  co_return std::tuple{ec, std::move(stream)};
}

std::uint16_t Listener::local_port() const noexcept {
  return impl_->url.port;
}
const Url& Listener::url() const noexcept {
  return impl_->url;
}

void Listener::close() noexcept {
  error_code ignored;
  impl_->acceptor.close(ignored);
}

}  // namespace psos::net
