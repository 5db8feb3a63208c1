// The router's subscription table: which sessions' topic filters match a published topic,
// including shared subscriptions ($share/<group>/<filter>) and their round-robin delivery.
#pragma once

// Layout, chosen so that 1,000,000 subscriptions cost ~200 bytes each and a match a few
// microseconds:
// - Nodes live in one vector and link to each other by 32-bit index. Exact-level children are
//   found through one open-addressing hash table keyed by (parent node, level), not a map per
//   node: a per-node std::unordered_map costs a bucket array per node plus a heap node per edge,
//   several times the memory of an 8-byte slot. The '+' and '#' children are direct links in
//   the node, so matching hashes each topic level once per candidate node and never a wildcard.
// - Subscriptions are fixed-size entries in another vector, chained per node (or per shared
//   group) in a doubly linked list and listed per subscriber, so add, remove and remove_all cost
//   O(filter levels + subscriptions of that subscriber or filter), never O(table size).
// - match walks the trie depth-first without recursion or a stack: it climbs back up through
//   parent links and finds its place in the topic by scanning back to the previous '/'. It
//   allocates nothing and its stack use does not grow with topic depth (a 64 KiB topic may
//   have 65535 levels).
// Nodes, entries and groups freed by remove are reused by later adds (their vectors keep their
// high-water capacity); the edge table shrinks as it empties.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "mqtt/packets.hpp"

namespace psos::mqtt {

// What a SUBSCRIBE asked for one filter (spec 3.8.3.1); v3.1.1 subscriptions use the defaults
// beside the QoS.
struct SubscriptionOptions {
  QoS qos = QoS::AtMostOnce;
  bool no_local = false;
  bool retain_as_published = false;
  RetainHandling retain_handling = RetainHandling::SendOnSubscribe;
  std::uint32_t identifier = 0;  // Subscription Identifier (v5); 0 = none
  friend bool operator==(const SubscriptionOptions&, const SubscriptionOptions&) = default;
};

struct Subscription {
  std::uint64_t subscriber = 0;  // the session id
  SubscriptionOptions options;
};

class SubscriptionTrie;

// A shared subscription group that matched a topic: one group per (group name, filter), so
// "$share/g/a/+" and "$share/g/a/#" are two groups. The message goes to exactly one member.
// A view: valid only inside the match callback that received it.
class SharedGroup {
 public:
  std::string_view name() const noexcept;
  std::size_t size() const noexcept;

  // Round-robin delivery: offers members to `accept(const Subscription&) -> bool`, starting
  // with the member after the one picked last time, until one is accepted (say, because its
  // session is connected and has room); returns that member, or nullptr when all declined.
  // Calls accept at most size() times. The next pick starts after the accepted member.
  template <class Accept>
  const Subscription* pick(Accept&& accept);

 private:
  friend class SubscriptionTrie;
  SharedGroup(SubscriptionTrie& trie, std::uint32_t group) noexcept : trie_(&trie), group_(group) {}

  SubscriptionTrie* trie_;
  std::uint32_t group_;
};

class SubscriptionTrie {
 public:
  SubscriptionTrie();

  // Filters must have passed validate_topic_filter. A re-SUBSCRIBE of the same filter by the
  // same subscriber replaces its options (spec 3.8.4) and returns false; a new one returns true.
  bool add(std::string_view filter, std::uint64_t subscriber, const SubscriptionOptions& options);
  // Returns whether the subscription existed.
  bool remove(std::string_view filter, std::uint64_t subscriber);
  // Removes every subscription of a session (when it ends); returns how many there were.
  // Costs O(that session's subscriptions).
  std::size_t remove_all(std::uint64_t subscriber);
  // The options of one subscription, or nullptr; valid until the trie is next modified.
  const SubscriptionOptions* find(std::string_view filter, std::uint64_t subscriber) const;

  // Calls on_subscription(const Subscription&) for every non-shared subscription whose filter
  // matches `topic` (once per matching filter: a subscriber with overlapping filters is visited
  // once for each), and on_group(SharedGroup&) once for every shared group whose filter matches.
  // Topics starting with '$' are not matched by filters starting with '+' or '#' (spec 4.7.2).
  // Allocates nothing. The callbacks must not add or remove subscriptions.
  template <class OnSubscription, class OnSharedGroup>
  void match(std::string_view topic, OnSubscription&& on_subscription, OnSharedGroup&& on_group);

  // Number of subscriptions (plain and shared members).
  std::size_t size() const noexcept { return size_; }
  // Number of trie nodes besides the root: 0 again once every subscription is removed.
  std::size_t node_count() const noexcept { return live_nodes_; }

