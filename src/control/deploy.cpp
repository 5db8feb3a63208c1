// Deploys on the node (docs/control.md, "Deploy"): a signed bundle's files received in chunks
// into revisions/incoming, applied live (only what changed restarts), watched for the confirm
// window, then committed as last-good or rolled back; and `rollback` to the previous committed
// revision.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fstream>
#include <sstream>

#include "bridge/uplink.hpp"
#include "control/agent_impl.hpp"
#include "control/bundle.hpp"
#include "control/digest.hpp"
#include "control/revisions.hpp"
#include "modules/module.hpp"
#include "system/definition_file.hpp"
#include "system/node_changes.hpp"

namespace psos::control {

namespace asio = boost::asio;
namespace fs = std::filesystem;
using nlohmann::json;
using namespace asio::experimental::awaitable_operators;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr std::uint32_t kChunkBytes = 64 * 1024;
constexpr std::uint32_t kWindow = 16;
// Revisions kept for rollback besides the committed one.
constexpr std::size_t kKeptRevisions = 5;
constexpr auto kWatchTick = std::chrono::milliseconds(50);
constexpr auto kRoundTrip = std::chrono::seconds(5);

}  // namespace

// The transfer in progress: the chunks of `plan` written into revisions/incoming in order.
struct Transfer {
  std::string id;
  SignedManifest signed_manifest;
  Manifest manifest;
  TransferPlan plan;
  std::uint32_t next = 0;
  bool done = false;
  std::fstream out;
  std::size_t out_file = SIZE_MAX;
};

struct Deployer {
  explicit Deployer(const fs::path& state_dir) : store(state_dir) {}
  RevisionStore store;
  std::optional<Transfer> transfer;
  // The SHA-256 of the files the running revision's services read, by path as written.
  system::FileHashes hashes;
  bool applying = false;
  bool echoed = false;
};

namespace {

system::FileHashes hashes_of(const system::NodeDefinition& node, const fs::path& directory) {
  system::FileHashes hashes;
  for (const system::FileReference& r : system::file_references(node, modules::builtin_catalog()))
    hashes[r.path] = sha256_file(directory / r.path).value_or("");
  return hashes;
}

// A revision's definition read and expanded for this node, as psos run does.
struct Expanded {
  std::shared_ptr<const system::Definition> definition;
  system::NodeDefinition node;
  std::string hash;
  std::string text;
};

Expanded expand_file(Agent::Impl& a, const fs::path& file) {
  std::string text;
  try {
    text = system::read_text_file(file.string());
  } catch (const system::UnreadableFile& e) {
    throw VerbError("invalid_definition", e.what());
  }
  system::Diagnostics errors;
  std::optional<system::Definition> parsed = system::parse_definition(text, file.string(), errors);
  std::optional<system::NodeDefinition> node;
  if (parsed) {
    if (!a.options.overrides.empty()) {
      system::Diagnostics ignored;
      node = system::expand(*parsed, a.node.definition().name, a.options.secrets,
                            modules::builtin_catalog(), ignored, &a.options.overrides);
    }
    if (!node)
      node = system::expand(*parsed, a.node.definition().name, a.options.secrets,
                            modules::builtin_catalog(), errors);
  }
  system::sort_and_deduplicate(errors);
  if (!errors.empty()) throw VerbError("invalid_definition", system::to_string(errors.front()));
  if (!node) throw VerbError("invalid_definition", file.string() + " cannot be read");
  return {std::make_shared<const system::Definition>(std::move(*parsed)), std::move(*node),
          sha256_hex(text), text};
}

void publish_ack(Agent::Impl& a, const Transfer& t, std::string code = {},
                 std::string message = {}) {
  Ack ack{.next = t.next,
          .done = t.done,
          .error_code = std::move(code),
          .error_message = std::move(message)};
  const system::NodeDefinition& def = a.node.definition();
  a.control->publish(ack_topic(def.system, def.name, t.id), encode_ack(ack), mqtt::QoS::AtLeastOnce,
                     false);
}

// Writes a chunk; false with an error acknowledged when the transfer cannot go on.
bool store_chunk(Agent::Impl& a, Transfer& t, const Chunk& chunk) {
  const TransferPlan::Piece piece = t.plan.piece(chunk.seq);
  const NeededFile& file = t.plan.files()[piece.file];
  if (chunk.data.size() != piece.length) {
    publish_ack(a, t, "bad_chunk",
                fmt::format("chunk {} has {} bytes; the plan says {}", chunk.seq, chunk.data.size(),
                            piece.length));
    return false;
  }
  const fs::path path = a.deployer->store.incoming() / file.path;
  if (t.out_file != piece.file) {
    t.out.close();
    t.out.open(path, std::ios::binary | std::ios::in | std::ios::out);
    t.out_file = piece.file;
  }
  t.out.seekp(static_cast<std::streamoff>(piece.offset));
  t.out.write(chunk.data.data(), static_cast<std::streamsize>(chunk.data.size()));
  if (piece.last) t.out.flush();
  if (!t.out) {
    t.out.close();
    t.out_file = SIZE_MAX;
    publish_ack(a, t, "write_failed", "cannot write " + path.string());
    return false;
  }
  if (piece.last) {
    t.out.close();
    t.out_file = SIZE_MAX;
    const BundleFile* expected = t.manifest.file(file.path);
    if (sha256_file(path).value_or("") != expected->sha256) {
      fs::resize_file(path, 0);
      publish_ack(a, t, "bad_hash",
                  fmt::format("file {} does not match its SHA-256 in the manifest", file.path));
      return false;
    }
  }
  return true;
}

}  // namespace

