// Shared by the net tests: running a coroutine on a fresh io_context with a time limit, an echo
// server, a 1 MiB echo round trip, and test certificates made with the openssl command.
#pragma once

#include <gtest/gtest.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "net/connect.hpp"
#include "net/listener.hpp"
#include "net/stream.hpp"

namespace psos::net::test {

using namespace std::chrono_literals;
using namespace asio::experimental::awaitable_operators;
using tcp = asio::ip::tcp;

// gtest's ASSERT_* return from the function, which a coroutine cannot: this co_returns.
#define CO_ASSERT(condition, message)                   \
  do {                                                  \
    if (!(condition)) {                                 \
      ADD_FAILURE() << #condition << ": " << (message); \
      co_return;                                        \
    }                                                   \
  } while (false)

// Runs `body` on a fresh io_context and stops everything it left running (servers) when it ends;
// fails the test if it does not end within `limit`.
inline void run(std::function<asio::awaitable<void>(asio::any_io_executor)> body,
                std::chrono::milliseconds limit = 8s) {
  asio::io_context io;
  bool done = false;
  std::exception_ptr failure;
  asio::co_spawn(io, body(io.get_executor()), [&](std::exception_ptr error) {
    done = true;
    failure = error;
    io.stop();
  });
  io.run_for(limit);
  ASSERT_TRUE(done) << "the test did not finish within " << limit.count() << " ms";
  if (failure) {
    try {
      std::rethrow_exception(failure);
    } catch (const std::exception& e) {
      FAIL() << "exception: " << e.what();
    }
  }
}

inline asio::awaitable<void> sleep_for(std::chrono::milliseconds duration) {
  asio::steady_timer timer(co_await asio::this_coro::executor, duration);
  co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
}

inline asio::awaitable<void> echo(std::unique_ptr<Stream> stream) {
  if (co_await stream->handshake()) co_return;
  std::vector<char> buffer(64 * 1024);
  for (;;) {
    auto [ec, n] = co_await stream->read_some(asio::buffer(buffer));
    if (ec) break;
    if (co_await stream->write(asio::const_buffer(buffer.data(), n))) break;
  }
  co_await stream->close();
}

// Accepts connections and echoes each one until its peer closes.
inline asio::awaitable<void> echo_server(Listener& listener) {
  for (;;) {
    auto [ec, stream] = co_await listener.accept();
    if (ec) co_return;
    const asio::any_io_executor executor = stream->get_executor();
    asio::co_spawn(executor, echo(std::move(stream)), asio::detached);
  }
}

inline std::vector<char> random_bytes(std::size_t size, std::mt19937& random) {
  std::vector<char> bytes(size);
  std::uniform_int_distribution<int> byte(0, 255);
  for (char& c : bytes)
    c = static_cast<char>(byte(random));
  return bytes;
}

// Sends `data` in writes of random sizes, each split into up to three buffers, while reading the
// echo back in reads of random sizes (both at once: one alone would fill the socket buffers).
inline asio::awaitable<void> expect_echo(Stream& stream, const std::vector<char>& data) {
  std::vector<char> received;
  auto writer = [&]() -> asio::awaitable<void> {
    std::mt19937 random(7);
    std::size_t offset = 0;
    while (offset < data.size()) {
      const std::size_t size = std::min(
          data.size() - offset, std::uniform_int_distribution<std::size_t>(1, 40000)(random));
      const std::size_t cut = size / 3;
      const asio::const_buffer parts[3] = {
          asio::const_buffer(data.data() + offset, cut),
          asio::const_buffer(data.data() + offset + cut, cut),
          asio::const_buffer(data.data() + offset + 2 * cut, size - 2 * cut)};
      const error_code ec = co_await stream.write(std::span<const asio::const_buffer>(parts));
      EXPECT_FALSE(ec) << ec.message();
      if (ec) co_return;
      offset += size;
    }
  };
  auto reader = [&]() -> asio::awaitable<void> {
    std::mt19937 random(11);
    std::vector<char> buffer(70000);
    while (received.size() < data.size()) {
      const std::size_t size = std::uniform_int_distribution<std::size_t>(1, buffer.size())(random);
      auto [ec, n] = co_await stream.read_some(asio::buffer(buffer.data(), size));
      EXPECT_FALSE(ec) << ec.message();
      if (ec) co_return;
      received.insert(received.end(), buffer.begin(), buffer.begin() + static_cast<long>(n));
    }
  };
  co_await (writer() && reader());
  EXPECT_EQ(received.size(), data.size());
  EXPECT_TRUE(received == data) << "the echo differs from what was sent";
}

// A CA, certificates signed by it and a second, untrusted CA, made once per test process with the
// openssl command in a temporary directory that is removed at exit.
class Certificates {
 public:
  static const Certificates& get() {
    static const Certificates certificates;
    return certificates;
  }