 private:
  friend class SharedGroup;
  static constexpr std::uint32_t kNone = 0xFFFF'FFFF;
  // Entry::owner is a node index, or a group index with this bit set (so at most 2^31 of each).
  static constexpr std::uint32_t kGroupBit = 0x8000'0000;

  struct Node {
    std::string level;             // the exact level; empty for the root, '+' and '#' nodes
    std::uint32_t parent = kNone;  // also the free-list link of a free node
    std::uint32_t plus = kNone;    // the '+' child
    std::uint32_t hash = kNone;    // the '#' child
    std::uint32_t exact_children = 0;
    std::uint32_t plain = kNone;   // first entry of the non-shared subscriptions
    std::uint32_t groups = kNone;  // first shared group
  };
  struct Entry {
    Subscription subscription;
    std::uint32_t owner = kNone;
    std::uint32_t prev = kNone;
    std::uint32_t next = kNone;  // also the free-list link of a free entry
    std::uint32_t ref = 0;       // position in the subscriber's list
  };
  struct Group {
    std::string name;
    std::uint32_t node = kNone;
    std::uint32_t next = kNone;  // next group of the node; also the free-list link
    std::uint32_t members = kNone;
    std::uint32_t cursor = kNone;  // the member picked last
    std::uint32_t size = 0;
  };
  struct Slot {  // of the edge table
    std::uint32_t node = kNone;
    std::uint32_t hash = 0;
  };
  // Non-allocating type erasure of the match callbacks.
  struct MatchSink {
    void* on_subscription;
    void (*call_subscription)(void*, const Subscription&);
    void* on_group;
    void (*call_group)(void*, SharedGroup&);
  };

  template <class F>
  static void* erase_callable(F& f) noexcept {
    return const_cast<void*>(static_cast<const void*>(std::addressof(f)));
  }

  void match_impl(std::string_view topic, const MatchSink& sink);
  void emit(std::uint32_t node, const MatchSink& sink);
  const Subscription* pick_impl(std::uint32_t group, void* accept,
                                bool (*call)(void*, const Subscription&));

  std::uint32_t hash_level(std::uint32_t parent, std::string_view level) const noexcept;
  std::uint32_t find_child(std::uint32_t parent, std::string_view level) const noexcept;
  std::uint32_t child_or_create(std::uint32_t parent, std::string_view level);
  std::uint32_t find_node(std::string_view filter) const noexcept;
  std::uint32_t find_group(std::uint32_t node, std::string_view name) const noexcept;
  std::uint32_t find_entry(std::uint32_t owner, std::uint64_t subscriber,
                           const std::vector<std::uint32_t>& refs) const noexcept;
  std::uint32_t& head(std::uint32_t owner) noexcept;
  std::uint32_t head(std::uint32_t owner) const noexcept;

  std::uint32_t new_node(std::uint32_t parent, std::string_view level);
  void unlink_entry(std::uint32_t entry) noexcept;
  void prune(std::uint32_t owner) noexcept;

  void insert_slot(Slot slot) noexcept;
  void erase_slot(std::uint32_t node) noexcept;
  void resize_table(std::size_t capacity);

  std::vector<Node> nodes_;  // nodes_[0] is the root
  std::vector<Entry> entries_;
  std::vector<Group> groups_;
  std::vector<Slot> slots_;  // power-of-two size, linear probing, at most 3/4 full
  std::unordered_map<std::uint64_t, std::vector<std::uint32_t>> by_subscriber_;  // entries
  std::uint32_t free_node_ = kNone;
  std::uint32_t free_entry_ = kNone;
  std::uint32_t free_group_ = kNone;
  std::size_t slots_used_ = 0;
  std::size_t live_nodes_ = 0;
  std::size_t size_ = 0;
  std::uint64_t seed_;  // varies the edge hashes between tables, against crafted collisions
};

template <class Accept>
const Subscription* SharedGroup::pick(Accept&& accept) {
  return trie_->pick_impl(
      group_, SubscriptionTrie::erase_callable(accept), [](void* f, const Subscription& s) {
        return static_cast<bool>((*static_cast<std::remove_reference_t<Accept>*>(f))(s));
      });
}

template <class OnSubscription, class OnSharedGroup>
void SubscriptionTrie::match(std::string_view topic, OnSubscription&& on_subscription,
                             OnSharedGroup&& on_group) {
  const MatchSink sink{
      erase_callable(on_subscription),
      [](void* f, const Subscription& s) {
        (*static_cast<std::remove_reference_t<OnSubscription>*>(f))(s);
      },
      erase_callable(on_group),
      [](void* f, SharedGroup& g) {
        (*static_cast<std::remove_reference_t<OnSharedGroup>*>(f))(g);
      },
  };
  match_impl(topic, sink);
}

}  // namespace psos::mqtt