void Agent::Impl::start_deploys() {
  deployer = std::make_shared<Deployer>(node.state_dir());
  deployer->hashes = hashes_of(node.definition(), options.definition_file.parent_path());
  control->subscribe(prefix + "$deploy/+/data", /*no_local=*/true);
  control->subscribe(prefix + "$deploy/echo");
}

bool Agent::Impl::on_deploy_message(const router::MessagePtr& message) {
  const std::string base = prefix + "$deploy/";
  if (!message->topic.starts_with(base)) return false;
  if (message->topic == base + "echo") {
    deployer->echoed = true;
    return true;
  }
  Transfer* t = deployer->transfer ? &*deployer->transfer : nullptr;
  // A chunk of an earlier transfer (resent after a reconnection): the caller has begun again.
  if (!t || message->topic != base + t->id + "/data" || t->done) return true;
  Chunk chunk;
  try {
    chunk = decode_chunk(message->payload);
  } catch (const std::invalid_argument& e) {
    publish_ack(*this, *t, "bad_chunk", e.what());
    return true;
  }
  if (chunk.seq != t->next) {
    // A copy of one already stored, or one past a gap: say where to go on from.
    if (chunk.seq > t->next) publish_ack(*this, *t);
    return true;
  }
  if (!store_chunk(*this, *t, chunk)) {
    deployer->transfer.reset();
    return true;
  }
  ++t->next;
  t->done = t->next == t->plan.chunks();
  if (t->done || t->next % (kWindow / 2) == 0) publish_ack(*this, *t);
  return true;
}

asio::awaitable<json> revision_verb(Agent::Impl& a, const json&) {
  const RevisionState state = a.deployer->store.load();
  co_return json{{"revision", a.options.revision},
                 {"committed", state.committed},
                 {"previous", state.previous},
                 {"highest", state.highest},
                 {"file", a.options.definition_file.string()},
                 {"definition", a.options.definition_text},
                 {"files", a.deployer->hashes}};
}

