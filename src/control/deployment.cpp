// Deploying over the control plane (see deployment.hpp).
#include "control/deployment.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <stdexcept>

#include "control/bundle.hpp"
#include "control/digest.hpp"

namespace psos::control {

namespace asio = boost::asio;
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

}  // namespace

const char* to_string(DeployPhase phase) {
  switch (phase) {
    case DeployPhase::asking:
      return "asking";
    case DeployPhase::unreached:
      return "unreached";
    case DeployPhase::ready:
      return "ready";
    case DeployPhase::sending:
      return "sending";
    case DeployPhase::applying:
      return "applying";
    case DeployPhase::done:
      return "done";
  }
  return "?";
}

struct Deployment::Impl {
  // A transfer under way: what the node has acknowledged.
  struct Transfer {
    std::uint32_t acked = 0;
    bool done = false;
    std::string error;
    std::int64_t last_ack_ms = 0;
  };

  Impl(Caller& c, DeployPlan& p, const modules::ModuleCatalog& cat, std::chrono::milliseconds t)
      : caller(c), plan(p), catalog(cat), timeout(t) {
    for (const NodeDeploy& n : plan.nodes) {
      NodeProgress node;
      node.node = n.node;
      progress.push_back(std::move(node));
    }
  }

  Caller& caller;
  DeployPlan& plan;
  const modules::ModuleCatalog& catalog;
  std::chrono::milliseconds timeout;
  std::vector<NodeProgress> progress;
  std::function<void()> on_progress;
  std::map<std::string, Transfer*> acks;  // by ack topic

  void changed() {
    if (on_progress) on_progress();
  }

  // Runs `task(i)` for each node index in `which` at once; completes when all have.
  template <class Task>
  asio::awaitable<void> each_at_once(const std::vector<std::size_t>& which, Task task) {
    std::size_t running = which.size();
    if (running == 0) co_return;
    asio::steady_timer all_done(caller.executor(), asio::steady_timer::time_point::max());
    for (const std::size_t i : which) {
      asio::co_spawn(caller.executor(), task(i), [&, i](std::exception_ptr e) {
        if (e) {
          try {
            std::rethrow_exception(e);
          } catch (const std::exception& x) {
            NodeProgress& p = progress[i];
            p.phase = DeployPhase::done;
            p.result = std::string("failed: ") + x.what();
            p.failed = true;
            changed();
          }
        }
        if (--running == 0) all_done.cancel();
      });
    }
    co_await all_done.async_wait(use_tuple);
  }

  asio::awaitable<void> ask(std::size_t i) {
    NodeDeploy& t = plan.nodes[i];
    NodeProgress& p = progress[i];
    // Locals, not temporaries, in co_await expressions: g++ 12 destroys those twice.
    const NodeAddress address{plan.system, t.node};
    const std::string verb = "revision";
    json no_args = json::object();
    const std::optional<Reply> reply =
        co_await caller.request(address, verb, std::move(no_args), timeout);
    if (!reply || !reply->ok) {
      p.phase = DeployPhase::unreached;
      p.no_answer = !reply;
      p.failed = true;
      p.result = reply ? "refused" : "no answer";
      if (reply) {
        p.refusal_code = reply->error_code;
        p.refusal_message = reply->error_message;
      }
      changed();
      co_return;
    }
    compare_running(t, reply->result, plan.secrets, catalog);
    p.before = p.after = t.running;
    p.phase = DeployPhase::ready;
    changed();
  }

  asio::awaitable<void> send(std::size_t i, std::chrono::milliseconds confirm) {
    NodeDeploy& t = plan.nodes[i];
    NodeProgress& p = progress[i];
    const auto started = std::chrono::steady_clock::now();
    const NodeAddress address{plan.system, t.node};
    const PrivateKey* key = caller.key();
    if (key == nullptr) throw std::logic_error("Deployment: the caller has no key to sign with");
    Manifest m;
    m.system = plan.system;
    m.node = t.node;
    m.revision = t.next_revision();
    m.issued_ms = epoch_ms();
    m.expires_ms = m.issued_ms + kBundleLifetimeMs;
    m.definition = t.paths.front();
    for (const std::string& path : t.paths)
      m.files.push_back({path, plan.contents.at(path).size(), sha256_hex(plan.contents.at(path))});
    const SignedManifest signed_manifest = sign_manifest(m, *key);
    p.total_bytes = m.total_bytes();
    p.phase = DeployPhase::sending;
    const auto finish = [&](std::string result, bool failed) {
      p.phase = DeployPhase::done;
      p.result = std::move(result);
      p.failed = failed;
      p.ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::steady_clock::now() - started)
                 .count();
      changed();
    };

