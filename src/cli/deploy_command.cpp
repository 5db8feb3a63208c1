// psos deploy and psos rollback (docs/control.md, "Deploy"): the definition checked as psos check
// checks it, each node's running revision asked for and the changes printed, then per node a
// signed bundle sent in chunks (resumed where the node has stopped), applied, watched and
// committed or rolled back; a table of what happened.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstdio>
#include <map>
#include <set>

#include "control/bundle.hpp"
#include "control/digest.hpp"
#include "definition_input.hpp"
#include "fleet.hpp"
#include "fleet_commands.hpp"
#include "modules/module.hpp"
#include "system/node_changes.hpp"

namespace psos::cli {

namespace asio = boost::asio;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
// No acknowledgement for this long: the transfer is begun again where the node has stopped.
constexpr auto kStall = std::chrono::seconds(3);

std::int64_t epoch_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string list(const std::vector<std::string>& names) {
  return names.empty() ? "-" : fmt::format("{}", fmt::join(names, ", "));
}

// What is deployed to one node, and what became of it.
struct Target {
  std::string name;
  system::NodeDefinition after;
  system::FileHashes after_files;
  std::vector<std::string> paths;  // the bundle's files: the definition, then what services read
  // From the node.
  bool answered = false;
  std::uint64_t running = 0, highest = 0;
  system::NodeChanges changes;
  // The transfer.
  std::uint64_t sent_bytes = 0, total_bytes = 0;
  std::uint32_t acked = 0;
  bool done = false;
  std::string ack_error;
  std::int64_t last_ack_ms = 0;
  // The result.
  std::string result;
  std::string restarted = "-";
  std::uint64_t revision = 0;
  std::int64_t ms = 0;
  bool failed = false;
};

// Per node progress: bars redrawn in a terminal, a line every quarter otherwise.
class Progress {
 public:
  explicit Progress(std::vector<Target>& targets)
      : targets_(targets), tty_(::isatty(STDERR_FILENO) == 1), quarter_(targets.size(), -1) {}
  void update() {
    if (tty_) {
      if (drawn_) std::fprintf(stderr, "\033[%zuA", targets_.size());
      for (const Target& t : targets_) {
        const double f = t.total_bytes ? double(t.sent_bytes) / double(t.total_bytes) : 1.0;
        const int filled = static_cast<int>(f * 30);
        std::fprintf(stderr, "\033[2K%-12s [%s%s] %3d%% %s\n", t.name.c_str(),
                     std::string(filled, '#').c_str(), std::string(30 - filled, '.').c_str(),
                     static_cast<int>(f * 100), t.result.c_str());
      }
      drawn_ = true;
    } else {
      for (std::size_t i = 0; i < targets_.size(); ++i) {
        const Target& t = targets_[i];
        const int q = t.total_bytes ? static_cast<int>(4 * t.sent_bytes / t.total_bytes) : 4;
        if (q > quarter_[i]) {
          quarter_[i] = q;
          std::fprintf(stderr, "%s: sent %llu of %llu bytes\n", t.name.c_str(),
                       static_cast<unsigned long long>(t.sent_bytes),
                       static_cast<unsigned long long>(t.total_bytes));
        }
      }
    }
    std::fflush(stderr);
  }

