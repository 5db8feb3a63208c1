// The flags `psos pub` and `psos sub` share (mosquitto_pub/mosquitto_sub's connection flags plus
// --broker), and what turns them into client::ClientOptions.
#pragma once

#include <cstdint>
#include <string>

#include "client/client.hpp"

namespace CLI {
class App;
class Option;
}  // namespace CLI

namespace psos::cli {

struct ClientFlags {
  std::string broker;          // --broker; empty: $PSOS_BROKER, else mqtt://127.0.0.1:1883
  std::string host;            // -h: replaces the URL's host
  int port = 0;                // -p: replaces the URL's port (0: not given)
  std::string id;              // -i
  bool keep_session = false;   // -c: clean_start = false (a persistent session)
  std::string username;        // -u
  std::string password;        // -P
  std::string version = "5";   // -V
  int keep_alive = 60;         // -k
  std::string session_expiry;  // -x: seconds, or -1 / "inf" for never
  int qos = 0;                 // -q
  std::string will_topic, will_payload;
  int will_qos = 0;
  bool will_retain = false;
  std::string cafile, cert, key;  // --cafile --cert --key
  bool insecure = false;
  bool debug = false;  // -d

  // Adds the flags to `app` (whose -h becomes the host: help is --help).
  void add_to(CLI::App& app);
  // Fills `out`; returns what is wrong with the flags ("" when they are fine).
  std::string make_options(client::ClientOptions& out) const;

 private:
  CLI::Option* username_option_ = nullptr;
  CLI::Option* password_option_ = nullptr;
};

// Logs to stderr: the client's debug lines with -d, nothing below warnings otherwise.
void setup_client_logging(bool debug);

// The broker URL to name in messages (password hidden).
std::string describe_url(const client::ClientOptions& options);

}  // namespace psos::cli
