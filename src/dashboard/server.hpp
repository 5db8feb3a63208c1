// `psos dashboard`'s server: HTTP for the page (every asset built into the binary) and one
// WebSocket per browser carrying the live model (model.hpp) out and the page's commands in,
// signed by the Caller's key as the fleet commands sign theirs. Beast, coroutines, one thread.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "control/caller.hpp"
#include "dashboard/model.hpp"

namespace psos::dashboard {

struct ServerOptions {
  // http://HOST:PORT or https://HOST:PORT; port 0 picks a free one. Off loopback it needs
  // https:// and a password file.
  std::string listen = "http://127.0.0.1:8088";
  std::string https_cert;  // PEM certificate chain (https://)
  std::string https_key;   // PEM private key of https_cert
  std::string passwd;      // a `psos passwd` file: login required (always off loopback)
  // How often each browser gets a frame: the sampling period of busy topics.
  std::chrono::milliseconds frame_interval{250};
  // A browser that has not taken a frame within this is disconnected (it reconnects and gets
  // a snapshot): a slow client costs one frame of memory, never a growing queue.
  std::chrono::milliseconds write_timeout{10'000};
  std::size_t max_request_bytes = 16 * 1024;  // an HTTP request's headers and body, each
  std::size_t max_ws_message = 64 * 1024;     // a WebSocket message from the page
  std::size_t max_clients = 64;
  std::chrono::milliseconds command_timeout{10'000};
  // The deploy view's definition files: the *.json files directly in this directory.
  std::string definitions = ".";
  ModelLimits limits;
};

class Server {
 public:
  // Throws std::invalid_argument saying what is wrong with the options (a public address
  // without https:// or without a password file, an unreadable password file or certificate).
  Server(boost::asio::any_io_executor executor, control::Caller& caller, ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Subscribes to the broker and starts listening. Returns "" or why it cannot.
  boost::asio::awaitable<std::string> start();
  // The URL it listens on, with the port bound: "http://127.0.0.1:8088".
  std::string url() const;
  // Closes the listener and every browser's connection.
  void stop();

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

// Is `host` (a name or an address) the loopback interface?
bool is_loopback(const std::string& host);

}  // namespace psos::dashboard
