// The caller's side of the control plane (docs/control.md): one MQTT connection to the broker
// the nodes meet at, a private reply topic, signed requests matched with their replies, and the
// retained messages in which nodes describe themselves. The fleet commands drive nodes with it,
// and so can anything else that manages them (a dashboard).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "client/client.hpp"
#include "control/keys.hpp"
#include "control/reply.hpp"

namespace psos::control {

// A node as a caller names it: "SYSTEM/NODE", or "NODE" alone (system empty) when one system on
// the broker has a node of that name.
struct NodeAddress {
  std::string system;
  std::string node;
  std::string to_string() const { return system.empty() ? node : system + "/" + node; }
};
// Throws std::invalid_argument saying what is wrong ("node name 'a/b/c': ...") for an empty
// name, more than one '/', or a part that is not a single topic level (wildcards, '$' first).
NodeAddress parse_node_address(std::string_view text);

// How a Caller reaches the broker: an MQTT connection of its own (client_link: the fleet commands,
// `psos dashboard`), or an in-process session on a node's router (control/local_link.hpp: a
// node's own dashboard, over the node's one connection).
class CallerLink {
 public:
  using Handler = std::function<void(const client::MessagePtr& message)>;
  virtual ~CallerLink() = default;
  // Connects; every message received from then on goes to `handler`. "" or why not, in the
  // client's words.
  virtual boost::asio::awaitable<std::string> connect(Handler handler) = 0;
  virtual boost::asio::awaitable<void> stop() = 0;
  virtual boost::asio::awaitable<client::error_code> subscribe(
      std::string filter, client::SubscribeOptions options) = 0;
  virtual boost::asio::awaitable<void> unsubscribe(std::string filter) = 0;
  // Completes when the broker has the message (QoS 1 and 2: acknowledged), with its refusal.
  virtual boost::asio::awaitable<client::error_code> publish(client::Message message) = 0;
  // The same without waiting.
  virtual void post(client::Message message) = 0;
  // Does the connection speak MQTT 3.1.1 (no Response Topic, no Correlation Data)?
  virtual bool v311() const noexcept = 0;
};

// A connection of its own, made by connect(); a broker that refuses MQTT 5 as an unsupported
// protocol version is asked again with 3.1.1.
std::unique_ptr<CallerLink> client_link(boost::asio::any_io_executor executor,
                                        client::ClientOptions options);

class Caller {
 public:
  // `key` signs every request (none: request() may not be used, only the retained and live
  // messages read). The connection is made by connect().
  Caller(boost::asio::any_io_executor executor, client::ClientOptions options,
         std::optional<PrivateKey> key);
  Caller(boost::asio::any_io_executor executor, std::unique_ptr<CallerLink> link,
         std::optional<PrivateKey> key);
  ~Caller();
  Caller(const Caller&) = delete;
  Caller& operator=(const Caller&) = delete;

  // Connects, once (a failed connection is not retried: the caller is told at once), and
  // subscribes to the private reply topic psos-reply/<random hex>. Over MQTT 3.1.1 replies are
  // asked for with the request's "reply" field. Returns "" when connected, else why not, in the
  // client's words ("connection refused by 127.0.0.1:1883 - is the broker running?").
  boost::asio::awaitable<std::string> connect();
  // Disconnects cleanly.
  boost::asio::awaitable<void> stop();

  // Sends one signed request to psos/<system>/<node>/$cmd/<verb> and waits up to `timeout` for
  // the reply that matches it (by Correlation Data, else by id): nullopt when none came.
  boost::asio::awaitable<std::optional<Reply>> request(const NodeAddress& node, std::string verb,
                                                       nlohmann::json args,
                                                       std::chrono::milliseconds timeout);

  // Every message received, but replies (on the reply topic): what subscribe() asked for.
  void on_message(client::MessageHandler handler);
  // Subscribes to `filter`; the broker's refusal as an error.
  boost::asio::awaitable<client::error_code> subscribe(std::string filter, mqtt::QoS qos);
  // The same with every option (a dashboard asks for Retain As Published, say).
  boost::asio::awaitable<client::error_code> subscribe(std::string filter,
                                                       client::SubscribeOptions options);
  boost::asio::awaitable<void> unsubscribe(std::string filter);
  // Publishes; completes when the broker has the message, with its refusal.
  boost::asio::awaitable<client::error_code> publish(client::Message message);
  // Publishes without waiting (a deploy's chunks, paced by the node's acknowledgements).
  void post(client::Message message);
  // Completes once every message the broker had for this connection before the call has arrived
  // (a marker is sent to the reply topic and awaited: a broker delivers messages on one
  // connection in order), plus a short settle for brokers that send retained messages from
  // another thread; false when the marker did not come back within `timeout`.
  boost::asio::awaitable<bool> sync(std::chrono::milliseconds timeout);
  // The retained messages on `filter`: subscribes, sync()s, unsubscribes.
  boost::asio::awaitable<std::vector<client::MessagePtr>> retained(
      std::string filter, std::chrono::milliseconds timeout);

  // The systems that have a node named `node` on the broker, from their retained
  // psos/<system>/<node>/$state (a cleared, empty one does not count), sorted.
  boost::asio::awaitable<std::vector<std::string>> systems_of(std::string node,
                                                              std::chrono::milliseconds timeout);

  // Does the connection speak MQTT 3.1.1 (replies asked for with the request's "reply" field)?
  bool v311() const noexcept;
  const std::string& reply_topic() const noexcept;
  // The key requests are signed with (null: none), which signs deploy bundles too.
  const PrivateKey* key() const noexcept;
  const boost::asio::any_io_executor& executor() const noexcept;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace psos::control
