// The dashboard's HTTP and WebSocket server (see server.hpp).
#include "dashboard/server.hpp"

#include <openssl/rand.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <list>
#include <optional>
#include <set>
#include <stdexcept>
#include <unordered_map>

#include "dashboard/assets.hpp"
#include "dashboard/deploy_view.hpp"
#include "net/url.hpp"
#include "router/security/password_file.hpp"

namespace psos::dashboard {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using asio::ip::tcp;
using nlohmann::json;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr const char* kCookie = "psos_dashboard";
constexpr std::size_t kMaxReplies = 64;           // replies a browser has not been sent yet
constexpr std::size_t kMaxCommandsInFlight = 16;  // per browser
constexpr auto kSessionLifetime = std::chrono::hours(12);

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string random_token() {
  unsigned char bytes[32];
  if (RAND_bytes(bytes, sizeof bytes) != 1) throw std::runtime_error("no random bytes");
  static constexpr char kHex[] = "0123456789abcdef";
  std::string token;
  for (const unsigned char b : bytes) {
    token += kHex[b >> 4];
    token += kHex[b & 0xF];
  }
  return token;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// A value of an application/x-www-form-urlencoded body.
std::string form_value(std::string_view body, std::string_view name) {
  std::size_t pos = 0;
  while (pos <= body.size()) {
    std::size_t end = body.find('&', pos);
    if (end == std::string_view::npos) end = body.size();
    const std::string_view pair = body.substr(pos, end - pos);
    const std::size_t eq = pair.find('=');
    if (eq != std::string_view::npos && pair.substr(0, eq) == name) {
      std::string out;
      const std::string_view v = pair.substr(eq + 1);
      for (std::size_t i = 0; i < v.size(); ++i) {
        if (v[i] == '+') {
          out += ' ';
        } else if (v[i] == '%' && i + 2 < v.size() && hex_digit(v[i + 1]) >= 0 &&
                   hex_digit(v[i + 2]) >= 0) {
          out += static_cast<char>(hex_digit(v[i + 1]) * 16 + hex_digit(v[i + 2]));
          i += 2;
        } else {
          out += v[i];
        }
      }
      return out;
    }
    pos = end + 1;
  }
  return {};
}

std::string cookie_value(std::string_view header, std::string_view name) {
  std::size_t pos = 0;
  while (pos < header.size()) {
    while (pos < header.size() && header[pos] == ' ')
      ++pos;
    std::size_t end = header.find(';', pos);
    if (end == std::string_view::npos) end = header.size();
    const std::string_view pair = header.substr(pos, end - pos);
    if (pair.size() > name.size() && pair.substr(0, name.size()) == name &&
        pair[name.size()] == '=')
      return std::string(pair.substr(name.size() + 1));
    pos = end + 1;
  }
  return {};
}

// "http://host:port" -> "host:port"; "" when not a URL.
std::string_view origin_host(std::string_view origin) {
  const std::size_t p = origin.find("://");
  return p == std::string_view::npos ? std::string_view() : origin.substr(p + 3);
}

using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

Response text_response(const Request& req, http::status status, std::string body) {
  Response res{status, req.version()};
  res.set(http::field::content_type, "text/plain; charset=utf-8");
  res.set(http::field::cache_control, "no-store");
  res.keep_alive(req.keep_alive());
  res.body() = std::move(body) + "\n";
  res.prepare_payload();
  return res;
}

}  // namespace

bool is_loopback(const std::string& host) {
  return net::is_loopback_host(host);
}

// ---- the server's state ----

struct Server::Impl : std::enable_shared_from_this<Impl> {
  struct Browser {
    Cursor cursor;
    std::deque<json> replies;
    std::size_t in_flight = 0;
    std::string user;
    std::function<void()> close;       // closes the connection (from stop())
    std::uint64_t deploy_version = 0;  // of the deploy status last sent
  };

