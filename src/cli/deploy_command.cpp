// psos deploy and psos rollback (docs/control.md, "Deploy"): the definition checked as psos check
// checks it, each node's running revision asked for and the changes printed, then per node a
// signed bundle sent in chunks (resumed where the node has stopped), applied, watched and
// committed or rolled back; a table of what happened.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <variant>

#include "control/deployment.hpp"
#include "fleet.hpp"
#include "fleet_commands.hpp"
#include "modules/module.hpp"

namespace psos::cli {

namespace asio = boost::asio;
using nlohmann::json;

namespace {

std::string list(const std::vector<std::string>& names) {
  return names.empty() ? "-" : fmt::format("{}", fmt::join(names, ", "));
}

// Per node progress: bars redrawn in a terminal, a line every quarter otherwise.
class Progress {
 public:
  explicit Progress(const std::vector<control::NodeProgress>& nodes)
      : nodes_(nodes), tty_(::isatty(STDERR_FILENO) == 1), quarter_(nodes.size(), -1) {}
  void update() {
    if (tty_) {
      if (drawn_) std::fprintf(stderr, "\033[%zuA", nodes_.size());
      for (const control::NodeProgress& t : nodes_) {
        const double f = t.total_bytes ? double(t.sent_bytes) / double(t.total_bytes) : 1.0;
        const int filled = static_cast<int>(f * 30);
        std::fprintf(stderr, "\033[2K%-12s [%s%s] %3d%% %s\n", t.node.c_str(),
                     std::string(filled, '#').c_str(), std::string(30 - filled, '.').c_str(),
                     static_cast<int>(f * 100), t.result.c_str());
      }
      drawn_ = true;
    } else {
      for (std::size_t i = 0; i < nodes_.size(); ++i) {
        const control::NodeProgress& t = nodes_[i];
        const int q = t.total_bytes ? static_cast<int>(4 * t.sent_bytes / t.total_bytes) : 4;
        if (q > quarter_[i]) {
          quarter_[i] = q;
          std::fprintf(stderr, "%s: sent %llu of %llu bytes\n", t.node.c_str(),
                       static_cast<unsigned long long>(t.sent_bytes),
                       static_cast<unsigned long long>(t.total_bytes));
        }
      }
    }
    std::fflush(stderr);
  }

 private:
  const std::vector<control::NodeProgress>& nodes_;
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

void print_changes(const control::NodeDeploy& t) {
  std::printf("node %s: revision %llu -> %llu\n", t.node.c_str(),
              static_cast<unsigned long long>(t.running),
              static_cast<unsigned long long>(t.next_revision()));
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

int deploy(const DeployArgs& a) {
  std::variant<control::DeployPlan, control::PlanFailure> planned =
      control::plan_deploy(a.file, a.secrets, a.nodes, modules::builtin_catalog());
  if (auto* f = std::get_if<control::PlanFailure>(&planned)) {
    for (const std::string& line : f->diagnostics)
      std::fprintf(stderr, "%s\n", line.c_str());
    return report("deploy", f->status, f->message);
  }
  control::DeployPlan& plan = std::get<control::DeployPlan>(planned);

  try {
    load_key(a.flags);  // the revision request is signed too, even for --dry-run
  } catch (const FleetFailure& f) {
    return report("deploy", f.status, f.what());
  }
  return Fleet("deploy", a.flags).run([&](Fleet& fleet) -> asio::awaitable<int> {
    control::Deployment deployment(fleet.caller(), plan, modules::builtin_catalog(),
                                   fleet.timeout());
    fleet.caller().on_message(
        [&deployment](const client::MessagePtr& m) { deployment.on_message(m); });
    co_await deployment.ask_revisions();
    int status = kExitOk;
    const std::vector<control::NodeProgress>& nodes = deployment.progress();
    for (std::size_t i = 0; i < nodes.size(); ++i) {
      const control::NodeProgress& p = nodes[i];
      if (p.phase == control::DeployPhase::unreached) {
        const control::NodeAddress address{plan.system, p.node};
        control::Reply refusal;
        refusal.error_code = p.refusal_code;
        refusal.error_message = p.refusal_message;
        std::printf("node %s: %s\n", p.node.c_str(),
                    p.no_answer ? fleet.no_answer_message(address).c_str()
                                : Fleet::error_message(address, refusal).c_str());
        status = p.no_answer ? kExitNoAnswer : kExitNodeError;
        continue;
      }
      print_changes(plan.nodes[i]);
    }
    std::fflush(stdout);
    if (a.dry_run) co_return status;

    Progress progress(nodes);
    deployment.on_progress([&progress] { progress.update(); });
    co_await deployment.deploy(
        std::chrono::milliseconds(static_cast<std::int64_t>(a.confirm_s * 1000)));

    std::vector<std::vector<std::string>> rows = {
        {"NODE", "REVISION", "RESTARTED", "RESULT", "TIME"}};
    for (const control::NodeProgress& p : nodes) {
      const bool answered = p.phase != control::DeployPhase::unreached;
      if (p.failed && status == kExitOk) status = kExitNodeError;
      rows.push_back({p.node, answered ? fmt::format("{} -> {}", p.before, p.after) : "-",
                      p.failed ? "-" : list(p.restarted), p.result,
                      answered ? format_duration(p.ms) : "-"});
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
