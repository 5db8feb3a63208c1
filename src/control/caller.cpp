// The caller's side of the control plane (see caller.hpp): connecting, matching replies with
// requests, and collecting retained messages.
#include "control/caller.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <random>
#include <set>
#include <stdexcept>

#include "control/request.hpp"
#include "mqtt/topic.hpp"

namespace psos::control {

namespace asio = boost::asio;
using nlohmann::json;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
// After the marker: brokers that send retained messages from another thread than the one that
// forwards publishes (EMQX) may still be sending some.
constexpr std::chrono::milliseconds kSettle{100};

std::string random_hex(std::size_t bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::random_device device;
  std::string out;
  for (std::size_t i = 0; i < bytes; ++i) {
    const unsigned value = device() & 0xFF;
    out += kDigits[value >> 4];
    out += kDigits[value & 15];
  }
  return out;
}

std::int64_t epoch_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void check_level(std::string_view whole, std::string_view part, std::string_view what) {
  const auto fail = [&](const std::string& why) {
    return std::invalid_argument("node name '" + std::string(whole) + "': " + why);
  };
  if (part.empty()) throw fail("the " + std::string(what) + " is empty (give NODE or SYSTEM/NODE)");
  if (part.find_first_of("+#") != std::string_view::npos)
    throw fail("the " + std::string(what) + " may not hold '+' or '#'");
  if (part.front() == '$') throw fail("the " + std::string(what) + " may not start with '$'");
  if (!mqtt::is_valid_utf8(part)) throw fail("not valid UTF-8");
}

// Something a coroutine waits for: a timer that never expires by itself, cancelled to wake it.
struct Wakeup {
  explicit Wakeup(const asio::any_io_executor& executor)
      : timer(executor, asio::steady_timer::time_point::max()) {}
  asio::steady_timer timer;
  bool done = false;
  void wake() {
    done = true;
    timer.cancel();
  }
  // Waits until wake() or `deadline`; true when woken.
  asio::awaitable<bool> wait_until(asio::steady_timer::time_point deadline) {
    while (!done && asio::steady_timer::clock_type::now() < deadline) {
      timer.expires_at(deadline);
      co_await timer.async_wait(use_tuple);
    }
    co_return done;
  }
};

}  // namespace

NodeAddress parse_node_address(std::string_view text) {
  const std::size_t slash = text.find('/');
  if (slash == std::string_view::npos) {
    check_level(text, text, "node");
    return {"", std::string(text)};
  }
  const std::string_view system = text.substr(0, slash);
  const std::string_view node = text.substr(slash + 1);
  if (node.find('/') != std::string_view::npos)
    throw std::invalid_argument("node name '" + std::string(text) +
                                "': expected NODE or SYSTEM/NODE (one '/' at most)");
  check_level(text, system, "system");
  check_level(text, node, "node");
  return {std::string(system), std::string(node)};
}

namespace {

class ClientLink final : public CallerLink {
 public:
  ClientLink(asio::any_io_executor executor, client::ClientOptions options)
      : executor_(std::move(executor)), options_(std::move(options)) {}

  asio::awaitable<std::string> connect(Handler handler) override {
    for (;;) {
      client_ = std::make_unique<client::Client>(executor_, options_);
      client_->on_message(handler);
      client_->start();
      if (!co_await client_->wait_connected()) co_return std::string();  // connected
      const bool refused_v5 =
          options_.session.version == mqtt::Version::v5 &&
          client_->connack().reason == mqtt::ReasonCode::UnsupportedProtocolVersion;
      if (!refused_v5) {
        std::string why = client_->last_error();
        co_return why.empty() ? "cannot connect to " + options_.url.to_string() : why;
      }
      // A 3.1.1 broker: the request's "reply" field instead of the Response Topic.
      co_await client_->stop();
      options_.session.version = mqtt::Version::v311;
    }
  }

  asio::awaitable<void> stop() override {
    if (client_) co_await client_->stop();
  }

  asio::awaitable<client::error_code> subscribe(std::string filter,
                                                client::SubscribeOptions options) override {
    auto [ec, subscription] = co_await client_->subscribe(std::move(filter), options, use_tuple);
    if (!ec) subscription.close();  // messages come through the handler
    co_return ec;
  }

