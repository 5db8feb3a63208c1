// The deploy view's server side (see deploy_view.hpp).
#include "dashboard/deploy_view.hpp"

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <variant>

#include "control/deployment.hpp"
#include "control/digest.hpp"
#include "modules/module.hpp"

namespace psos::dashboard {

namespace asio = boost::asio;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

ViewAnswer failed(std::string code, std::string message) {
  return {false, {{"code", std::move(code)}, {"message", std::move(message)}}};
}

// A name the view lists: a file directly in the directory, never a path.
bool listed_name(std::string_view name) {
  return name.size() > 5 && name.ends_with(".json") && !name.ends_with(".secrets.json") &&
         !name.starts_with('.') && name.find_first_of("/\\") == std::string_view::npos &&
         name.find('\0') == std::string_view::npos;
}

}  // namespace

struct DeployView::Impl {
  // One deploy: its plan and the deployment working through it.
  struct Run {
    std::string file, user;
    std::int64_t started = 0, finished = 0;
    control::DeployPlan plan;
    std::unique_ptr<control::Deployment> deployment;
  };

  Impl(control::Caller& c, fs::path d, std::chrono::milliseconds t)
      : caller(c), directory(std::move(d)), timeout(t) {}

  control::Caller& caller;
  fs::path directory;
  std::chrono::milliseconds timeout;
  std::shared_ptr<Run> run;  // the running deploy, or the last one
  bool running = false;
  std::uint64_t version = 0;

  // The plan for `name`, or why there is none.
  std::variant<control::DeployPlan, ViewAnswer> plan_of(const std::string& name,
                                                        const std::vector<std::string>& nodes) {
    std::error_code ec;
    if (!listed_name(name) || !fs::is_regular_file(directory / name, ec))
      return failed("not_found", "no definition " + name + " in " + directory.string() +
                                     " (choose one of the files listed)");
    std::variant<control::DeployPlan, control::PlanFailure> planned = control::plan_deploy(
        (directory / name).string(), "", nodes, modules::builtin_catalog(), name);
    if (auto* f = std::get_if<control::PlanFailure>(&planned)) {
      ViewAnswer answer = failed(f->status == 1 ? "invalid" : "unreadable", f->message);
      answer.value["diagnostics"] = f->diagnostics;
      return answer;
    }
    return std::move(std::get<control::DeployPlan>(planned));
  }
};

DeployView::DeployView(control::Caller& caller, fs::path directory,
                       std::chrono::milliseconds timeout)
    : impl_(std::make_shared<Impl>(caller, std::move(directory), timeout)) {}

DeployView::~DeployView() = default;

ViewAnswer DeployView::definitions() const {
  json files = json::array();
  std::error_code ec;
  fs::directory_iterator it(impl_->directory, ec);
  if (ec)
    return failed("unreadable", "cannot list " + impl_->directory.string() + ": " + ec.message());
  std::vector<json> found;
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    if (ec) break;
    const std::string name = it->path().filename().string();
    std::error_code fec;
    if (!listed_name(name) || !it->is_regular_file(fec)) continue;
    const auto modified = std::chrono::file_clock::to_sys(it->last_write_time(fec));
    found.push_back({{"name", name},
                     {"size", it->file_size(fec)},
                     {"modified", std::chrono::duration_cast<std::chrono::milliseconds>(
                                      modified.time_since_epoch())
                                      .count()}});
  }
  std::sort(found.begin(), found.end(),
            [](const json& a, const json& b) { return a["name"] < b["name"]; });
  for (json& f : found)
    files.push_back(std::move(f));
  return {true, {{"directory", fs::absolute(impl_->directory, ec).string()}, {"files", files}}};
}

asio::awaitable<ViewAnswer> DeployView::plan(std::string name) {
  auto self = impl_;
  std::variant<control::DeployPlan, ViewAnswer> planned = self->plan_of(name, {});
  if (auto* a = std::get_if<ViewAnswer>(&planned)) co_return std::move(*a);
  control::DeployPlan& plan = std::get<control::DeployPlan>(planned);
  control::Deployment deployment(self->caller, plan, modules::builtin_catalog(), self->timeout);
  co_await deployment.ask_revisions();
  const std::string sha256 = control::sha256_hex(plan.contents.at(name));
  co_return ViewAnswer{true,
                       {{"file", name},
                        {"sha256", sha256},
                        {"system", plan.system},
                        {"nodes", deployment.progress_json()}}};
}

ViewAnswer DeployView::start(const std::string& name, const std::vector<std::string>& nodes,
                             const std::string& sha256, std::chrono::milliseconds confirm,
                             const std::string& user) {
  Impl& a = *impl_;
  if (a.running)
    return failed("busy", "a deploy is running: " + a.run->file +
                              (a.run->user.empty() ? "" : " by " + a.run->user) +
                              "; wait for its results");
  std::variant<control::DeployPlan, ViewAnswer> planned = a.plan_of(name, nodes);
  if (auto* f = std::get_if<ViewAnswer>(&planned)) return std::move(*f);
  auto run = std::make_shared<Impl::Run>();
  run->plan = std::move(std::get<control::DeployPlan>(planned));
  if (control::sha256_hex(run->plan.contents.at(name)) != sha256)
    return failed("changed", name + " has changed since its changes were shown: look again");
  run->file = name;
  run->user = user;
  run->started = now_ms();
  run->deployment = std::make_unique<control::Deployment>(a.caller, run->plan,
                                                          modules::builtin_catalog(), a.timeout);
  run->deployment->on_progress([impl = impl_.get()] { ++impl->version; });
  a.run = run;
  a.running = true;
  ++a.version;
  asio::co_spawn(
      a.caller.executor(),
      [self = impl_, run, confirm]() -> asio::awaitable<void> {
        co_await run->deployment->ask_revisions();
        co_await run->deployment->deploy(confirm);
      },
      [self = impl_, run](std::exception_ptr) {
        run->finished = now_ms();
        self->running = false;
        ++self->version;
      });
  return {true, {{"started", name}}};
}

void DeployView::on_message(const client::MessagePtr& message) {
  if (impl_->running) impl_->run->deployment->on_message(message);
}

std::uint64_t DeployView::version() const noexcept {
  return impl_->version;
}

json DeployView::status() const {
  const Impl& a = *impl_;
  if (!a.run) return nullptr;
  return {
      {"file", a.run->file},       {"user", a.run->user},
      {"started", a.run->started}, {"finished", a.run->finished ? json(a.run->finished) : json()},
      {"running", a.running},      {"nodes", a.run->deployment->progress_json()}};
}

}  // namespace psos::dashboard
