// The dashboard's deploy view, server side: the definition files of one directory, a chosen
// one checked and compared with what each node runs, and one deploy at a time with its progress
// and results (control/deployment.hpp, as psos deploy sends them), signed with the Caller's key.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "control/caller.hpp"

namespace psos::dashboard {

// A request's outcome as the page gets it: the result, or {"code", "message"} (and
// "diagnostics", psos check's lines, for a definition with problems).
struct ViewAnswer {
  bool ok = false;
  nlohmann::json value;
};

class DeployView {
 public:
  // `directory` holds the definitions; `timeout` is what a node has to answer a request.
  DeployView(control::Caller& caller, std::filesystem::path directory,
             std::chrono::milliseconds timeout);
  ~DeployView();
  DeployView(const DeployView&) = delete;
  DeployView& operator=(const DeployView&) = delete;

  // {"directory", "files": [{"name", "size", "modified"}]}: the *.json files directly in the
  // directory, but secrets files (*.secrets.json) and hidden ones, sorted by name.
  ViewAnswer definitions() const;
  // Checks the definition `name` (a name listed by definitions(), never a path), asks each of
  // its nodes for its revision and returns {"file", "sha256", "system", "nodes": [...]} with
  // each node's changes (Deployment::progress_json).
  boost::asio::awaitable<ViewAnswer> plan(std::string name);
  // Starts deploying `name` to `nodes` (empty: all) and returns at once; progress goes to
  // status(). Refused while a deploy runs, and when the file's SHA-256 is no longer `sha256`
  // (the diff the user saw is not what would be sent).
  ViewAnswer start(const std::string& name, const std::vector<std::string>& nodes,
                   const std::string& sha256, std::chrono::milliseconds confirm,
                   const std::string& user);
  // Every message the dashboard's Caller receives (the nodes' acknowledgements are among them).
  void on_message(const client::MessagePtr& message);

  // Bumped on every change of status(); 0 before the first deploy.
  std::uint64_t version() const noexcept;
  // {"file", "user", "started", "finished" (null while running), "running", "nodes": [...]}.
  nlohmann::json status() const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace psos::dashboard