  asio::awaitable<void> unsubscribe(std::string filter) override {
    co_await client_->unsubscribe(std::move(filter), use_tuple);
  }

  asio::awaitable<client::error_code> publish(client::Message message) override {
    auto [ec] = co_await client_->publish(std::move(message), use_tuple);
    co_return ec;
  }

  void post(client::Message message) override {
    client_->publish(std::move(message), [](client::error_code) {});
  }

  bool v311() const noexcept override { return options_.session.version == mqtt::Version::v311; }

 private:
  asio::any_io_executor executor_;
  client::ClientOptions options_;
  std::unique_ptr<client::Client> client_;
};

}  // namespace

std::unique_ptr<CallerLink> client_link(asio::any_io_executor executor,
                                        client::ClientOptions options) {
  return std::make_unique<ClientLink>(std::move(executor), std::move(options));
}

struct Caller::Impl {
  Impl(asio::any_io_executor e, std::unique_ptr<CallerLink> l, std::optional<PrivateKey> k)
      : executor(std::move(e)),
        link(std::move(l)),
        key(std::move(k)),
        reply_topic("psos-reply/" + random_hex(8)) {}

  asio::any_io_executor executor;
  std::unique_ptr<CallerLink> link;
  std::optional<PrivateKey> key;
  std::string reply_topic;
  client::MessageHandler handler;
  // Requests waiting for their reply, by correlation (the request id).
  std::map<std::string, std::pair<std::optional<Reply>*, Wakeup*>> pending;
  // sync() markers waiting to come back, by payload.
  std::map<std::string, Wakeup*> markers;
  std::uint64_t next_marker = 1;
  // retained(): the messages collected for each filter being read.
  std::multimap<std::string, std::vector<client::MessagePtr>*> collecting;

  void on_message(const client::MessagePtr& m) {
    if (m->topic != reply_topic) {
      for (auto& [filter, into] : collecting)
        if (mqtt::topic_matches(filter, m->topic)) into->push_back(m);
      if (handler) handler(m);
      return;
    }
    if (const auto marker = markers.find(m->payload); marker != markers.end()) {
      marker->second->wake();
      return;
    }
    Reply reply;
    try {
      reply = decode_reply(m->payload);
    } catch (const std::invalid_argument&) {
      return;  // not a reply: someone else's message on our topic
    }
    // MQTT 5 gives the request's Correlation Data back; 3.1.1 only the id in the reply.
    const std::optional<std::string>& match = m->correlation_data ? m->correlation_data : reply.id;
    if (!match) return;
    const auto it = pending.find(*match);
    if (it == pending.end()) return;  // a late reply to a request given up on
    *it->second.first = std::move(reply);
    it->second.second->wake();
    pending.erase(it);
  }
};

Caller::Caller(asio::any_io_executor executor, client::ClientOptions options,
               std::optional<PrivateKey> key)
    : Caller(executor, client_link(executor, std::move(options)), std::move(key)) {}

Caller::Caller(asio::any_io_executor executor, std::unique_ptr<CallerLink> link,
               std::optional<PrivateKey> key)
    : impl_(std::make_shared<Impl>(std::move(executor), std::move(link), std::move(key))) {}

Caller::~Caller() = default;

asio::awaitable<std::string> Caller::connect() {
  Impl& a = *impl_;
  if (std::string why = co_await a.link->connect(
          [impl = impl_.get()](const client::MessagePtr& m) { impl->on_message(m); });
      !why.empty())
    co_return why;
  client::SubscribeOptions so;
  so.qos = mqtt::QoS::AtLeastOnce;
  if (const client::error_code ec = co_await a.link->subscribe(a.reply_topic, so))
    co_return "the broker refused the subscription to " + a.reply_topic + ": " + ec.message();
  co_return std::string();
}

asio::awaitable<void> Caller::stop() {
  co_await impl_->link->stop();
}