  Impl(asio::any_io_executor ex, control::Caller& c, ServerOptions o)
      : executor(std::move(ex)),
        caller(c),
        options(std::move(o)),
        model(options.limits),
        deploys(caller, options.definitions, options.command_timeout) {}

  asio::any_io_executor executor;
  control::Caller& caller;
  ServerOptions options;
  Model model;
  DeployView deploys;
  net::HttpUrl listen;
  bool login_required = false;
  std::optional<router::PasswordFile> passwords;
  std::optional<asio::ssl::context> tls;
  std::optional<tcp::acceptor> acceptor;
  std::optional<asio::steady_timer> ticker;
  asio::thread_pool hashing{1};  // PBKDF2 off the event loop
  std::unordered_map<std::string, std::pair<std::string, std::chrono::steady_clock::time_point>>
      sessions;  // token -> user, expiry
  std::list<std::shared_ptr<Browser>> browsers;
  // How to close each HTTP connection waiting for a request (keep-alive), for stop().
  std::list<std::function<void()>> idle_connections;
  std::uint64_t slow_dropped = 0;
  bool stopped = false;

  std::optional<std::string> session_user(const Request& req) {
    if (!login_required) return std::string();
    const std::string token = cookie_value(req[http::field::cookie], kCookie);
    const auto it = sessions.find(token);
    if (token.empty() || it == sessions.end()) return std::nullopt;
    if (it->second.second < std::chrono::steady_clock::now()) {
      sessions.erase(it);
      return std::nullopt;
    }
    return it->second.first;
  }