 private:
  std::vector<Target>& targets_;
  bool tty_;
  bool drawn_ = false;
  std::vector<int> quarter_;
};

struct DeployArgs {
  FleetFlags flags;
  std::string file;
  std::vector<std::string> nodes;
  bool dry_run = false;
  double confirm_s = 30;
  std::string secrets;
};

// The node's running revision expanded as this command expands the new one, and the changes.
void compare(Target& t, const json& running, const system::Secrets& secrets) {
  t.answered = true;
  t.running = running.at("revision").get<std::uint64_t>();
  t.highest = running.at("highest").get<std::uint64_t>();
  system::FileHashes before_files;
  for (const auto& [path, sha] : running.at("files").items())
    before_files[path] = sha.get<std::string>();
  system::Diagnostics errors;
  const std::string file = running.at("file").get<std::string>();
  std::optional<system::Definition> d =
      system::parse_definition(running.at("definition").get<std::string>(), file, errors);
  std::optional<system::NodeDefinition> before;
  if (d) before = system::expand(*d, t.name, secrets, modules::builtin_catalog(), errors);
  if (!before) {
    // What the node runs cannot be expanded here (secrets of its own): every service changes.
    before.emplace();
    before->system = t.after.system;
    before->name = t.name;
  }
  t.changes =
      system::diff_nodes(*before, before_files, t.after, t.after_files, modules::builtin_catalog());
}

void print_changes(const Target& t) {
  std::printf("node %s: revision %llu -> %llu\n", t.name.c_str(),
              static_cast<unsigned long long>(t.running),
              static_cast<unsigned long long>(std::max(t.running, t.highest) + 1));
  const system::NodeChanges& c = t.changes;
  if (c.empty()) {
    std::printf("  nothing changes\n");
    return;
  }
  for (const std::string& s : c.added)
    std::printf("  added      %s\n", s.c_str());
  for (const std::string& s : c.removed)
    std::printf("  removed    %s\n", s.c_str());
  for (const system::ServiceChange& s : c.changed) {
    std::vector<std::string> what = s.params;
    for (const std::string& f : s.files)
      what.push_back("file " + f);
    std::printf("  changed    %s (%s)\n", s.name.c_str(), list(what).c_str());
  }
  if (!c.unchanged.empty()) std::printf("  unchanged  %s\n", list(c.unchanged).c_str());
  if (!c.settings.empty())
    std::printf("  settings   %s%s\n", list(c.settings).c_str(),
                c.restarts_node() ? " (the node restarts)" : "");
}

class Deployment {
 public:
  Deployment(Fleet& fleet, const DeployArgs& args, std::string system,
             std::map<std::string, std::string> contents, const control::PrivateKey& key)
      : fleet_(fleet),
        args_(args),
        system_(std::move(system)),
        contents_(std::move(contents)),
        key_(key) {}

  asio::awaitable<void> send(Target& t, Progress& progress) {
    const auto started = std::chrono::steady_clock::now();
    const control::NodeAddress address{system_, t.name};
    control::Manifest m;
    m.system = system_;
    m.node = t.name;
    m.revision = std::max(t.running, t.highest) + 1;
    m.issued_ms = epoch_ms();
    m.expires_ms = m.issued_ms + control::kBundleLifetimeMs;
    m.definition = t.paths.front();
    for (const std::string& p : t.paths)
      m.files.push_back({p, contents_.at(p).size(), control::sha256_hex(contents_.at(p))});
    const control::SignedManifest signed_manifest = control::sign_manifest(m, key_);
    t.total_bytes = m.total_bytes();
    const auto finish = [&](std::string result, bool failed) {
      t.result = std::move(result);
      t.failed = failed;
      t.ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::steady_clock::now() - started)
                 .count();
      progress.update();
    };

