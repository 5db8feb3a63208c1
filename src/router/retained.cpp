#include "router/retained.hpp"

#include <vector>

namespace psos::router {

struct RetainedMessages::Node {
  // Keyed by the level's text; the key's storage is the map's own (a view into it would dangle).
  std::unordered_map<std::string, std::unique_ptr<Node>> children;
  MessagePtr message;
};

namespace {

// Splits off the first level of `rest` (topics and filters have at least one, maybe empty).
std::string_view next_level(std::string_view& rest, bool& last) {
  const std::size_t slash = rest.find('/');
  last = slash == std::string_view::npos;
  const std::string_view level = rest.substr(0, slash);
  rest = last ? std::string_view() : rest.substr(slash + 1);
  return level;
}

}  // namespace

RetainedMessages::RetainedMessages() : root_(std::make_unique<Node>()) {}
RetainedMessages::~RetainedMessages() = default;

void RetainedMessages::set(MessagePtr message) {
  Node* node = root_.get();
  std::string_view rest = message->topic;
  bool last = false;
  do {
    const std::string_view level = next_level(rest, last);
    auto it = node->children.find(std::string(level));
    if (it == node->children.end())
      it = node->children.emplace(std::string(level), std::make_unique<Node>()).first;
    node = it->second.get();
  } while (!last);
  if (!node->message) ++size_;
  node->message = std::move(message);
}

bool RetainedMessages::erase(std::string_view topic) {
  // The path down, to prune the branches left empty.
  std::vector<std::pair<Node*, std::string>> path;
  Node* node = root_.get();
  std::string_view rest = topic;
  bool last = false;
  do {
    std::string level(next_level(rest, last));
    const auto it = node->children.find(level);
    if (it == node->children.end()) return false;
    path.emplace_back(node, std::move(level));
    node = it->second.get();
  } while (!last);
  if (!node->message) return false;
  node->message.reset();
  --size_;
  for (auto step = path.rbegin(); step != path.rend(); ++step) {
    const auto it = step->first->children.find(step->second);
    if (it->second->message || !it->second->children.empty()) break;
    step->first->children.erase(it);
  }
  return true;
}

const MessagePtr* RetainedMessages::find(std::string_view topic) const {
  const Node* node = root_.get();
  std::string_view rest = topic;
  bool last = false;
  do {
    const auto it = node->children.find(std::string(next_level(rest, last)));
    if (it == node->children.end()) return nullptr;
    node = it->second.get();
  } while (!last);
  return node->message ? &node->message : nullptr;
}

namespace {

template <class Node, class Visit>
void visit_all(const Node& node, const Visit& visit) {
  if (node.message) visit(node.message);
  for (const auto& [level, child] : node.children)
    visit_all(*child, visit);
}

template <class Node, class Visit>
void match_from(const Node& node, std::string_view rest, bool done, bool first,
                const Visit& visit) {
  if (done) {
    if (node.message) visit(node.message);
    return;
  }
  bool last = false;
  const std::string_view level = next_level(rest, last);
  if (level == "#") {
    // `a/#` matches `a` itself too (spec 4.7.1.2).
    if (!first && node.message) visit(node.message);
    for (const auto& [name, child] : node.children)
      if (!(first && name.starts_with('$'))) visit_all(*child, visit);
    return;
  }
  if (level == "+") {
    for (const auto& [name, child] : node.children)
      if (!(first && name.starts_with('$'))) match_from(*child, rest, last, false, visit);
    return;
  }
  const auto it = node.children.find(std::string(level));
  if (it != node.children.end()) match_from(*it->second, rest, last, false, visit);
}

}  // namespace

void RetainedMessages::match(std::string_view filter,
                             const std::function<void(const MessagePtr&)>& visit) const {
  match_from(*root_, filter, false, true, visit);
}

}  // namespace psos::router