  asio::awaitable<void> accept_loop();
  asio::awaitable<void> tick_loop();
  template <class Stream>
  asio::awaitable<void> serve(Stream stream);
  template <class Stream>
  asio::awaitable<void> serve_websocket(Stream stream, Request req, std::string user);
  asio::awaitable<Response> respond(const Request& req);
  void handle_page_message(const std::shared_ptr<Browser>& b, std::string_view text);
  asio::awaitable<void> run_command(std::shared_ptr<Browser> b, json id, json message);
  asio::awaitable<void> run_publish(std::shared_ptr<Browser> b, json id, json message);
  asio::awaitable<void> run_deploy(std::shared_ptr<Browser> b, json id, json message);
  void reply(const std::shared_ptr<Browser>& b, json id, bool ok, json value) {
    if (b->replies.size() >= kMaxReplies) b->replies.pop_front();
    json r = {{"id", std::move(id)}, {"ok", ok}};
    r[ok ? "result" : "error"] = std::move(value);
    b->replies.push_back(std::move(r));
  }
};

asio::awaitable<void> Server::Impl::tick_loop() {
  auto self = shared_from_this();
  while (!stopped) {
    ticker->expires_after(std::chrono::seconds(1));
    auto [ec] = co_await ticker->async_wait(use_tuple);
    if (ec || stopped) break;
    model.tick(now_ms());
  }
}

asio::awaitable<void> Server::Impl::accept_loop() {
  auto self = shared_from_this();
  while (!stopped) {
    auto [ec, socket] = co_await acceptor->async_accept(use_tuple);
    if (stopped) break;
    if (ec) {
      asio::steady_timer pause(executor, std::chrono::milliseconds(100));
      co_await pause.async_wait(use_tuple);
      continue;
    }
    beast::tcp_stream stream(std::move(socket));
    if (tls) {
      asio::co_spawn(
          executor,
          [self, s = std::move(stream)]() mutable -> asio::awaitable<void> {
            beast::ssl_stream<beast::tcp_stream> secure(std::move(s), *self->tls);
            beast::get_lowest_layer(secure).expires_after(std::chrono::seconds(10));
            auto [hec] = co_await secure.async_handshake(asio::ssl::stream_base::server, use_tuple);
            if (hec) co_return;
            co_await self->serve(std::move(secure));
          },
          asio::detached);
    } else {
      asio::co_spawn(executor, serve(std::move(stream)), asio::detached);
    }
  }
}

template <class Stream>
asio::awaitable<void> Server::Impl::serve(Stream stream) {
  auto self = shared_from_this();
  beast::flat_buffer buffer;
  auto closer = idle_connections.insert(idle_connections.end(),
                                        [&stream] { beast::get_lowest_layer(stream).close(); });
  struct Unregister {
    std::list<std::function<void()>>& list;
    std::list<std::function<void()>>::iterator it;
    ~Unregister() {
      if (it != list.end()) list.erase(it);
    }
  } unregister{idle_connections, closer};
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(options.max_request_bytes));
    parser.body_limit(options.max_request_bytes);
    beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(30));
    auto [ec, n] = co_await http::async_read(stream, buffer, parser, use_tuple);
    if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
        ec == asio::error::connection_reset || ec == asio::error::eof || stopped)
      co_return;
    if (ec) {
      // Tell the browser what was wrong, then close: the rest of the stream cannot be trusted.
      http::status status = http::status::bad_request;
      std::string what = "bad request: " + ec.message();
      if (ec == http::error::body_limit) {
        status = http::status::payload_too_large;
        what = "request body larger than " + std::to_string(options.max_request_bytes) + " bytes";
      } else if (ec == http::error::header_limit) {
        status = http::status::request_header_fields_too_large;
        what =
            "request headers larger than " + std::to_string(options.max_request_bytes) + " bytes";
      }
      Response res{status, 11};
      res.set(http::field::content_type, "text/plain; charset=utf-8");
      res.body() = what + "\n";
      res.keep_alive(false);
      res.prepare_payload();
      co_await http::async_write(stream, res, use_tuple);
      co_return;
    }
    Request req = parser.release();
    if (websocket::is_upgrade(req)) {
      Response refusal;
      const std::optional<std::string> user = session_user(req);
      const std::string_view origin = req[http::field::origin];
      if (req.target() != "/ws") {
        refusal = text_response(req, http::status::not_found, "no WebSocket at this path: use /ws");
      } else if (!user) {
        refusal = text_response(req, http::status::unauthorized, "log in first (/login)");
      } else if (!origin.empty() && origin_host(origin) != req[http::field::host]) {
        // Another site's page in the user's browser must not drive the nodes.
        refusal =
            text_response(req, http::status::forbidden,
                          "WebSocket from another origin (" + std::string(origin) + ") refused");
      } else if (browsers.size() >= options.max_clients) {
        refusal = text_response(
            req, http::status::service_unavailable,
            "too many browsers connected (" + std::to_string(options.max_clients) + ")");
      } else {
        beast::get_lowest_layer(stream).expires_never();
        idle_connections.erase(closer);  // the stream moves on: stop() closes it as a browser
        unregister.it = idle_connections.end();
        co_await serve_websocket(std::move(stream), std::move(req), *user);
        co_return;
      }
      refusal.keep_alive(false);
      co_await http::async_write(stream, refusal, use_tuple);
      co_return;
    }
    Response res = co_await respond(req);
    const bool keep = res.keep_alive();
    auto [wec, wn] = co_await http::async_write(stream, res, use_tuple);
    if (wec || !keep) co_return;
  }
}