    asio::steady_timer tick(fleet_.executor());
    while (!t.done) {
      json begin_args = {{"manifest", signed_manifest.text},
                         {"signature", signed_manifest.signature}};
      const std::string begin = "deploy.begin";
      const std::optional<control::Reply> reply =
          co_await fleet_.ask(address, begin, std::move(begin_args));
      if (!reply) co_return finish("no answer to deploy.begin", true);
      if (!reply->ok)
        co_return finish(fmt::format("refused: {} ({})", reply->error_message, reply->error_code),
                         true);
      control::TransferStart start;
      try {
        start = control::decode_transfer_start(reply->result);
      } catch (const std::invalid_argument& e) {
        co_return finish(std::string("bad deploy.begin reply: ") + e.what(), true);
      }
      const control::TransferPlan& plan = start.plan;
      t.sent_bytes = t.total_bytes - plan.bytes();
      t.acked = 0;
      t.ack_error.clear();
      t.done = plan.chunks() == 0;
      const std::string ack = control::ack_topic(system_, t.name, start.transfer);
      acks_[ack] = &t;
      co_await fleet_.caller().subscribe(ack, mqtt::QoS::AtLeastOnce);
      const std::string data = control::chunk_topic(system_, t.name, start.transfer);
      t.last_ack_ms = epoch_ms();
      std::uint32_t seq = 0;
      bool stalled = false;
      while (!t.done && t.ack_error.empty()) {
        if (seq < plan.chunks() && seq < t.acked + start.window) {
          const control::TransferPlan::Piece piece = plan.piece(seq);
          const std::string& bytes = contents_.at(plan.files()[piece.file].path);
          mqtt::Message chunk;
          chunk.topic = data;
          chunk.payload = control::encode_chunk(
              seq, std::string_view(bytes).substr(piece.offset, piece.length));
          chunk.qos = mqtt::QoS::AtLeastOnce;
          fleet_.caller().post(std::move(chunk));
          t.sent_bytes += piece.length;
          ++seq;
          if (seq % 16 == 0) progress.update();
          continue;
        }
        if (epoch_ms() - t.last_ack_ms > std::chrono::milliseconds(kStall).count()) {
          stalled = true;
          break;
        }
        tick.expires_after(std::chrono::milliseconds(2));
        co_await tick.async_wait(use_tuple);
      }
      acks_.erase(ack);
      co_await fleet_.caller().unsubscribe(ack);
      if (!t.ack_error.empty()) co_return finish("transfer failed: " + t.ack_error, true);
      if (stalled) {
        if (std::chrono::steady_clock::now() - started > fleet_.timeout())
          co_return finish("transfer timed out", true);
        continue;  // begin again: the node says what it has
      }
    }
    progress.update();

    // Applying takes the confirm window: the reply comes after it.
    const auto confirm_ms = static_cast<std::int64_t>(args_.confirm_s * 1000);
    json apply_args = {{"revision", m.revision}, {"confirm", confirm_ms}};
    const std::string apply = "deploy.apply";
    const auto wait = fleet_.timeout() + std::chrono::milliseconds(confirm_ms);
    const std::optional<control::Reply> applied =
        co_await fleet_.caller().request(address, apply, std::move(apply_args), wait);
    if (!applied) co_return finish("no answer to deploy.apply", true);
    if (!applied->ok) {
      const bool rolled_back = applied->error_code == "rolled_back";
      co_return finish(
          rolled_back ? "rolled back: " + applied->error_message
                      : fmt::format("failed: {} ({})", applied->error_message, applied->error_code),
          true);
    }
    t.revision = m.revision;
    std::vector<std::string> restarted =
        applied->result.value("restarted", std::vector<std::string>{});
    t.restarted = list(restarted);
    finish(applied->result.value("restarting", false) ? "committed, node restarting" : "committed",
           false);
  }

  void on_message(const client::MessagePtr& message) {
    const auto found = acks_.find(message->topic);
    if (found == acks_.end()) return;
    Target& t = *found->second;
    try {
      const control::Ack ack = control::decode_ack(message->payload);
      if (!ack.error_code.empty()) {
        t.ack_error = ack.error_message + " (" + ack.error_code + ")";
        return;
      }
      t.acked = std::max(t.acked, ack.next);
      t.done = ack.done;
      t.last_ack_ms = epoch_ms();
    } catch (const std::invalid_argument& e) {
      t.ack_error = std::string("bad acknowledgement: ") + e.what();
    }
  }

 private:
  Fleet& fleet_;
  const DeployArgs& args_;
  std::string system_;
  std::map<std::string, std::string> contents_;
  const control::PrivateKey& key_;
  std::map<std::string, Target*> acks_;
};