  std::string path(const std::string& name) const { return (directory_ / name).string(); }
  const std::string& error() const { return error_; }

  // Server options for `name` ("server": localhost, 127.0.0.1, ::1; "other": other.example).
  TlsServerOptions server(const std::string& name = "server") const {
    TlsServerOptions options;
    options.certificate_file = path(name + ".pem");
    options.key_file = path(name + ".key");
    return options;
  }
  TlsClientOptions client() const {
    TlsClientOptions options;
    options.ca_file = path("ca.pem");
    return options;
  }

  Certificates(const Certificates&) = delete;
  Certificates& operator=(const Certificates&) = delete;
  ~Certificates() {
    std::error_code ignored;
    std::filesystem::remove_all(directory_, ignored);
  }

 private:
  Certificates() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "psos-net-test-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) {
      error_ = "mkdtemp failed";
      return;
    }
    directory_ = pattern;
    write("ca.cnf",
          "[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = psos test CA\n"
          "[v3_ca]\nbasicConstraints = critical,CA:TRUE\nkeyUsage = critical,keyCertSign,cRLSign\n"
          "subjectKeyIdentifier = hash\n");
    write("ca2.cnf",
          "[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = psos untrusted CA\n"
          "[v3_ca]\nbasicConstraints = critical,CA:TRUE\nkeyUsage = critical,keyCertSign,cRLSign\n"
          "subjectKeyIdentifier = hash\n");
    write("server.ext",
          "basicConstraints = CA:FALSE\nsubjectAltName = DNS:localhost,IP:127.0.0.1,IP:::1\n"
          "extendedKeyUsage = serverAuth\n");
    write("other.ext",
          "basicConstraints = CA:FALSE\nsubjectAltName = DNS:other.example\n"
          "extendedKeyUsage = serverAuth\n");
    write("client.ext", "basicConstraints = CA:FALSE\nextendedKeyUsage = clientAuth\n");
    const std::string key = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    shell("openssl req -x509 -config ca.cnf -extensions v3_ca " + key +
          " -keyout ca.key -out ca.pem -days 2");
    shell("openssl req -x509 -config ca2.cnf -extensions v3_ca " + key +
          " -keyout ca2.key -out ca2.pem -days 2");
    issue("server", "/CN=localhost", "ca", 2);
    issue("other", "/CN=other.example", "ca", 3);
    issue("client", "/CN=psos test client", "ca", 4);
    issue("stranger", "/CN=psos stranger", "ca2", 5);
  }

  void write(const std::string& name, const std::string& text) {
    std::ofstream(directory_ / name) << text;
  }

  void issue(const std::string& name, const std::string& subject, const std::string& ca,
             int serial) {
    const std::string ext = name == "stranger" ? "client" : name;
    shell("openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout " +
          name + ".key -out " + name + ".csr -subj '" + subject + "'");
    shell("openssl x509 -req -in " + name + ".csr -CA " + ca + ".pem -CAkey " + ca +
          ".key -set_serial " + std::to_string(serial) + " -days 2 -extfile " + ext + ".ext -out " +
          name + ".pem");
  }

  void shell(const std::string& command) {
    if (!error_.empty()) return;
    const std::string line =
        "cd '" + directory_.string() + "' && " + command + " >>openssl.log 2>&1";
    if (std::system(line.c_str()) != 0) {
      std::ifstream log(directory_ / "openssl.log");
      std::stringstream text;
      text << log.rdbuf();
      error_ = "'" + command + "' failed:\n" + text.str();
    }
  }

  std::filesystem::path directory_;
  std::string error_;
};

#define REQUIRE_CERTIFICATES() \
  ASSERT_EQ(::psos::net::test::Certificates::get().error(), "") << "cannot make test certificates"

inline Url must_parse(std::string_view text) {
  UrlResult result = parse_url(text);
  EXPECT_TRUE(result.ok()) << result.error;
  return result.url;
}

// Opens a listener for `url_text` (port 0: any free port) or fails the test.
inline std::unique_ptr<Listener> must_listen(asio::any_io_executor executor,
                                             std::string_view url_text,
                                             const TlsServerOptions& tls = {}) {
  ListenResult result = Listener::open(std::move(executor), must_parse(url_text), tls);
  EXPECT_TRUE(result.ok()) << result.error;
  return std::move(result.listener);
}

// "mqtts://localhost:40123": where a client reaches `listener` under `host`.
inline Url client_url(const Listener& listener, const std::string& host) {
  Url url = listener.url();
  url.host = host;
  return url;
}

}  // namespace psos::net::test