asio::awaitable<Response> Server::Impl::respond(const Request& req) {
  std::string_view target = req.target();
  const std::size_t query = target.find('?');
  if (query != std::string_view::npos) target = target.substr(0, query);
  if (target == "/login") {
    if (req.method() == http::verb::post) {
      if (!login_required) co_return text_response(req, http::status::not_found, "no login here");
      const std::string user = form_value(req.body(), "user");
      const std::string password = form_value(req.body(), "password");
      co_await asio::post(asio::bind_executor(hashing, asio::use_awaitable));
      const bool ok = passwords->verify(user, password);
      co_await asio::post(asio::bind_executor(executor, asio::use_awaitable));
      if (!ok) {
        Response res = text_response(req, http::status::see_other, "wrong user or password");
        res.set(http::field::location, "/login?failed");
        co_return res;
      }
      const std::string token = random_token();
      sessions[token] = {user, std::chrono::steady_clock::now() + kSessionLifetime};
      Response res = text_response(req, http::status::see_other, "logged in");
      res.set(http::field::location, "/");
      res.set(http::field::set_cookie, std::string(kCookie) + "=" + token +
                                           "; Path=/; HttpOnly; SameSite=Strict" +
                                           (listen.https ? "; Secure" : ""));
      co_return res;
    }
    target = "/login.html";
  } else if (target == "/logout" && req.method() == http::verb::post) {
    sessions.erase(cookie_value(req[http::field::cookie], kCookie));
    Response res = text_response(req, http::status::see_other, "logged out");
    res.set(http::field::location, "/login");
    co_return res;
  }
  if (req.method() != http::verb::get && req.method() != http::verb::head) {
    Response res = text_response(
        req, http::status::method_not_allowed,
        "method " + std::string(req.method_string()) + " not allowed on " + std::string(target));
    res.set(http::field::allow, "GET, HEAD");
    co_return res;
  }
  if (target != "/login.html" && target != "/login.js" && target != "/app.css" &&
      target != "/favicon.svg" && !session_user(req)) {
    Response res = text_response(req, http::status::see_other, "log in first");
    res.set(http::field::location, "/login");
    co_return res;
  }
  const Asset* asset = find_asset(target);
  if (asset == nullptr)
    co_return text_response(req, http::status::not_found, "not found: " + std::string(target));
  Response res{http::status::ok, req.version()};
  res.set(http::field::content_type, asset->content_type);
  res.set(http::field::cache_control, "no-cache");
  res.set("Content-Security-Policy",
          "default-src 'self'; connect-src 'self'; img-src 'self' data:");
  res.set("X-Content-Type-Options", "nosniff");
  res.keep_alive(req.keep_alive());
  if (req.method() == http::verb::get) res.body() = std::string(asset->body);
  res.prepare_payload();
  if (req.method() == http::verb::head) res.content_length(asset->body.size());
  co_return res;
}

template <class Stream>
asio::awaitable<void> Server::Impl::serve_websocket(Stream stream, Request req, std::string user) {
  auto self = shared_from_this();
  websocket::stream<Stream> ws(std::move(stream));
  ws.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
  ws.read_message_max(options.max_ws_message);
  ws.auto_fragment(false);  // a frame is one message: fewer headers, one write
  auto [aec] = co_await ws.async_accept(req, use_tuple);
  if (aec) co_return;
  auto browser = std::make_shared<Browser>();
  browser->user = user;
  bool closed = false;
  asio::steady_timer pace(executor);
  browser->close = [&ws, &closed, &pace] {
    closed = true;
    pace.cancel();
    beast::get_lowest_layer(ws).close();
  };
  const auto entry = browsers.insert(browsers.end(), browser);

  // The reader: the page's commands.
  bool reader_done = false;
  asio::co_spawn(
      executor,
      [self, browser, &ws, &closed, &pace, &reader_done]() -> asio::awaitable<void> {
        beast::flat_buffer in;
        for (;;) {
          auto [ec, n] = co_await ws.async_read(in, use_tuple);
          if (ec) break;
          if (!ws.got_text()) {
            self->reply(browser, nullptr, false,
                        {{"code", "bad_request"}, {"message", "binary message: send JSON text"}});
          } else {
            self->handle_page_message(
                browser, std::string_view(static_cast<const char*>(in.data().data()), in.size()));
          }
          in.consume(in.size());
        }
        closed = true;
        reader_done = true;
        pace.cancel();
      },
      asio::detached);

  // The writer: one frame at a time, built when it can be sent, so nothing queues up.
  bool first = true;
  asio::steady_timer watchdog(executor);
  while (!closed && !stopped) {
    json frame = model.next_frame(browser->cursor);
    if (first) {
      frame["hello"] = {
          {"user", user}, {"login", login_required}, {"frame_ms", options.frame_interval.count()}};
      first = false;
    }
    if (browser->deploy_version != deploys.version()) {
      browser->deploy_version = deploys.version();
      frame["deploy"] = deploys.status();
    }
    if (!browser->replies.empty()) {
      frame["replies"] = json::array();
      for (json& r : browser->replies)
        frame["replies"].push_back(std::move(r));
      browser->replies.clear();
    }
    if (!frame.empty()) {
      frame["stats"] = {{"messages", model.messages()},
                        {"topics", model.topic_count()},
                        {"topics_dropped", model.topics_dropped()},
                        {"browsers", browsers.size()}};
      const std::string text = frame.dump(-1, ' ', false, json::error_handler_t::replace);
      ws.text(true);
      watchdog.expires_after(options.write_timeout);
      watchdog.async_wait([&ws, &closed](boost::system::error_code ec) {
        if (ec) return;
        closed = true;
        beast::get_lowest_layer(ws).close();  // a browser that does not read: dropped
      });
      auto [wec, wn] = co_await ws.async_write(asio::buffer(text), use_tuple);
      watchdog.cancel();
      if (wec) {
        if (closed && !stopped) ++slow_dropped;
        break;
      }
    }
    pace.expires_after(options.frame_interval);
    co_await pace.async_wait(use_tuple);
  }
  closed = true;
  browsers.erase(entry);
  beast::get_lowest_layer(ws).close();
  // Let the reader see the closed socket before `ws` goes away.
  while (!reader_done) {
    pace.expires_after(std::chrono::milliseconds(5));
    co_await pace.async_wait(use_tuple);
  }
}