int deploy(const DeployArgs& a) {
  std::string error;
  const std::optional<std::string> text = read_text_file(a.file, error);
  if (!text) return report("deploy", 2, "cannot read " + a.file + ": " + error);
  system::Diagnostics errors;
  system::Secrets secrets;
  try {
    secrets = load_secrets(a.file, a.secrets, errors);
  } catch (const std::runtime_error& e) {
    return report("deploy", 2, e.what());
  }
  system::CheckResult checked =
      system::check_definition(*text, a.file, secrets, modules::builtin_catalog());
  errors.insert(errors.end(), checked.errors.begin(), checked.errors.end());
  system::sort_and_deduplicate(errors);
  for (const system::Diagnostic& d : errors)
    std::fprintf(stderr, "%s\n", system::to_string(d).c_str());
  if (!errors.empty()) return report("deploy", 1, a.file + " has problems: nothing was sent");

  // The bundle's files: the definition under its own name, and what services read, by the path
  // the definition gives (relative to its directory).
  const fs::path directory = fs::path(a.file).parent_path();
  const std::string definition_name = fs::path(a.file).filename().string();
  std::map<std::string, std::string> contents{{definition_name, *text}};
  std::vector<Target> targets;
  for (const system::NodeDefinition& node : checked.nodes) {
    if (!a.nodes.empty() && std::find(a.nodes.begin(), a.nodes.end(), node.name) == a.nodes.end())
      continue;
    Target t;
    t.name = node.name;
    t.after = node;
    t.paths.push_back(definition_name);
    for (const system::FileReference& r :
         system::file_references(node, modules::builtin_catalog())) {
      if (const std::string problem = control::bundle_path_problem(r.path); !problem.empty())
        return report("deploy", 1,
                      fmt::format("service {} parameter {}: the file {} {}", r.service, r.param,
                                  r.path, problem));
      if (!contents.count(r.path)) {
        const std::optional<std::string> bytes =
            read_text_file((directory / r.path).string(), error);
        if (!bytes) return report("deploy", 2, "cannot read " + r.path + ": " + error);
        if (bytes->size() > control::kMaxFileBytes)
          return report("deploy", 1,
                        fmt::format("{} has {} bytes; a deployed file has at most {}", r.path,
                                    bytes->size(), control::kMaxFileBytes));
        contents[r.path] = *bytes;
      }
      t.after_files[r.path] = control::sha256_hex(contents[r.path]);
      if (std::find(t.paths.begin(), t.paths.end(), r.path) == t.paths.end())
        t.paths.push_back(r.path);
    }
    targets.push_back(std::move(t));
  }
  for (const std::string& n : a.nodes)
    if (std::none_of(targets.begin(), targets.end(), [&](const Target& t) { return t.name == n; }))
      return report("deploy", 2, fmt::format("{} has no node {}", a.file, n));

  std::optional<control::PrivateKey> key;
  try {
    key = load_key(a.flags);  // the revision request is signed too, even for --dry-run
  } catch (const FleetFailure& f) {
    return report("deploy", f.status, f.what());
  }
  const std::string system_name = checked.definition->system();
  return Fleet("deploy", a.flags).run([&](Fleet& fleet) -> asio::awaitable<int> {
    int status = kExitOk;
    for (Target& t : targets) {
      // Locals, not temporaries, in co_await expressions: g++ 12 destroys those twice.
      const control::NodeAddress address{system_name, t.name};
      const std::string verb = "revision";
      json no_args = json::object();
      const std::optional<control::Reply> reply =
          co_await fleet.ask(address, verb, std::move(no_args));
      if (!reply || !reply->ok) {
        std::printf("node %s: %s\n", t.name.c_str(),
                    reply ? Fleet::error_message(address, *reply).c_str()
                          : fleet.no_answer_message(address).c_str());
        t.result = reply ? "refused" : "no answer";
        t.failed = true;
        status = reply ? kExitNodeError : kExitNoAnswer;
        continue;
      }
      compare(t, reply->result, secrets);
      print_changes(t);
    }
    std::fflush(stdout);
    if (a.dry_run) co_return status;

    Deployment deployment(fleet, a, system_name, contents, *key);
    fleet.caller().on_message(
        [&deployment](const client::MessagePtr& m) { deployment.on_message(m); });
    Progress progress(targets);
    std::size_t running = 0;
    asio::steady_timer all_done(fleet.executor(), asio::steady_timer::time_point::max());
    for (Target& t : targets) {
      if (!t.answered) continue;
      ++running;
      asio::co_spawn(fleet.executor(), deployment.send(t, progress), [&](std::exception_ptr e) {
        if (e) {
          try {
            std::rethrow_exception(e);
          } catch (const std::exception& x) {
            t.result = std::string("failed: ") + x.what();
            t.failed = true;
          }
        }
        if (--running == 0) all_done.cancel();
      });
    }
    if (running > 0) co_await all_done.async_wait(use_tuple);

    std::vector<std::vector<std::string>> rows = {
        {"NODE", "REVISION", "RESTARTED", "RESULT", "TIME"}};
    for (const Target& t : targets) {
      if (t.failed && status == kExitOk) status = kExitNodeError;
      rows.push_back(
          {t.name,
           t.answered ? fmt::format("{} -> {}", t.running, t.failed ? t.running : t.revision) : "-",
           t.restarted, t.result, t.answered ? format_duration(t.ms) : "-"});
    }
    std::fputs(format_table(rows).c_str(), stdout);
    co_return status;
  });
}

}  // namespace