asio::awaitable<json> deploy_begin_verb(Agent::Impl& a, const json& args) {
  Deployer& d = *a.deployer;
  if (d.applying) throw VerbError("busy", "a revision is being applied: try again after it");
  const RevisionState state = d.store.load();
  const system::NodeDefinition& def = a.node.definition();
  const auto checked = check_manifest(
      args["manifest"].get<std::string>(), args["signature"].get<std::string>(), a.options.trusted,
      def.system, def.name, state.highest, a.now_ms(), a.options.skew.count());
  if (const auto* refusal = std::get_if<BundleRefusal>(&checked))
    throw VerbError(refusal->code, refusal->message);
  const Manifest& m = std::get<CheckedManifest>(checked).manifest;
  const SignedManifest signed_manifest{args["manifest"].get<std::string>(),
                                       args["signature"].get<std::string>()};

  // The same bundle again resumes: what incoming/ holds of it is kept.
  const fs::path incoming = d.store.incoming();
  const std::optional<SignedManifest> before = RevisionStore::read_manifest(incoming);
  if (!before || before->text != signed_manifest.text) fs::remove_all(incoming);
  fs::create_directories(incoming);
  RevisionStore::write_manifest(incoming, signed_manifest);

  const fs::path running_dir = a.options.definition_file.parent_path();
  std::vector<NeededFile> needed;
  for (const BundleFile& f : m.files) {
    const fs::path path = incoming / f.path;
    fs::create_directories(path.parent_path());
    std::error_code ec;
    const std::uint64_t have = fs::exists(path, ec) ? fs::file_size(path, ec) : 0;
    if (have == f.size && sha256_file(path).value_or("") == f.sha256) continue;
    // A file the running revision has with the same content is copied, not sent.
    if (const auto same = d.hashes.find(f.path);
        same != d.hashes.end() && same->second == f.sha256 &&
        fs::copy_file(running_dir / f.path, path, fs::copy_options::overwrite_existing, ec) &&
        sha256_file(path).value_or("") == f.sha256)
      continue;
    const std::uint32_t from = have < f.size ? static_cast<std::uint32_t>(have / kChunkBytes) : 0;
    { std::ofstream create(path, std::ios::binary | std::ios::app); }
    fs::resize_file(path, std::uint64_t{from} * kChunkBytes);
    needed.push_back({f.path, f.size, from});
  }
  Transfer t;
  t.id = to_hex(random_bytes(8));
  t.signed_manifest = signed_manifest;
  t.manifest = m;
  t.plan = TransferPlan(std::move(needed), kChunkBytes);
  t.done = t.plan.chunks() == 0;
  d.transfer.emplace(std::move(t));
  spdlog::info("deploy: revision {} from {}: {} chunk(s), {} byte(s) to receive", m.revision,
               std::get<CheckedManifest>(checked).signer, d.transfer->plan.chunks(),
               d.transfer->plan.bytes());
  co_return transfer_start_json({d.transfer->id, kWindow, d.transfer->plan});
}