    asio::steady_timer tick(caller.executor());
    Transfer transfer;
    while (!transfer.done) {
      json begin_args = {{"manifest", signed_manifest.text},
                         {"signature", signed_manifest.signature}};
      const std::string begin = "deploy.begin";
      const std::optional<Reply> reply =
          co_await caller.request(address, begin, std::move(begin_args), timeout);
      if (!reply) co_return finish("no answer to deploy.begin", true);
      if (!reply->ok)
        co_return finish(fmt::format("refused: {} ({})", reply->error_message, reply->error_code),
                         true);
      TransferStart start;
      try {
        start = decode_transfer_start(reply->result);
      } catch (const std::invalid_argument& e) {
        co_return finish(std::string("bad deploy.begin reply: ") + e.what(), true);
      }
      const TransferPlan& chunks = start.plan;
      p.sent_bytes = p.total_bytes - chunks.bytes();
      transfer.acked = 0;
      transfer.error.clear();
      transfer.done = chunks.chunks() == 0;
      const std::string ack = ack_topic(plan.system, t.node, start.transfer);
      acks[ack] = &transfer;
      co_await caller.subscribe(ack, mqtt::QoS::AtLeastOnce);
      const std::string data = chunk_topic(plan.system, t.node, start.transfer);
      transfer.last_ack_ms = epoch_ms();
      std::uint32_t seq = 0;
      bool stalled = false;
      while (!transfer.done && transfer.error.empty()) {
        if (seq < chunks.chunks() && seq < transfer.acked + start.window) {
          const TransferPlan::Piece piece = chunks.piece(seq);
          const std::string& bytes = plan.contents.at(chunks.files()[piece.file].path);
          mqtt::Message chunk;
          chunk.topic = data;
          chunk.payload =
              encode_chunk(seq, std::string_view(bytes).substr(piece.offset, piece.length));
          chunk.qos = mqtt::QoS::AtLeastOnce;
          caller.post(std::move(chunk));
          p.sent_bytes += piece.length;
          ++seq;
          if (seq % 16 == 0) changed();
          continue;
        }
        if (epoch_ms() - transfer.last_ack_ms > std::chrono::milliseconds(kStall).count()) {
          stalled = true;
          break;
        }
        tick.expires_after(std::chrono::milliseconds(2));
        co_await tick.async_wait(use_tuple);
      }
      acks.erase(ack);
      co_await caller.unsubscribe(ack);
      if (!transfer.error.empty()) co_return finish("transfer failed: " + transfer.error, true);
      if (stalled) {
        if (std::chrono::steady_clock::now() - started > timeout)
          co_return finish("transfer timed out", true);
        continue;  // begin again: the node says what it has
      }
    }
    p.phase = DeployPhase::applying;
    changed();

    // Applying takes the confirm window: the reply comes after it.
    json apply_args = {{"revision", m.revision}, {"confirm", confirm.count()}};
    const std::string apply = "deploy.apply";
    const auto wait = timeout + confirm;
    const std::optional<Reply> applied =
        co_await caller.request(address, apply, std::move(apply_args), wait);
    if (!applied) co_return finish("no answer to deploy.apply", true);
    if (!applied->ok) {
      const bool rolled_back = applied->error_code == "rolled_back";
      co_return finish(
          rolled_back ? "rolled back: " + applied->error_message
                      : fmt::format("failed: {} ({})", applied->error_message, applied->error_code),
          true);
    }
    p.after = m.revision;
    p.restarted = applied->result.value("restarted", std::vector<std::string>{});
    p.restarting = applied->result.value("restarting", false);
    finish(p.restarting ? "committed, node restarting" : "committed", false);
  }
};

Deployment::Deployment(Caller& caller, DeployPlan& plan, const modules::ModuleCatalog& catalog,
                       std::chrono::milliseconds timeout)
    : impl_(std::make_unique<Impl>(caller, plan, catalog, timeout)) {}

Deployment::~Deployment() = default;

void Deployment::on_progress(std::function<void()> callback) {
  impl_->on_progress = std::move(callback);
}

void Deployment::on_message(const client::MessagePtr& message) {
  const auto found = impl_->acks.find(message->topic);
  if (found == impl_->acks.end()) return;
  Impl::Transfer& t = *found->second;
  try {
    const Ack ack = decode_ack(message->payload);
    if (!ack.error_code.empty()) {
      t.error = ack.error_message + " (" + ack.error_code + ")";
      return;
    }
    t.acked = std::max(t.acked, ack.next);
    t.done = t.done || ack.done;
    t.last_ack_ms = epoch_ms();
  } catch (const std::invalid_argument& e) {
    t.error = std::string("bad acknowledgement: ") + e.what();
  }
}

asio::awaitable<void> Deployment::ask_revisions() {
  std::vector<std::size_t> all;
  for (std::size_t i = 0; i < impl_->plan.nodes.size(); ++i)
    all.push_back(i);
  co_await impl_->each_at_once(all, [this](std::size_t i) { return impl_->ask(i); });
}

asio::awaitable<void> Deployment::deploy(std::chrono::milliseconds confirm) {
  std::vector<std::size_t> ready;
  for (std::size_t i = 0; i < impl_->progress.size(); ++i)
    if (impl_->progress[i].phase == DeployPhase::ready) ready.push_back(i);
  co_await impl_->each_at_once(ready,
                               [this, confirm](std::size_t i) { return impl_->send(i, confirm); });
}

const std::vector<NodeProgress>& Deployment::progress() const {
  return impl_->progress;
}

json Deployment::progress_json() const {
  json out = json::array();
  for (std::size_t i = 0; i < impl_->progress.size(); ++i) {
    const NodeProgress& p = impl_->progress[i];
    json n = {{"node", p.node},
              {"phase", to_string(p.phase)},
              {"sent", p.sent_bytes},
              {"total", p.total_bytes},
              {"before", p.before},
              {"after", p.after},
              {"restarted", p.restarted},
              {"restarting", p.restarting},
              {"result", p.result},
              {"failed", p.failed},
              {"ms", p.ms}};
    if (p.phase == DeployPhase::unreached && !p.no_answer)
      n["result"] = "refused: " + p.refusal_message + " (" + p.refusal_code + ")";
    const NodeDeploy& t = impl_->plan.nodes[i];
    if (t.answered) n["changes"] = node_changes_json(t, impl_->catalog);
    out.push_back(std::move(n));
  }
  return out;
}

}  // namespace psos::control
