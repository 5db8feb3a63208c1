// Who may publish, subscribe to and receive which topics: the broker's ACL file (Mosquitto's
// acl_file syntax) compiled into one rule list per user, checked without allocating.
// Syntax and semantics: docs/security.md.
#pragma once

#include <cstddef>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace psos::router {

// The decisions take the client's user name (nullopt for a client that sent none) and client
// identifier; a user name is trusted as given, so pair an ACL with a password file.
class Acl {
 public:
  // No ACL file: every decision is yes.
  static Acl allow_all();
  // An ACL file: what no rule grants is denied. Throws SecurityFileError listing every problem
  // as FILE:LINE: message.
  static Acl load(const std::filesystem::path& path);
  // The same from text in memory; `source` names it in error messages.
  static Acl parse(std::string_view text, std::string_view source);

  // PUBLISH to `topic` (a valid topic name): a write rule matches it and no deny rule does.
  bool can_publish(std::optional<std::string_view> user, std::string_view client_id,
                   std::string_view topic) const noexcept;
  // SUBSCRIBE to `filter` (a valid filter; `$share/<group>/f` is checked as `f`): one read rule
  // covers every topic the filter can match, and no deny rule does. A deny rule that covers only
  // part of the filter does not refuse the subscription: can_receive() drops those messages.
  bool can_subscribe(std::optional<std::string_view> user, std::string_view client_id,
                     std::string_view filter) const noexcept;
  // Delivery of one message on `topic` to this client (checked per message, retained ones
  // included): a read rule matches the topic and no deny rule does.
  bool can_receive(std::optional<std::string_view> user, std::string_view client_id,
                   std::string_view topic) const noexcept;

  bool allows_everything() const noexcept { return allow_all_; }

 private:
  struct Rule {
    std::string filter;
    bool uses_user = false;    // a pattern containing %u
    bool uses_client = false;  // a pattern containing %c
  };
  // What applies to one kind of client; readwrite rules are in both read and write.
  struct RuleSet {
    std::vector<Rule> read;
    std::vector<Rule> write;
    std::vector<Rule> deny;
  };
  struct StringHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept {
      return std::hash<std::string_view>{}(s);
    }
  };

  Acl() = default;
  const RuleSet& rules_for(std::optional<std::string_view> user) const noexcept;

  bool allow_all_ = false;
  RuleSet anonymous_;    // topic lines before the first user line, and patterns without %u
  RuleSet other_users_;  // patterns: users the file does not name
  std::unordered_map<std::string, RuleSet, StringHash, std::equal_to<>> users_;
};

// Does every topic that `filter` matches also match `rule`? Both valid, neither shared. `a/+` is
// covered by `a/+` and `a/#`, not by `a/b`; `#` does not cover `$SYS/#` (spec 4.7.2).
bool filter_covers(std::string_view rule, std::string_view filter) noexcept;

}  // namespace psos::router