namespace {

// Whether a message sent to the node itself comes back: through the uplink, the broker's
// acknowledgement of a QoS 1 publish (it subscribes without local echo, MQTT 5 no-local); without
// one, through its own router.
asio::awaitable<bool> round_trip(Agent::Impl& a, std::chrono::steady_clock::time_point until) {
  asio::steady_timer timer(a.executor, until);
  if (bridge::Uplink* uplink = a.node.uplink()) {
    mqtt::Message m;
    m.topic = a.prefix + "$deploy/confirm";
    m.payload = "confirm";
    m.qos = mqtt::QoS::AtLeastOnce;
    const auto result =
        co_await (uplink->client().publish(std::move(m), use_tuple) || timer.async_wait(use_tuple));
    co_return result.index() == 0 && !std::get<0>(std::get<0>(result));
  }
  a.deployer->echoed = false;
  a.control->publish(a.prefix + "$deploy/echo", "confirm", mqtt::QoS::AtLeastOnce, false);
  asio::steady_timer tick(a.executor);
  while (!a.deployer->echoed && std::chrono::steady_clock::now() < until) {
    tick.expires_after(kWatchTick);
    co_await tick.async_wait(use_tuple);
  }
  co_return a.deployer->echoed;
}

// Watches the started services for `confirm`: the first that fails (or keeps restarting) is why
// the revision does not hold. Empty when all run and the round trip came back.
asio::awaitable<std::string> watch(Agent::Impl& a, const std::vector<std::string>& started,
                                   std::chrono::milliseconds confirm) {
  const auto until = std::chrono::steady_clock::now() + confirm;
  const auto failure = [&]() -> std::string {
    for (const std::string& name : started) {
      runtime::Service* s = a.node.service(name);
      if (!s) continue;
      if (s->status == runtime::ServiceStatus::Failed ||
          s->status == runtime::ServiceStatus::Restarting)
        return fmt::format("service {} failed: {}", name, s->last_error);
    }
    return {};
  };
  // The round trip is given a few seconds even when the window is shorter (--confirm 0).
  const bool came_back =
      co_await round_trip(a, std::max(until, std::chrono::steady_clock::now() + kRoundTrip));
  asio::steady_timer tick(a.executor);
  for (;;) {
    if (std::string why = failure(); !why.empty()) co_return why;
    if (std::chrono::steady_clock::now() >= until) break;
    tick.expires_after(kWatchTick);
    co_await tick.async_wait(use_tuple);
  }
  if (!came_back)
    co_return a.node.uplink() ? "the uplink's broker did not acknowledge a message within the "
                                "confirm window"
                              : "a message to the node itself did not come back through its router";
  co_return std::string();
}

std::vector<std::string> changed_names(const system::NodeChanges& changes) {
  std::vector<std::string> names;
  for (const system::ServiceChange& c : changes.changed)
    names.push_back(c.name);
  return names;
}

json changes_json(const system::NodeChanges& changes) {
  return {{"added", changes.added},
          {"removed", changes.removed},
          {"restarted", changed_names(changes)},
          {"unchanged", changes.unchanged},
          {"settings", changes.settings}};
}

// The settings a running node changes live (system::live_setting) taken from its definition.
void apply_live_settings(Agent::Impl& a, const std::vector<std::string>& settings) {
  const auto changed = [&](std::string_view name) {
    return std::find(settings.begin(), settings.end(), name) != settings.end();
  };
  const system::NodeDefinition& def = a.node.definition();
  if (changed("metrics") && a.metrics_timer) {
    a.metrics_timer->cancel();
    asio::co_spawn(a.executor, a.metrics_loop(), asio::detached);
  }
  if (changed("log.level") || changed("log.services")) {
    a.remote_level = spdlog::level::from_str(def.log_level);
    a.service_levels.clear();
    for (const auto& [service, level] : def.service_log_levels)
      a.service_levels[service] = spdlog::level::from_str(level);
    spdlog::default_logger()->set_level(std::min(a.local_level, a.remote_level));
  }
  for (runtime::Service* s : a.node.services())
    a.apply_levels(*s);
}

// The running revision becomes `revision`, read from `file`.
void adopt(Agent::Impl& a, std::uint64_t revision, const fs::path& file, const Expanded& e,
           system::FileHashes hashes, const std::vector<std::string>& settings) {
  apply_live_settings(a, settings);
  a.options.revision = revision;
  a.options.definition_file = file;
  a.options.definition = e.definition;
  a.options.definition_hash = e.hash;
  a.options.definition_text = e.text;
  a.deployer->hashes = std::move(hashes);
  a.schedule_info();
}

// Drops revisions older than those kept for rollback.
void prune(Deployer& d, RevisionState& state) {
  while (state.previous.size() > kKeptRevisions) {
    if (state.previous.front() != 0) fs::remove_all(d.store.directory(state.previous.front()));
    state.previous.erase(state.previous.begin());
  }
}

fs::path file_of(Agent::Impl& a, std::uint64_t revision) {
  if (revision == 0) return a.options.command_line_file;
  const std::optional<fs::path> file = a.deployer->store.definition(revision);
  if (!file)
    throw VerbError("missing_revision",
                    fmt::format("revision {} is not in {}", revision,
                                a.deployer->store.directory(revision).string()));
  return *file;
}

// Makes `revision` (read from `file`) the running one live; returns the changes made.
asio::awaitable<system::NodeChanges> switch_to(Agent::Impl& a, std::uint64_t revision,
                                               const fs::path& file) {
  const Expanded e = expand_file(a, file);
  system::FileHashes hashes = hashes_of(e.node, file.parent_path());
  const system::NodeChanges changes = system::diff_nodes(
      a.node.definition(), a.deployer->hashes, e.node, hashes, modules::builtin_catalog());
  // Locals, not temporaries, in co_await expressions: g++ 12 destroys those twice.
  std::vector<std::string> restart = changed_names(changes);
  if (const std::string why = co_await a.node.apply_definition(e.node, std::move(restart));
      !why.empty())
    throw VerbError("apply_failed", why);
  adopt(a, revision, file, e, std::move(hashes), changes.settings);
  co_return changes;
}

}  // namespace

