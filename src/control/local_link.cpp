// A Caller's link over an in-process router session (see local_link.hpp).
#include "control/local_link.hpp"

#include "mqtt/topic.hpp"

namespace psos::control {

namespace asio = boost::asio;

LocalLink::LocalLink(router::Router& router, asio::any_io_executor executor, std::string client_id)
    : router_(router), executor_(std::move(executor)), client_id_(std::move(client_id)) {}

LocalLink::~LocalLink() = default;

asio::awaitable<std::string> LocalLink::connect(Handler handler) {
  session_ = std::make_unique<router::LocalClient>(
      router_, executor_, client_id_,
      [handler = std::move(handler)](const router::MessagePtr& m, const router::Delivery&) {
        handler(m);
      });
  if (!session_->connected()) co_return "the node's router refused the session " + client_id_;
  co_return std::string();
}

asio::awaitable<void> LocalLink::stop() {
  session_.reset();
  co_return;
}

asio::awaitable<client::error_code> LocalLink::subscribe(std::string filter,
                                                         client::SubscribeOptions options) {
  if (!session_) co_return client::make_error_code(client::Errc::Stopped);
  if (mqtt::validate_topic_filter(filter))
    co_return client::make_error_code(client::Errc::InvalidTopic);
  session_->subscribe(filter, options.no_local);
  co_return client::error_code();
}

asio::awaitable<void> LocalLink::unsubscribe(std::string filter) {
  if (session_) session_->unsubscribe(filter);
  co_return;
}

asio::awaitable<client::error_code> LocalLink::publish(client::Message message) {
  if (!session_) co_return client::make_error_code(client::Errc::Stopped);
  // A network client's broker would refuse these; the router trusts in-process sessions.
  if (mqtt::validate_topic_name(message.topic))
    co_return client::make_error_code(client::Errc::InvalidTopic);
  session_->publish(std::move(message));
  co_return client::error_code();
}

void LocalLink::post(client::Message message) {
  if (session_ && !mqtt::validate_topic_name(message.topic)) session_->publish(std::move(message));
}

}  // namespace psos::control