void Server::Impl::handle_page_message(const std::shared_ptr<Browser>& b, std::string_view text) {
  json message = json::parse(text, nullptr, false);
  if (!message.is_object() || !message.contains("type") || !message["type"].is_string()) {
    reply(b, nullptr, false,
          {{"code", "bad_request"}, {"message", "expected a JSON object with a \"type\""}});
    return;
  }
  json id = message.value("id", json());
  const std::string type = message["type"];
  const bool deploy = type == "definitions" || type == "deploy.plan" || type == "deploy.start";
  if (type != "cmd" && type != "publish" && !deploy) {
    reply(b, id, false, {{"code", "bad_request"}, {"message", "unknown type \"" + type + "\""}});
    return;
  }
  if (b->in_flight >= kMaxCommandsInFlight) {
    reply(b, id, false,
          {{"code", "busy"},
           {"message", std::to_string(kMaxCommandsInFlight) + " commands already in flight"}});
    return;
  }
  ++b->in_flight;
  auto task = type == "cmd" ? run_command(b, id, std::move(message))
              : deploy      ? run_deploy(b, id, std::move(message))
                            : run_publish(b, id, std::move(message));
  asio::co_spawn(executor, std::move(task), [b](std::exception_ptr) { --b->in_flight; });
}

asio::awaitable<void> Server::Impl::run_command(std::shared_ptr<Browser> b, json id, json m) {
  auto self = shared_from_this();
  control::NodeAddress node;
  try {
    if (!m.contains("node") || !m["node"].is_string() || !m.contains("verb") ||
        !m["verb"].is_string())
      throw std::invalid_argument("a command needs \"node\" (SYSTEM/NODE) and \"verb\"");
    node = control::parse_node_address(m["node"].get<std::string>());
    if (node.system.empty()) throw std::invalid_argument("name the node as SYSTEM/NODE");
    if (m.contains("args") && !m["args"].is_object())
      throw std::invalid_argument("\"args\" must be a JSON object");
  } catch (const std::exception& e) {
    reply(b, id, false, {{"code", "bad_request"}, {"message", e.what()}});
    co_return;
  }
  const json args = m.value("args", json::object());
  const std::optional<control::Reply> r =
      co_await caller.request(node, m["verb"].get<std::string>(), args, options.command_timeout);
  if (!r) {
    reply(b, id, false,
          {{"code", "no_answer"},
           {"message", "no answer from " + node.to_string() + " within " +
                           std::to_string(options.command_timeout.count() / 1000) + " s"}});
  } else if (r->ok) {
    reply(b, id, true, r->result);
  } else {
    reply(b, id, false, {{"code", r->error_code}, {"message", r->error_message}});
  }
}