asio::awaitable<json> deploy_apply_verb(Agent::Impl& a, const json& args) {
  Deployer& d = *a.deployer;
  const auto revision = args["revision"].get<std::uint64_t>();
  const auto confirm = std::chrono::milliseconds(args["confirm"].get<std::int64_t>());
  if (d.applying) throw VerbError("busy", "a revision is being applied already");
  if (!d.transfer || d.transfer->manifest.revision != revision || !d.transfer->done)
    throw VerbError("not_transferred",
                    fmt::format("revision {} has not been transferred completely: deploy.begin "
                                "and its chunks come first",
                                revision));
  d.applying = true;
  struct Done {
    Deployer& d;
    ~Done() { d.applying = false; }
  } done{d};

  const Manifest manifest = d.transfer->manifest;
  d.transfer.reset();
  const fs::path dir = d.store.directory(revision);
  fs::remove_all(dir);
  fs::rename(d.store.incoming(), dir);
  RevisionState state = d.store.load();
  state.highest = std::max(state.highest, revision);
  d.store.save(state);

  const std::uint64_t before = a.options.revision;
  const fs::path before_file = a.options.definition_file;
  const fs::path file = dir / manifest.definition;
  const auto started = std::chrono::steady_clock::now();
  const Expanded e = expand_file(a, file);
  system::FileHashes hashes = hashes_of(e.node, dir);
  const system::NodeChanges changes =
      system::diff_nodes(a.node.definition(), d.hashes, e.node, hashes, modules::builtin_catalog());
  json result = changes_json(changes);
  result["before"] = before;
  result["revision"] = revision;

  if (changes.restarts_node()) {
    // Listeners, the uplink, admins: the process starts again on the committed revision.
    state.previous.push_back(state.committed);
    state.committed = revision;
    prune(d, state);
    d.store.save(state);
    if (!a.options.restart_node)
      throw VerbError("refused",
                      "this node cannot restart itself (it was not started by psos "
                      "run); revision committed for its next start");
    spdlog::info("deploy: revision {} changes {}: restarting the node", revision,
                 fmt::join(changes.settings, ", "));
    asio::post(a.executor, [fn = a.options.restart_node, alive = a.alive] {
      if (*alive) fn();
    });
    result["restarting"] = true;
    co_return result;
  }

  std::vector<std::string> restart = changed_names(changes);
  if (const std::string why = co_await a.node.apply_definition(e.node, std::move(restart));
      !why.empty())
    throw VerbError("apply_failed", why);
  adopt(a, revision, file, e, std::move(hashes), changes.settings);
  spdlog::info(
      "deploy: revision {} applied (added {}, removed {}, restarted {}); watching for "
      "{} ms",
      revision, fmt::join(changes.added, ", "), fmt::join(changes.removed, ", "),
      fmt::join(changed_names(changes), ", "), confirm.count());
  const std::vector<std::string> starting = changes.starting();
  const std::string failure = co_await watch(a, starting, confirm);
  if (!failure.empty()) {
    spdlog::error("deploy: revision {} rolled back: {}", revision, failure);
    co_await switch_to(a, before, before_file);
    fs::remove_all(dir);
    throw VerbError("rolled_back", fmt::format("{}; revision {} rolled back, revision {} runs",
                                               failure, revision, before));
  }
  state = d.store.load();
  state.previous.push_back(state.committed);
  state.committed = revision;
  prune(d, state);
  d.store.save(state);
  spdlog::info("deploy: revision {} committed", revision);
  if (a.options.on_deployed) a.options.on_deployed(revision);
  result["ms"] = std::chrono::duration_cast<std::chrono::milliseconds>(
                     std::chrono::steady_clock::now() - started)
                     .count();
  co_return result;
}

asio::awaitable<json> rollback_verb(Agent::Impl& a, const json&) {
  Deployer& d = *a.deployer;
  if (d.applying) throw VerbError("busy", "a revision is being applied: try again after it");
  RevisionState state = d.store.load();
  if (state.previous.empty())
    throw VerbError("no_previous",
                    fmt::format("revision {} is the first committed revision here: there is "
                                "nothing to roll back to",
                                state.committed));
  d.applying = true;
  struct Done {
    Deployer& d;
    ~Done() { d.applying = false; }
  } done{d};
  const std::uint64_t before = a.options.revision;
  const std::uint64_t target = state.previous.back();
  const fs::path target_file = file_of(a, target);
  const system::NodeChanges changes = co_await switch_to(a, target, target_file);
  if (state.committed != 0) fs::remove_all(d.store.directory(state.committed));
  state.previous.pop_back();
  state.committed = target;
  d.store.save(state);
  spdlog::info("rollback: revision {} runs (was {})", target, before);
  if (a.options.on_deployed) a.options.on_deployed(target);
  json result = changes_json(changes);
  result["before"] = before;
  result["revision"] = target;
  co_return result;
}

}  // namespace psos::control
