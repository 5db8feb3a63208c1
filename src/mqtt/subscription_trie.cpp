// The subscription trie: see the header for the layout and why.
#include "mqtt/subscription_trie.hpp"

#include <algorithm>
#include <cstring>

#include "mqtt/topic.hpp"

namespace psos::mqtt {

namespace {

constexpr std::size_t kMinSlots = 16;

std::uint64_t mix(std::uint64_t x) noexcept {  // the splitmix64 finalizer
  x ^= x >> 30;
  x *= 0xBF58'476D'1CE4'E5B9;
  x ^= x >> 27;
  x *= 0x94D0'49BB'1331'11EB;
  x ^= x >> 31;
  return x;
}

// The level of `text` starting at `start` (text.size() + 1 means "past the last level").
std::string_view level_at(std::string_view text, std::size_t start) noexcept {
  const std::size_t end = std::min(text.find('/', start), text.size());
  return text.substr(start, end - start);
}

}  // namespace

std::string_view SharedGroup::name() const noexcept {
  return trie_->groups_[group_].name;
}

std::size_t SharedGroup::size() const noexcept {
  return trie_->groups_[group_].size;
}

SubscriptionTrie::SubscriptionTrie()
    : nodes_(1), slots_(kMinSlots), seed_(mix(reinterpret_cast<std::uintptr_t>(this))) {}

// ---- edge table: (parent, exact level) -> child ------------------------------------------------

std::uint32_t SubscriptionTrie::hash_level(std::uint32_t parent,
                                           std::string_view level) const noexcept {
  std::uint64_t h = seed_ ^ (std::uint64_t{parent} << 32 | level.size());
  const char* p = level.data();
  std::size_t n = level.size();
  // Eight bytes per multiply: levels are short, so this beats a byte-at-a-time hash.
  while (n >= 8) {
    std::uint64_t word;
    std::memcpy(&word, p, 8);
    h = (h ^ word) * 0x9E37'79B9'7F4A'7C15;
    h ^= h >> 32;
    p += 8;
    n -= 8;
  }
  std::uint64_t tail = 0;
  if (n > 0) std::memcpy(&tail, p, n);
  return static_cast<std::uint32_t>(mix(h ^ tail));
}

std::uint32_t SubscriptionTrie::find_child(std::uint32_t parent,
                                           std::string_view level) const noexcept {
  const std::uint32_t hash = hash_level(parent, level);
  const std::size_t mask = slots_.size() - 1;
  for (std::size_t i = hash & mask;; i = (i + 1) & mask) {
    const Slot& slot = slots_[i];
    if (slot.node == kNone) return kNone;
    if (slot.hash == hash) {
      const Node& node = nodes_[slot.node];
      if (node.parent == parent && node.level == level) return slot.node;
    }
  }
}

void SubscriptionTrie::insert_slot(Slot slot) noexcept {
  const std::size_t mask = slots_.size() - 1;
  std::size_t i = slot.hash & mask;
  while (slots_[i].node != kNone)
    i = (i + 1) & mask;
  slots_[i] = slot;
}

void SubscriptionTrie::erase_slot(std::uint32_t node) noexcept {
  const std::size_t mask = slots_.size() - 1;
  std::size_t i = hash_level(nodes_[node].parent, nodes_[node].level) & mask;
  while (slots_[i].node != node)
    i = (i + 1) & mask;
  // Backward-shift deletion: pull later slots of the same probe run into the hole, so lookups
  // never need tombstones.
  for (std::size_t j = (i + 1) & mask; slots_[j].node != kNone; j = (j + 1) & mask) {
    const std::size_t ideal = slots_[j].hash & mask;
    if (((j - ideal) & mask) >= ((j - i) & mask)) {
      slots_[i] = slots_[j];
      i = j;
    }
  }
  slots_[i] = Slot{};
  --slots_used_;
  if (slots_.size() > kMinSlots && slots_used_ * 8 < slots_.size()) resize_table(slots_.size() / 2);
}

void SubscriptionTrie::resize_table(std::size_t capacity) {
  std::vector<Slot> old(capacity);
  old.swap(slots_);
  for (const Slot& slot : old) {
    if (slot.node != kNone) insert_slot(slot);
  }
}

// ---- nodes -------------------------------------------------------------------------------------

std::uint32_t SubscriptionTrie::new_node(std::uint32_t parent, std::string_view level) {
  std::uint32_t id;
  if (free_node_ != kNone) {
    id = free_node_;
    free_node_ = nodes_[id].parent;
  } else {
    id = static_cast<std::uint32_t>(nodes_.size());
    nodes_.emplace_back();
  }
  Node& node = nodes_[id];
  node.level.assign(level);
  node.parent = parent;
  ++live_nodes_;
  return id;
}

std::uint32_t SubscriptionTrie::child_or_create(std::uint32_t parent, std::string_view level) {
  // new_node may reallocate nodes_: index again after it.
  if (level == "+" || level == "#") {
    const bool plus = level == "+";
    std::uint32_t child = plus ? nodes_[parent].plus : nodes_[parent].hash;
    if (child == kNone) {
      child = new_node(parent, {});
      (plus ? nodes_[parent].plus : nodes_[parent].hash) = child;
    }
    return child;
  }
  std::uint32_t child = find_child(parent, level);
  if (child == kNone) {
    if ((slots_used_ + 1) * 4 > slots_.size() * 3) resize_table(slots_.size() * 2);
    child = new_node(parent, level);
    insert_slot(Slot{child, hash_level(parent, level)});
    ++slots_used_;
    ++nodes_[parent].exact_children;
  }
  return child;
}

std::uint32_t SubscriptionTrie::find_node(std::string_view filter) const noexcept {
  std::uint32_t node = 0;
  for (std::size_t start = 0; start <= filter.size() && node != kNone;) {
    const std::string_view level = level_at(filter, start);
    if (level == "+") {
      node = nodes_[node].plus;
    } else if (level == "#") {
      node = nodes_[node].hash;
    } else {
      node = find_child(node, level);
    }
    start += level.size() + 1;
  }
  return node;
}

// Frees `owner` (a group, or a node) if nothing hangs off it any more, then its empty ancestors.
void SubscriptionTrie::prune(std::uint32_t owner) noexcept {
  std::uint32_t id = owner;
  if (owner & kGroupBit) {
    const std::uint32_t g = owner & ~kGroupBit;
    Group& group = groups_[g];
    id = group.node;
    if (group.size != 0) return;
    std::uint32_t* link = &nodes_[id].groups;
    while (*link != g)
      link = &groups_[*link].next;
    *link = group.next;
    std::string().swap(group.name);
    group.members = group.cursor = kNone;
    group.next = free_group_;
    free_group_ = g;
  }
  while (id != 0) {
    Node& node = nodes_[id];
    if (node.plain != kNone || node.groups != kNone || node.plus != kNone || node.hash != kNone ||
        node.exact_children != 0) {
      return;
    }
    const std::uint32_t parent = node.parent;
    Node& up = nodes_[parent];
    if (up.plus == id) {
      up.plus = kNone;
    } else if (up.hash == id) {
      up.hash = kNone;
    } else {
      erase_slot(id);
      --up.exact_children;
    }
    std::string().swap(node.level);  // releases a long level's heap buffer
    node.parent = free_node_;
    free_node_ = id;
    --live_nodes_;
    id = parent;
  }
}

// ---- entries -----------------------------------------------------------------------------------

std::uint32_t& SubscriptionTrie::head(std::uint32_t owner) noexcept {
  return (owner & kGroupBit) ? groups_[owner & ~kGroupBit].members : nodes_[owner].plain;
}

std::uint32_t SubscriptionTrie::head(std::uint32_t owner) const noexcept {
  return (owner & kGroupBit) ? groups_[owner & ~kGroupBit].members : nodes_[owner].plain;
}

std::uint32_t SubscriptionTrie::find_group(std::uint32_t node,
                                           std::string_view name) const noexcept {
  std::uint32_t g = nodes_[node].groups;
  while (g != kNone && groups_[g].name != name)
    g = groups_[g].next;
  return g;
}

// The subscriber's entry at `owner`; `refs` lists the subscriber's entries. Walks the owner's
// list and the subscriber's list in lockstep and stops when either runs out, so it costs the
// shorter of the two: a filter with 100k subscribers or a bridge session with 100k filters stays
// cheap for everyone else.
std::uint32_t SubscriptionTrie::find_entry(std::uint32_t owner, std::uint64_t subscriber,
                                           const std::vector<std::uint32_t>& refs) const noexcept {
  std::uint32_t e = head(owner);
  for (std::size_t i = 0;; ++i) {
    if (e == kNone) return kNone;
    if (entries_[e].subscription.subscriber == subscriber) return e;
    if (i == refs.size()) return kNone;
    if (entries_[refs[i]].owner == owner) return refs[i];
    e = entries_[e].next;
  }
}

// Takes the entry out of its owner's list and frees it; the caller fixes the subscriber's list.
void SubscriptionTrie::unlink_entry(std::uint32_t e) noexcept {
  Entry& entry = entries_[e];
  if (entry.prev != kNone) {
    entries_[entry.prev].next = entry.next;
  } else {
    head(entry.owner) = entry.next;
  }
  if (entry.next != kNone) entries_[entry.next].prev = entry.prev;
  if (entry.owner & kGroupBit) {
    Group& group = groups_[entry.owner & ~kGroupBit];
    --group.size;
    // The next pick starts after the removed member's predecessor, i.e. at its successor.
    if (group.cursor == e) group.cursor = entry.prev;
  }
  entry.next = free_entry_;
  free_entry_ = e;
  --size_;
}

// ---- public operations -------------------------------------------------------------------------

bool SubscriptionTrie::add(std::string_view filter, std::uint64_t subscriber,
                           const SubscriptionOptions& options) {
  const SharedFilter shared = split_shared(filter);
  std::uint32_t node = 0;
  for (std::size_t start = 0; start <= shared.filter.size();) {
    const std::string_view level = level_at(shared.filter, start);
    node = child_or_create(node, level);
    start += level.size() + 1;
  }
  std::uint32_t owner = node;
  if (!shared.group.empty()) {
    std::uint32_t g = find_group(node, shared.group);
    if (g == kNone) {
      if (free_group_ != kNone) {
        g = free_group_;
        free_group_ = groups_[g].next;
      } else {
        g = static_cast<std::uint32_t>(groups_.size());
        groups_.emplace_back();
      }
      Group& group = groups_[g];
      group.name.assign(shared.group);
      group.node = node;
      group.next = nodes_[node].groups;
      nodes_[node].groups = g;
    }
    owner = kGroupBit | g;
  }

  // A new subscriber gets an empty list here, which the new entry fills below.
  std::vector<std::uint32_t>& refs = by_subscriber_[subscriber];
  if (const std::uint32_t e = find_entry(owner, subscriber, refs); e != kNone) {
    entries_[e].subscription.options = options;
    return false;
  }
  std::uint32_t e;
  if (free_entry_ != kNone) {
    e = free_entry_;
    free_entry_ = entries_[e].next;
  } else {
    e = static_cast<std::uint32_t>(entries_.size());
    entries_.emplace_back();
  }
  std::uint32_t& first = head(owner);
  entries_[e] = Entry{Subscription{subscriber, options}, owner, kNone, first,
                      static_cast<std::uint32_t>(refs.size())};
  if (first != kNone) entries_[first].prev = e;
  first = e;
  refs.push_back(e);
  if (owner & kGroupBit) ++groups_[owner & ~kGroupBit].size;
  ++size_;
  return true;
}

bool SubscriptionTrie::remove(std::string_view filter, std::uint64_t subscriber) {
  const SharedFilter shared = split_shared(filter);
  std::uint32_t owner = find_node(shared.filter);
  if (owner == kNone) return false;
  if (!shared.group.empty()) {
    const std::uint32_t g = find_group(owner, shared.group);
    if (g == kNone) return false;
    owner = kGroupBit | g;
  }
  const auto it = by_subscriber_.find(subscriber);
  if (it == by_subscriber_.end()) return false;
  std::vector<std::uint32_t>& refs = it->second;
  const std::uint32_t e = find_entry(owner, subscriber, refs);
  if (e == kNone) return false;

  const std::uint32_t pos = entries_[e].ref;
  refs[pos] = refs.back();
  entries_[refs[pos]].ref = pos;
  refs.pop_back();
  if (refs.empty()) by_subscriber_.erase(it);

  unlink_entry(e);
  prune(owner);
  return true;
}

std::size_t SubscriptionTrie::remove_all(std::uint64_t subscriber) {
  const auto it = by_subscriber_.find(subscriber);
  if (it == by_subscriber_.end()) return 0;
  const std::vector<std::uint32_t> refs = std::move(it->second);
  by_subscriber_.erase(it);
  for (const std::uint32_t e : refs) {
    const std::uint32_t owner = entries_[e].owner;
    unlink_entry(e);
    prune(owner);
  }
  return refs.size();
}

const SubscriptionOptions* SubscriptionTrie::find(std::string_view filter,
                                                  std::uint64_t subscriber) const {
  const SharedFilter shared = split_shared(filter);
  std::uint32_t owner = find_node(shared.filter);
  if (owner == kNone) return nullptr;
  if (!shared.group.empty()) {
    const std::uint32_t g = find_group(owner, shared.group);
    if (g == kNone) return nullptr;
    owner = kGroupBit | g;
  }
  const auto it = by_subscriber_.find(subscriber);
  if (it == by_subscriber_.end()) return nullptr;
  const std::uint32_t e = find_entry(owner, subscriber, it->second);
  return e == kNone ? nullptr : &entries_[e].subscription.options;
}

// ---- matching ----------------------------------------------------------------------------------

void SubscriptionTrie::emit(std::uint32_t node, const MatchSink& sink) {
  for (std::uint32_t e = nodes_[node].plain; e != kNone; e = entries_[e].next) {
    sink.call_subscription(sink.on_subscription, entries_[e].subscription);
  }
  for (std::uint32_t g = nodes_[node].groups; g != kNone; g = groups_[g].next) {
    SharedGroup group(*this, g);
    sink.call_group(sink.on_group, group);
  }
}

void SubscriptionTrie::match_impl(std::string_view topic, const MatchSink& sink) {
  // Spec 4.7.2: no '+' or '#' in the first level for topics like "$SYS/...".
  const bool system = !topic.empty() && topic.front() == '$';
  const auto wildcards_allowed = [system](std::uint32_t node) { return node != 0 || !system; };

  // Depth-first: at `node`, `pos` is where the next topic level starts, topic.size() + 1 once
  // every level is consumed. The exact child is tried before the '+' child; climbing back from
  // a child recovers the position of the level it consumed by scanning back to the '/'.
  std::uint32_t node = 0;
  std::size_t pos = 0;
  for (;;) {
    const Node& here = nodes_[node];
    // '#' matches the remaining levels, and also none: "sport/#" matches "sport".
    if (here.hash != kNone && wildcards_allowed(node)) emit(here.hash, sink);
    if (pos > topic.size()) {
      emit(node, sink);
    } else {
      const std::string_view level = level_at(topic, pos);
      std::uint32_t next = here.exact_children != 0 ? find_child(node, level) : kNone;
      if (next == kNone && wildcards_allowed(node)) next = here.plus;
      if (next != kNone) {
        node = next;
        pos += level.size() + 1;
        continue;
      }
    }
    // Climb until an ancestor has a '+' child not yet tried.
    for (;;) {
      if (node == 0) return;
      const std::uint32_t parent = nodes_[node].parent;
      const std::uint32_t plus = nodes_[parent].plus;
      if (plus != kNone && plus != node && wildcards_allowed(parent)) {
        node = plus;  // consumes the same level as its sibling: pos stays
        break;
      }
      node = parent;
      const std::size_t separator = pos - 1;  // the '/' (or end) after the level just undone
      const std::size_t previous = topic.substr(0, separator).rfind('/');
      pos = previous == std::string_view::npos ? 0 : previous + 1;
    }
  }
}

const Subscription* SubscriptionTrie::pick_impl(std::uint32_t g, void* accept,
                                                bool (*call)(void*, const Subscription&)) {
  Group& group = groups_[g];
  if (group.members == kNone) return nullptr;
  std::uint32_t start = group.cursor == kNone ? kNone : entries_[group.cursor].next;
  if (start == kNone) start = group.members;
  std::uint32_t e = start;
  do {
    if (call(accept, entries_[e].subscription)) {
      group.cursor = e;
      return &entries_[e].subscription;
    }
    e = entries_[e].next;
    if (e == kNone) e = group.members;
  } while (e != start);
  return nullptr;
}

}  // namespace psos::mqtt
