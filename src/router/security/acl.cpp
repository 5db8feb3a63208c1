// ACL file parsing and the per-message access decisions. Patterns are matched with %u and %c
// substituted level by level, so no decision builds a string.
#include "router/security/acl.hpp"

#include <algorithm>

#include "mqtt/error.hpp"
#include "mqtt/topic.hpp"
#include "router/security/security_file.hpp"

namespace psos::router {
namespace {

// The values %u and %c stand for in one decision; a value that is absent, empty or contains
// '+', '#' or '/' could widen a pattern, so the patterns using it match nothing.
struct Substitution {
  std::string_view user;
  std::string_view client;
  bool user_usable = false;
  bool client_usable = false;
};

bool usable_value(std::string_view value) noexcept {
  return !value.empty() && value.find_first_of("+#/") == std::string_view::npos;
}

Substitution substitution(std::optional<std::string_view> user,
                          std::string_view client_id) noexcept {
  return {user.value_or(std::string_view{}), client_id, user && usable_value(*user),
          usable_value(client_id)};
}

// Walks the '/'-separated levels of a topic or filter; "" has one empty level, "a/" two.
class Levels {
 public:
  explicit Levels(std::string_view text) noexcept : text_(text) {}
  bool done() const noexcept { return pos_ > text_.size(); }
  std::string_view next() noexcept {
    const std::size_t end = std::min(text_.find('/', pos_), text_.size());
    const std::string_view level = text_.substr(pos_, end - pos_);
    pos_ = end + 1;
    return level;
  }
  // What next() has not returned yet.
  std::string_view rest() const noexcept {
    return done() ? std::string_view{} : text_.substr(pos_);
  }