asio::awaitable<std::optional<Reply>> Caller::request(const NodeAddress& node, std::string verb,
                                                      json args,
                                                      std::chrono::milliseconds timeout) {
  Impl& a = *impl_;
  if (!a.key) throw std::logic_error("Caller::request: this caller has no key to sign with");
  Request request = new_request(node.system, node.node, verb, std::move(args), epoch_ms());
  if (v311()) request.reply = a.reply_topic;
  client::Message m;
  m.topic = command_topic(node.system, node.node, verb);
  m.qos = mqtt::QoS::AtLeastOnce;
  if (!v311()) {
    m.response_topic = a.reply_topic;
    m.correlation_data = request.id;
  }
  const std::string id = request.id;
  m.payload = sign_request(std::move(request), *a.key);

  std::optional<Reply> reply;
  Wakeup wakeup(a.executor);
  a.pending[id] = {&reply, &wakeup};
  const auto deadline = asio::steady_timer::clock_type::now() + timeout;
  // The reply may come before the PUBACK: wait for whichever ends the request.
  a.link->post(std::move(m));
  co_await wakeup.wait_until(deadline);
  a.pending.erase(id);
  co_return reply;
}

void Caller::on_message(client::MessageHandler handler) {
  impl_->handler = std::move(handler);
}

asio::awaitable<client::error_code> Caller::subscribe(std::string filter, mqtt::QoS qos) {
  client::SubscribeOptions so;
  so.qos = qos;
  co_return co_await subscribe(std::move(filter), so);
}

asio::awaitable<client::error_code> Caller::subscribe(std::string filter,
                                                      client::SubscribeOptions options) {
  co_return co_await impl_->link->subscribe(std::move(filter), options);
}

asio::awaitable<void> Caller::unsubscribe(std::string filter) {
  co_await impl_->link->unsubscribe(std::move(filter));
}

asio::awaitable<client::error_code> Caller::publish(client::Message message) {
  co_return co_await impl_->link->publish(std::move(message));
}

void Caller::post(client::Message message) {
  impl_->link->post(std::move(message));
}

asio::awaitable<bool> Caller::sync(std::chrono::milliseconds timeout) {
  Impl& a = *impl_;
  const std::string payload = "psos-sync " + std::to_string(a.next_marker++);
  Wakeup wakeup(a.executor);
  a.markers[payload] = &wakeup;
  client::Message m;
  m.topic = a.reply_topic;
  m.payload = payload;
  m.qos = mqtt::QoS::AtMostOnce;
  a.link->post(std::move(m));
  const bool back = co_await wakeup.wait_until(asio::steady_timer::clock_type::now() + timeout);
  a.markers.erase(payload);
  if (back) {
    asio::steady_timer settle(a.executor, kSettle);
    co_await settle.async_wait(use_tuple);
  }
  co_return back;
}

asio::awaitable<std::vector<client::MessagePtr>> Caller::retained(
    std::string filter, std::chrono::milliseconds timeout) {
  Impl& a = *impl_;
  std::vector<client::MessagePtr> messages;
  const auto entry = a.collecting.emplace(filter, &messages);
  // QoS 0: retained messages then come at QoS 0 too, written at once, in order with the marker.
  const client::error_code ec = co_await subscribe(filter, mqtt::QoS::AtMostOnce);
  if (!ec) co_await sync(timeout);
  a.collecting.erase(entry);
  if (!ec) co_await unsubscribe(filter);
  std::erase_if(messages, [](const client::MessagePtr& m) { return !m->retain; });
  co_return messages;
}

asio::awaitable<std::vector<std::string>> Caller::systems_of(std::string node,
                                                             std::chrono::milliseconds timeout) {
  std::set<std::string> systems;
  for (const client::MessagePtr& m : co_await retained("psos/+/" + node + "/$state", timeout)) {
    if (m->payload.empty()) continue;
    const std::size_t start = m->topic.find('/') + 1;
    systems.insert(m->topic.substr(start, m->topic.find('/', start) - start));
  }
  co_return std::vector<std::string>(systems.begin(), systems.end());
}

bool Caller::v311() const noexcept {
  return impl_->link->v311();
}

const std::string& Caller::reply_topic() const noexcept {
  return impl_->reply_topic;
}

const PrivateKey* Caller::key() const noexcept {
  return impl_->key ? &*impl_->key : nullptr;
}

const boost::asio::any_io_executor& Caller::executor() const noexcept {
  return impl_->executor;
}

}  // namespace psos::control