FleetCommand deploy_command(CLI::App& parent) {
  auto a = std::make_shared<DeployArgs>();
  CLI::App* app =
      parent.add_subcommand("deploy", "Send a definition to its nodes; only what changed restarts");
  app->footer(fleet_footer(R"(
Checks FILE as psos check does (nothing is sent when it has problems), asks
each node of it (or those named with --node) for the revision it runs and
prints what changes: services added, removed, changed (which parameters or
files) and unchanged, and node settings. --dry-run stops there.

Then each node gets a signed bundle (the definition and the files its services
read) in chunks, resumed where it stopped after an interruption; the node
stops the removed and changed services, starts the added and changed ones and
leaves the rest running. It watches them for --confirm seconds (default 30):
when they run and a message it sends itself comes back, the revision is
committed and runs at the node's next start; otherwise the node goes back to
the revision it ran and says why. A table ends the run; exit 1 when a node
refused or rolled back. Settings a node cannot change live (listen, uplink,
admins, log.buffer) restart it.)",
                           R"(
  psos deploy greenhouse.json --dry-run
  psos deploy greenhouse.json --node e01 --confirm 10)"));
  a->flags.add_to(*app);
  app->add_option("FILE", a->file, "The definition")->required();
  app->add_option("--node", a->nodes, "Only this node (repeat)")->option_text("NODE");
  app->add_flag("--dry-run", a->dry_run, "Print what would change; send nothing");
  app->add_option("--confirm", a->confirm_s, "Seconds the node watches before it commits")
      ->option_text("SECONDS")
      ->check(CLI::Range(0.0, 3600.0));
  app->add_option("--secrets", a->secrets, "The secrets file, as psos check takes it")
      ->option_text("FILE");
  return {app, [a] { return deploy(*a); }};
}

FleetCommand rollback_command(CLI::App& parent) {
  struct Args {
    FleetFlags flags;
    std::string node;
  };
  auto a = std::make_shared<Args>();
  CLI::App* app =
      parent.add_subcommand("rollback", "Take a node back to its previous committed revision");
  app->footer(fleet_footer(R"(
Takes NODE back to the revision it had committed before the one it runs (the
file on its command line when that was revision 0), live: only the services
that differ restart.)",
                           R"(
  psos rollback gw)"));
  a->flags.add_to(*app);
  app->add_option("NODE", a->node, "NODE or SYSTEM/NODE")->required();
  return {app, [a] {
            return Fleet("rollback", a->flags).run([a](Fleet& fleet) -> asio::awaitable<int> {
              const std::string verb = "rollback";
              const control::NodeAddress node = co_await fleet.resolve(a->node);
              json no_args = json::object();
              const json result = co_await fleet.request(node, verb, std::move(no_args));
              std::printf("%s: revision %llu -> %llu; restarted %s, added %s, removed %s\n",
                          node.to_string().c_str(),
                          static_cast<unsigned long long>(result.value("before", 0ull)),
                          static_cast<unsigned long long>(result.value("revision", 0ull)),
                          list(result.value("restarted", std::vector<std::string>{})).c_str(),
                          list(result.value("added", std::vector<std::string>{})).c_str(),
                          list(result.value("removed", std::vector<std::string>{})).c_str());
              co_return kExitOk;
            });
          }};
}

}  // namespace psos::cli