asio::awaitable<void> Server::Impl::run_publish(std::shared_ptr<Browser> b, json id, json m) {
  auto self = shared_from_this();
  if (!m.contains("topic") || !m["topic"].is_string() ||
      (m.contains("payload") && !m["payload"].is_string())) {
    reply(b, id, false,
          {{"code", "bad_request"}, {"message", "publish needs a \"topic\" and a string payload"}});
    co_return;
  }
  client::Message message;
  message.topic = m["topic"].get<std::string>();
  message.payload = m.value("payload", std::string());
  message.retain = m.value("retain", false);
  const int qos = m.value("qos", 0);
  message.qos = qos == 1   ? mqtt::QoS::AtLeastOnce
                : qos == 2 ? mqtt::QoS::ExactlyOnce
                           : mqtt::QoS::AtMostOnce;
  if (const client::error_code ec = co_await caller.publish(std::move(message)))
    reply(b, id, false, {{"code", "refused"}, {"message", ec.message()}});
  else
    reply(b, id, true, {{"published", m["topic"]}});
}

// The deploy view: {"type": "definitions"}, {"type": "deploy.plan", "file"} and
// {"type": "deploy.start", "file", "sha256", "nodes": [...], "confirm": SECONDS}.
asio::awaitable<void> Server::Impl::run_deploy(std::shared_ptr<Browser> b, json id, json m) {
  auto self = shared_from_this();
  const std::string type = m["type"];
  if (type == "definitions") {
    const ViewAnswer a = deploys.definitions();
    reply(b, id, a.ok, a.value);
    co_return;
  }
  const auto text = [&m](const char* key) {
    return m.contains(key) && m[key].is_string() ? m[key].get<std::string>() : std::string();
  };
  const std::string file = text("file");
  if (file.empty()) {
    reply(b, id, false, {{"code", "bad_request"}, {"message", type + " needs a \"file\""}});
    co_return;
  }
  if (type == "deploy.plan") {
    const ViewAnswer a = co_await deploys.plan(file);
    reply(b, id, a.ok, a.value);
    co_return;
  }
  std::vector<std::string> nodes;
  const json confirm = m.value("confirm", json(30));
  bool good = confirm.is_number() && confirm.get<double>() >= 0 && confirm.get<double>() <= 3600 &&
              m.value("nodes", json::array()).is_array();
  if (good)
    for (const json& n : m.value("nodes", json::array())) {
      good = good && n.is_string();
      if (good) nodes.push_back(n.get<std::string>());
    }
  if (!good) {
    reply(b, id, false,
          {{"code", "bad_request"},
           {"message",
            "deploy.start needs \"nodes\" (a list of names) and \"confirm\" (seconds "
            "from 0 to 3600)"}});
    co_return;
  }
  const ViewAnswer a = deploys.start(
      file, nodes, text("sha256"),
      std::chrono::milliseconds(static_cast<std::int64_t>(confirm.get<double>() * 1000)), b->user);
  reply(b, id, a.ok, a.value);
}

// ---- Server ----