 private:
  std::string_view text_;
  std::size_t pos_ = 0;
};

// Does a rule level (not a wildcard) equal `level`, with %u and %c substituted when `sub` is set?
bool level_equals(std::string_view rule_level, std::string_view level,
                  const Substitution* sub) noexcept {
  if (sub == nullptr) return rule_level == level;
  std::size_t j = 0;
  for (std::size_t i = 0; i < rule_level.size(); ++i) {
    if (rule_level[i] == '%' && i + 1 < rule_level.size() &&
        (rule_level[i + 1] == 'u' || rule_level[i + 1] == 'c')) {
      const std::string_view value = rule_level[i + 1] == 'u' ? sub->user : sub->client;
      if (level.size() - j < value.size() || level.compare(j, value.size(), value) != 0)
        return false;
      j += value.size();
      ++i;
      continue;
    }
    if (j == level.size() || level[j] != rule_level[i]) return false;
    ++j;
  }
  return j == level.size();
}

bool starts_with_wildcard(std::string_view filter) noexcept {
  return !filter.empty() && (filter[0] == '+' || filter[0] == '#');
}

// topic_matches (spec 4.7) with substitution.
bool rule_matches(std::string_view rule, std::string_view topic, const Substitution* sub) noexcept {
  if (!topic.empty() && topic[0] == '$' && starts_with_wildcard(rule)) return false;
  Levels rule_levels(rule);
  Levels topic_levels(topic);
  while (!rule_levels.done()) {
    const std::string_view r = rule_levels.next();
    if (r == "#") return true;  // also matches the parent level: "a/#" matches "a"
    if (topic_levels.done()) return false;
    const std::string_view t = topic_levels.next();
    if (r != "+" && !level_equals(r, t, sub)) return false;
  }
  return topic_levels.done();
}

// filter_covers with substitution.
bool rule_covers(std::string_view rule, std::string_view filter, const Substitution* sub) noexcept {
  // A filter whose first level is literal and starts with '$' matches only '$' topics, which no
  // rule starting with a wildcard matches.
  if (!filter.empty() && filter[0] == '$' && starts_with_wildcard(rule)) return false;
  Levels rule_levels(rule);
  Levels filter_levels(filter);
  bool first_level = true;
  while (!rule_levels.done()) {
    const std::string_view r = rule_levels.next();
    if (r == "#") return true;
    if (filter_levels.done()) return false;  // "a" is not covered by "a/+"
    const std::string_view f = filter_levels.next();
    if (f == "#") {
      // Below the first level '#' also matches its parent ("a/#" matches "a"), which only a '#'
      // rule level matches too. As the whole filter it has no parent, and "+/#" covers it.
      return first_level && r == "+" && rule_levels.rest() == "#";
    }
    first_level = false;
    if (r == "+") continue;
    if (f == "+") return false;
    if (!level_equals(r, f, sub)) return false;
  }
  return filter_levels.done();
}

// Does `check` hold for one of `rules`? Patterns get the substitution, and match nothing when a
// value they use is not usable.
template <typename Rules, typename Check>
bool any_rule(const Rules& rules, const Substitution& sub, Check check) noexcept {
  for (const auto& rule : rules) {
    if (!rule.uses_user && !rule.uses_client) {
      if (check(rule.filter, nullptr)) return true;
      continue;
    }
    if ((rule.uses_user && !sub.user_usable) || (rule.uses_client && !sub.client_usable)) continue;
    if (check(rule.filter, &sub)) return true;
  }
  return false;
}

// Builds a message by appending: GCC 12 at -O3 reports a false -Wrestrict (GCC bug 105651) in
// the `"text" + std::string(...)` chains that would say the same.
template <typename... Pieces>
std::string concat(const Pieces&... pieces) {
  std::string text;
  (text.append(std::string_view(pieces)), ...);
  return text;
}

enum class Access { Read, Write, ReadWrite, Deny };

std::optional<Access> parse_access(std::string_view word) noexcept {
  if (word == "read") return Access::Read;
  if (word == "write") return Access::Write;
  if (word == "readwrite") return Access::ReadWrite;
  if (word == "deny") return Access::Deny;
  return std::nullopt;
}

}  // namespace

bool filter_covers(std::string_view rule, std::string_view filter) noexcept {
  return rule_covers(rule, filter, nullptr);
}

Acl Acl::allow_all() {
  Acl acl;
  acl.allow_all_ = true;
  return acl;
}

Acl Acl::load(const std::filesystem::path& path) {
  return parse(read_security_file(path), path.string());
}

Acl Acl::parse(std::string_view text, std::string_view source) {
  struct Entry {
    Access access;
    Rule rule;
  };
  std::vector<Entry> anonymous;
  std::vector<Entry> patterns;
  std::unordered_map<std::string, std::vector<Entry>> users;  // repeated user blocks merge
  std::vector<Entry>* current = &anonymous;
  std::vector<std::string> problems;

  std::size_t number = 0;
  for (const std::string_view raw : split_lines(text)) {
    ++number;
    std::string_view line = trim(raw);
    if (line.empty() || line.front() == '#') continue;
    const auto problem = [&](const std::string& message) {
      problems.push_back(located(source, number, message));
    };
    if (!mqtt::is_valid_utf8(line)) {
      problem("line is not well-formed UTF-8");
      continue;
    }
    const std::string_view keyword = take_word(line);
    if (keyword == "user") {
      if (line.empty()) {
        problem("'user' needs a user name");
        continue;
      }
      current = &users[std::string(line)];  // node-based: stays valid as the map grows
      continue;
    }
    if (keyword != "topic" && keyword != "pattern") {
      problem(concat("unknown keyword '", keyword, "': expected 'user', 'topic' or 'pattern'"));
      continue;
    }
    Access access = Access::ReadWrite;
    std::string_view filter = line;
    std::string_view rest = line;
    const std::string_view first = take_word(rest);
    if (const auto given = parse_access(first)) {
      access = *given;
      filter = rest;
      if (filter.empty()) {
        problem(concat("'", keyword, " ", first, "' needs a topic filter after the access"));
        continue;
      }
    }
    if (filter.empty()) {
      problem(concat("'", keyword, "' needs [read|write|readwrite|deny] and a topic filter"));
      continue;
    }
    if (filter.starts_with("$share/")) {
      problem(concat("rules name topics, not shared subscriptions: write '",
                     mqtt::split_shared(filter).filter,
                     "' (a $share/<group>/<filter> subscription is checked against <filter>)"));
      continue;
    }
    if (const mqtt::Error error = mqtt::validate_topic_filter(filter)) {
      problem(concat("invalid topic filter '", filter, "': ", error.message));
      continue;
    }
    Rule rule{std::string(filter), false, false};
    if (keyword == "pattern") {
      rule.uses_user = filter.find("%u") != std::string_view::npos;
      rule.uses_client = filter.find("%c") != std::string_view::npos;
      patterns.push_back({access, std::move(rule)});
    } else {
      current->push_back({access, std::move(rule)});
    }
  }
  if (!problems.empty()) throw SecurityFileError(std::move(problems));

  const auto add = [](RuleSet& set, const Entry& entry) {
    switch (entry.access) {
      case Access::Read:
        set.read.push_back(entry.rule);
        break;
      case Access::Write:
        set.write.push_back(entry.rule);
        break;
      case Access::ReadWrite:
        set.read.push_back(entry.rule);
        set.write.push_back(entry.rule);
        break;
      case Access::Deny:
        set.deny.push_back(entry.rule);
        break;
    }
  };
  Acl acl;
  for (const Entry& entry : anonymous)
    add(acl.anonymous_, entry);
  for (const Entry& entry : patterns) {
    if (!entry.rule.uses_user) add(acl.anonymous_, entry);
    add(acl.other_users_, entry);
  }
  for (const auto& [name, entries] : users) {
    RuleSet& set = acl.users_[name];
    for (const Entry& entry : entries)
      add(set, entry);
    for (const Entry& entry : patterns)
      add(set, entry);
  }
  return acl;
}

const Acl::RuleSet& Acl::rules_for(std::optional<std::string_view> user) const noexcept {
  if (!user) return anonymous_;
  const auto found = users_.find(*user);
  return found == users_.end() ? other_users_ : found->second;
}

bool Acl::can_publish(std::optional<std::string_view> user, std::string_view client_id,
                      std::string_view topic) const noexcept {
  if (allow_all_) return true;
  const RuleSet& rules = rules_for(user);
  const Substitution sub = substitution(user, client_id);
  const auto matches = [topic](std::string_view rule, const Substitution* s) {
    return rule_matches(rule, topic, s);
  };
  return !any_rule(rules.deny, sub, matches) && any_rule(rules.write, sub, matches);
}

bool Acl::can_subscribe(std::optional<std::string_view> user, std::string_view client_id,
                        std::string_view filter) const noexcept {
  if (allow_all_) return true;
  const RuleSet& rules = rules_for(user);
  const Substitution sub = substitution(user, client_id);
  const auto covers = [f = mqtt::split_shared(filter).filter](std::string_view rule,
                                                              const Substitution* s) {
    return rule_covers(rule, f, s);
  };
  return !any_rule(rules.deny, sub, covers) && any_rule(rules.read, sub, covers);
}

bool Acl::can_receive(std::optional<std::string_view> user, std::string_view client_id,
                      std::string_view topic) const noexcept {
  if (allow_all_) return true;
  const RuleSet& rules = rules_for(user);
  const Substitution sub = substitution(user, client_id);
  const auto matches = [topic](std::string_view rule, const Substitution* s) {
    return rule_matches(rule, topic, s);
  };
  return !any_rule(rules.deny, sub, matches) && any_rule(rules.read, sub, matches);
}

}  // namespace psos::router
