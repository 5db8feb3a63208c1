// The router's retained messages, one per topic, in a tree of topic levels: a subscription with
// wildcards visits only the branches its filter can match (`a/+/temp` looks at the children of
// `a` and one level below each), not every retained message of the broker.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "router/message.hpp"

namespace psos::router {

class RetainedMessages {
 public:
  RetainedMessages();
  ~RetainedMessages();
  RetainedMessages(const RetainedMessages&) = delete;
  RetainedMessages& operator=(const RetainedMessages&) = delete;

  // Sets or replaces the message retained on its topic.
  void set(MessagePtr message);
  // Clears the message retained on `topic`; false when there was none.
  bool erase(std::string_view topic);
  // The message retained on exactly `topic`; null when none.
  const MessagePtr* find(std::string_view topic) const;
  // Calls `visit` with every retained message whose topic matches `filter` (a valid filter, with
  // or without wildcards; `+` and `#` at the first level do not match `$` topics, spec 4.7.2).
  void match(std::string_view filter, const std::function<void(const MessagePtr&)>& visit) const;
  std::size_t size() const noexcept { return size_; }

 private:
  struct Node;
  std::unique_ptr<Node> root_;
  std::size_t size_ = 0;
};

}  // namespace psos::router
