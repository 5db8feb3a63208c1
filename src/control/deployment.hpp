// The caller's side of a deploy over the network (docs/control.md, "Deploy"): each node of a
// plan (deploy_plan.hpp) asked for the revision it runs, then sent a signed bundle in chunks
// (window and resume where the node has stopped), applied, watched and committed or rolled back.
// Progress is kept per node and reported through a callback: psos deploy draws it in a
// terminal, the dashboard streams it to the page.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "control/caller.hpp"
#include "control/deploy_plan.hpp"

namespace psos::control {

enum class DeployPhase : std::uint8_t {
  asking,     // waiting for the node's answer to `revision`
  unreached,  // it did not answer, or refused: nothing is sent to it
  ready,      // its changes are known (a dry run ends here)
  sending,    // the bundle's chunks are on their way
  applying,   // sent; the node applies it and watches for the confirm window
  done,       // committed, or failed (see `failed`)
};
// "asking", "unreached", ... as the page shows them.
const char* to_string(DeployPhase phase);

// What became of one node, as it goes.
struct NodeProgress {
  std::string node;
  DeployPhase phase = DeployPhase::asking;
  // The node's answer to `revision` when it was an error: its code and message; no_answer when
  // none came.
  bool no_answer = false;
  std::string refusal_code, refusal_message;
  std::uint64_t sent_bytes = 0, total_bytes = 0;
  std::uint64_t before = 0;  // the revision it ran
  std::uint64_t after = 0;   // the revision it runs now (before, unless committed)
  std::vector<std::string> restarted;
  bool restarting = false;  // a setting that restarts the node changed
  std::string result;       // "committed", "rolled back: ...", "refused: ...", ...
  bool failed = false;
  std::int64_t ms = 0;  // from the first chunk to the result
};

class Deployment {
 public:
  // `caller`, `plan` and `catalog` outlive the Deployment; the caller's key signs requests and
  // bundles. `timeout`: how long a node has to answer a request (and a transfer to finish).
  Deployment(Caller& caller, DeployPlan& plan, const modules::ModuleCatalog& catalog,
             std::chrono::milliseconds timeout);
  ~Deployment();
  Deployment(const Deployment&) = delete;
  Deployment& operator=(const Deployment&) = delete;

  // Called after every change of progress() (bars, results), at most every 16 chunks a node.
  void on_progress(std::function<void()> callback);
  // Every message the caller receives must come here (the caller has one handler: its owner
  // passes them on): the nodes' acknowledgements are among them.
  void on_message(const client::MessagePtr& message);

  // Asks every node of the plan for its revision, all at once, and compares (compare_running):
  // each node ends `ready` or `unreached`.
  boost::asio::awaitable<void> ask_revisions();
  // Sends, applies and waits for every `ready` node at once; `confirm` is how long each node
  // watches its new services before it commits. Completes when every node has a result.
  boost::asio::awaitable<void> deploy(std::chrono::milliseconds confirm);

  const std::vector<NodeProgress>& progress() const;
  // progress() for a page: [{"node", "phase", "sent", "total", "before", "after", "restarted",
  // "restarting", "result", "failed", "ms"}], each node's "changes" (node_changes_json) once known.
  nlohmann::json progress_json() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace psos::control