Server::Server(asio::any_io_executor executor, control::Caller& caller, ServerOptions options)
    : impl_(std::make_shared<Impl>(std::move(executor), caller, std::move(options))) {
  Impl& a = *impl_;
  net::HttpUrlResult listen = net::parse_http_url(a.options.listen, "--listen");
  if (!listen.ok()) throw std::invalid_argument(listen.error);
  a.listen = std::move(listen.url);
  const bool loopback = is_loopback(a.listen.host);
  if (!loopback && (!a.listen.https || a.options.passwd.empty()))
    throw std::invalid_argument(
        "--listen " + a.options.listen +
        " is not a loopback address: a dashboard there needs https:// with --https-cert and "
        "--https-key, and --passwd FILE (users made with psos passwd)");
  if (a.listen.https && (a.options.https_cert.empty() || a.options.https_key.empty()))
    throw std::invalid_argument("--listen " + a.options.listen +
                                " is https://: it needs --https-cert FILE and --https-key FILE");
  if (!a.options.passwd.empty()) {
    try {
      a.passwords = router::PasswordFile::load(a.options.passwd);
    } catch (const std::exception& e) {
      throw std::invalid_argument(std::string("--passwd: ") + e.what());
    }
    a.login_required = true;
  }
  if (a.listen.https) {
    a.tls.emplace(asio::ssl::context::tls_server);
    a.tls->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                       asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                       asio::ssl::context::no_tlsv1_1);
    boost::system::error_code ec;
    a.tls->use_certificate_chain_file(a.options.https_cert, ec);
    if (ec)
      throw std::invalid_argument("--https-cert " + a.options.https_cert + ": " + ec.message());
    a.tls->use_private_key_file(a.options.https_key, asio::ssl::context::pem, ec);
    if (ec) throw std::invalid_argument("--https-key " + a.options.https_key + ": " + ec.message());
  }
}

Server::~Server() {
  stop();
}

asio::awaitable<std::string> Server::start() {
  Impl& a = *impl_;
  a.caller.on_message([impl = impl_.get()](const client::MessagePtr& m) {
    impl->model.apply(m->topic, m->payload, m->retain, now_ms());
    impl->deploys.on_message(m);
  });
  // Retain As Published: the tree shows whether a live message was retained, as MQTT Explorer
  // does (MQTT 3.1.1 brokers clear the flag on live messages).
  client::SubscribeOptions everything;
  everything.qos = mqtt::QoS::AtMostOnce;
  everything.retain_as_published = true;
  if (client::error_code ec = co_await a.caller.subscribe("#", everything))
    co_return "the broker refused the subscription to #: " + ec.message();
  boost::system::error_code ec;
  tcp::resolver resolver(a.executor);
  auto [rec, results] =
      co_await resolver.async_resolve(a.listen.host, std::to_string(a.listen.port), use_tuple);
  if (rec || results.empty()) co_return "cannot resolve " + a.listen.host + ": " + rec.message();
  const tcp::endpoint endpoint = results.begin()->endpoint();
  a.acceptor.emplace(a.executor);
  a.acceptor->open(endpoint.protocol(), ec);
  if (!ec) a.acceptor->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) a.acceptor->bind(endpoint, ec);
  if (!ec) a.acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec)
    co_return "cannot listen on " + a.options.listen + ": " + ec.message() +
        " - choose another with --listen";
  a.ticker.emplace(a.executor);
  asio::co_spawn(a.executor, a.accept_loop(), asio::detached);
  asio::co_spawn(a.executor, a.tick_loop(), asio::detached);
  co_return "";
}

std::string Server::url() const {
  const Impl& a = *impl_;
  const std::uint16_t port = a.acceptor ? a.acceptor->local_endpoint().port() : a.listen.port;
  const bool v6 = a.listen.host.find(':') != std::string::npos;
  return std::string(a.listen.https ? "https://" : "http://") + (v6 ? "[" : "") + a.listen.host +
         (v6 ? "]" : "") + ":" + std::to_string(port);
}

void Server::stop() {
  Impl& a = *impl_;
  if (a.stopped) return;
  a.stopped = true;
  a.caller.on_message([](const client::MessagePtr&) {});
  boost::system::error_code ec;
  if (a.acceptor) a.acceptor->close(ec);
  if (a.ticker) a.ticker->cancel();
  for (const auto& b : std::list<std::shared_ptr<Impl::Browser>>(a.browsers))
    if (b->close) b->close();
  for (const auto& close : std::list<std::function<void()>>(a.idle_connections))
    close();
}

}  // namespace psos::dashboard
