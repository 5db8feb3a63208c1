// libFuzzer harness for the subscription trie: the input bytes drive a sequence of add, remove,
// remove_all and match operations over a small alphabet of levels, checked step by step against
// a plain list of (filter, subscriber) matched with topic_matches. Shared groups are checked for
// membership and for round-robin (size() accepting picks visit every member once). Any
// disagreement, or a node left behind once every subscription is gone, aborts (a finding).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "mqtt/subscription_trie.hpp"
#include "mqtt/topic.hpp"

namespace psos::mqtt {
namespace {

constexpr std::string_view kLevels[] = {"a", "b", "+", "#", "$SYS", "", "level-longer-than-16"};
constexpr std::string_view kGroups[] = {"g", "h"};
constexpr std::uint64_t kSubscribers = 4;

[[noreturn]] void finding(const char* what, std::string_view subject) {
  std::fprintf(stderr, "fuzz_trie: %s: \"%.*s\"\n", what, static_cast<int>(subject.size()),
               subject.data());
  std::abort();
}

class Input {
 public:
  Input(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}
  bool empty() const { return at_ == size_; }
  std::uint8_t next() { return at_ < size_ ? data_[at_++] : 0; }

  // One to four levels from the alphabet; topics use no wildcards. A filter may be shared.
  std::string levels(bool topic) {
    const std::uint8_t shape = next();
    std::string out;
    if (!topic && (shape & 0x80)) out.append("$share/").append(kGroups[(shape >> 6) & 1]) += '/';
    const int depth = 1 + (shape & 3);
    for (int i = 0; i < depth; ++i) {
      if (i) out += '/';
      std::string_view level = kLevels[next() % std::size(kLevels)];
      if (topic && (level == "+" || level == "#")) level = "c";
      out += level;
    }
    return out;
  }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t at_ = 0;
};

struct Model {
  std::string filter;
  std::uint64_t subscriber;
  std::uint32_t identifier;
};

using Ids = std::vector<std::pair<std::uint64_t, std::uint32_t>>;  // subscriber, identifier
using Groups = std::vector<std::pair<std::string, Ids>>;           // group name, members

void check_match(SubscriptionTrie& trie, const std::vector<Model>& model, std::string_view topic) {
  Ids plain_expected;
  std::vector<std::pair<std::string, Ids>> by_key;  // "group filter", members
  for (const Model& m : model) {
    const SharedFilter shared = split_shared(m.filter);
    if (!topic_matches(shared.filter, topic)) continue;
    if (shared.group.empty()) {
      plain_expected.emplace_back(m.subscriber, m.identifier);
      continue;
    }
    const std::string key = std::string(shared.group) + ' ' + std::string(shared.filter);
    auto at =
        std::find_if(by_key.begin(), by_key.end(), [&](const auto& g) { return g.first == key; });
    if (at == by_key.end()) at = by_key.insert(at, {key, {}});
    at->second.emplace_back(m.subscriber, m.identifier);
  }

  Ids plain_actual;
  Groups groups_actual;
  trie.match(
      topic,
      [&](const Subscription& s) { plain_actual.emplace_back(s.subscriber, s.options.identifier); },
      [&](SharedGroup& group) {
        Ids members;
        if (group.pick([&](const Subscription& s) {
              members.emplace_back(s.subscriber, s.options.identifier);
              return false;
            }) != nullptr) {
          finding("pick returned a member nobody accepted", topic);
        }
        if (members.size() != group.size()) finding("pick offered size() members", topic);
        Ids picked;
        for (std::size_t i = 0; i < group.size(); ++i) {
          const Subscription* s = group.pick([](const Subscription&) { return true; });
          if (s == nullptr) finding("pick accepted nobody", topic);
          picked.emplace_back(s->subscriber, s->options.identifier);
        }
        std::sort(members.begin(), members.end());
        std::sort(picked.begin(), picked.end());
        if (picked != members) finding("a round of picks missed a member", topic);
        groups_actual.emplace_back(std::string(group.name()), std::move(members));
      });

  std::sort(plain_expected.begin(), plain_expected.end());
  std::sort(plain_actual.begin(), plain_actual.end());
  if (plain_actual != plain_expected) finding("plain subscribers differ", topic);
  Groups groups_wanted;
  for (auto& [key, members] : by_key) {
    std::sort(members.begin(), members.end());
    groups_wanted.emplace_back(key.substr(0, key.find(' ')), std::move(members));
  }
  std::sort(groups_wanted.begin(), groups_wanted.end());
  std::sort(groups_actual.begin(), groups_actual.end());
  if (groups_actual != groups_wanted) finding("shared groups differ", topic);
}

void run(Input& in) {
  SubscriptionTrie trie;
  std::vector<Model> model;
  std::uint32_t step = 0;
  while (!in.empty()) {
    ++step;
    const std::uint8_t op = in.next();
    const std::uint64_t subscriber = (op >> 2) % kSubscribers;
    switch (op & 3) {
      case 0: {  // add (or re-add, which replaces the options)
        const std::string filter = in.levels(false);
        if (validate_topic_filter(filter)) break;
        const auto at = std::find_if(model.begin(), model.end(), [&](const Model& m) {
          return m.filter == filter && m.subscriber == subscriber;
        });
        const bool fresh = at == model.end();
        if (fresh) {
          model.push_back({filter, subscriber, step});
        } else {
          at->identifier = step;
        }
        SubscriptionOptions options;
        options.identifier = step;
        if (trie.add(filter, subscriber, options) != fresh) finding("add: wrong 'was new'", filter);
        const SubscriptionOptions* found = trie.find(filter, subscriber);
        if (found == nullptr || found->identifier != step) finding("add: find disagrees", filter);
        break;
      }
      case 1: {  // remove
        const std::string filter = in.levels(false);
        if (validate_topic_filter(filter)) break;
        const auto gone = std::erase_if(model, [&](const Model& m) {
          return m.filter == filter && m.subscriber == subscriber;
        });
        if (trie.remove(filter, subscriber) != (gone == 1)) finding("remove: wrong result", filter);
        if (trie.find(filter, subscriber) != nullptr) finding("remove: still found", filter);
        break;
      }
      case 2: {  // remove_all
        const auto gone =
            std::erase_if(model, [&](const Model& m) { return m.subscriber == subscriber; });
        if (trie.remove_all(subscriber) != gone) finding("remove_all: wrong count", "");
        break;
      }
      default: {
        const std::string topic = in.levels(true);
        if (validate_topic_name(topic)) break;
        check_match(trie, model, topic);
        break;
      }
    }
    if (trie.size() != model.size()) finding("size differs", "");
  }
  for (std::uint64_t id = 0; id < kSubscribers; ++id)
    trie.remove_all(id);
  if (trie.size() != 0 || trie.node_count() != 0) finding("nodes left after removing all", "");
}

}  // namespace
}  // namespace psos::mqtt

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  psos::mqtt::Input in(data, size);
  psos::mqtt::run(in);
  return 0;
}
