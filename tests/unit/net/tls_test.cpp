// TLS verification with test certificates: host names and addresses, untrusted CAs, insecure
// mode, client certificates, and the messages that explain each failure.
#include "net_test_support.hpp"

namespace psos::net::test {
namespace {

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override { REQUIRE_CERTIFICATES(); }
  const Certificates& certificates() const { return Certificates::get(); }
};

// Connects to `url_text`'s scheme on a fresh listener, replacing the host; returns the result
// after an echo of a few bytes when the connection succeeded.
asio::awaitable<ConnectResult> connect_and_echo(asio::any_io_executor executor, Listener& listener,
                                                const std::string& host,
                                                const TlsClientOptions& options) {
  asio::co_spawn(executor, echo_server(listener), asio::detached);
  ConnectResult result = co_await connect(executor, client_url(listener, host), options);
  if (result.ok()) {
    std::mt19937 random(1);
    co_await expect_echo(*result.stream, random_bytes(1000, random));
  }
  co_return result;
}

TEST_F(TlsTest, VerifiesHostNameAndAddress) {
  run([&](asio::any_io_executor executor) -> asio::awaitable<void> {
    auto listener = must_listen(executor, "mqtts://127.0.0.1:0", certificates().server());
    CO_ASSERT(listener != nullptr, "no listener");
    for (const char* host : {"localhost", "127.0.0.1"}) {
      ConnectResult result =
          co_await connect_and_echo(executor, *listener, host, certificates().client());
      EXPECT_TRUE(result.ok()) << host << ": " << result.error;
      if (result.ok()) co_await result.stream->close();
    }
  });
}

TEST_F(TlsTest, WrongHostNameIsRefusedWithTheReason) {
  run([&](asio::any_io_executor executor) -> asio::awaitable<void> {
    auto listener = must_listen(executor, "mqtts://127.0.0.1:0", certificates().server("other"));
    CO_ASSERT(listener != nullptr, "no listener");
    const std::string port = std::to_string(listener->local_port());
    ConnectResult by_name =
        co_await connect_and_echo(executor, *listener, "localhost", certificates().client());
    EXPECT_FALSE(by_name.ok());
    EXPECT_EQ(by_name.error, "TLS handshake with localhost:" + port +
                                 " failed: the server's certificate 'CN=other.example' is not "
                                 "valid for 'localhost' (hostname mismatch): connect with a name "
                                 "the certificate lists");
    ConnectResult by_address =
        co_await connect_and_echo(executor, *listener, "127.0.0.1", certificates().client());
    EXPECT_FALSE(by_address.ok());
    EXPECT_NE(by_address.error.find("is not valid for '127.0.0.1' (IP address mismatch)"),
              std::string::npos)
        << by_address.error;
  });
}

TEST_F(TlsTest, UntrustedCaIsRefusedWithTheReason) {
  run([&](asio::any_io_executor executor) -> asio::awaitable<void> {
    auto listener = must_listen(executor, "wss://127.0.0.1:0", certificates().server());
    CO_ASSERT(listener != nullptr, "no listener");
    TlsClientOptions options;
    options.ca_file = certificates().path("ca2.pem");
    ConnectResult result = co_await connect_and_echo(executor, *listener, "localhost", options);
    EXPECT_FALSE(result.ok());
    EXPECT_EQ(result.error,
              "TLS handshake with localhost:" + std::to_string(listener->local_port()) +
                  " failed: certificate 'CN=localhost' is not trusted (unable to get "
                  "local issuer certificate): give the CA that issued it as the CA "
                  "file");

    // Without a CA file the system's store is used, which does not know the test CA either.
    ConnectResult system_store = co_await connect_and_echo(executor, *listener, "localhost", {});
    EXPECT_FALSE(system_store.ok());
    EXPECT_NE(system_store.error.find("is not trusted"), std::string::npos) << system_store.error;
  });
}

TEST_F(TlsTest, InsecureSkipsVerification) {
  run([&](asio::any_io_executor executor) -> asio::awaitable<void> {
    auto listener = must_listen(executor, "mqtts://127.0.0.1:0", certificates().server("other"));
    CO_ASSERT(listener != nullptr, "no listener");
    TlsClientOptions options;
    options.insecure = true;
    ConnectResult result = co_await connect_and_echo(executor, *listener, "localhost", options);
    EXPECT_TRUE(result.ok()) << result.error;
    if (result.ok()) co_await result.stream->close();
  });
}

TlsServerOptions requiring_client_certificates(const Certificates& certificates) {
  TlsServerOptions options = certificates.server();
  options.ca_file = certificates.path("ca.pem");
  options.require_client_certificate = true;
  return options;
}

TEST_F(TlsTest, ClientCertificateAccepted) {
  run([&](asio::any_io_executor executor) -> asio::awaitable<void> {
    auto listener =
        must_listen(executor, "mqtts://127.0.0.1:0", requiring_client_certificates(certificates()));
    CO_ASSERT(listener != nullptr, "no listener");
    TlsClientOptions options = certificates().client();
    options.certificate_file = certificates().path("client.pem");
    options.key_file = certificates().path("client.key");
    ConnectResult result = co_await connect_and_echo(executor, *listener, "localhost", options);
    EXPECT_TRUE(result.ok()) << result.error;
    if (result.ok()) co_await result.stream->close();
  });
}

// The client's certificate is missing (or from an unknown CA): the server's handshake fails.
// With TLS 1.3 the client learns it at its first read, as an alert from the server.
void expect_client_refused(const TlsClientOptions& options, const std::string& server_reason) {
  run([&](asio::any_io_executor executor) -> asio::awaitable<void> {
    auto listener = must_listen(executor, "mqtts://127.0.0.1:0",
                                requiring_client_certificates(Certificates::get()));
    CO_ASSERT(listener != nullptr, "no listener");
    error_code server_error;
    asio::co_spawn(
        executor,
        [&]() -> asio::awaitable<void> {
          auto [ec, stream] = co_await listener->accept();
          if (ec) co_return;
          server_error = co_await stream->handshake();
          co_await stream->close();
        },
        asio::detached);
    ConnectResult result = co_await connect(executor, client_url(*listener, "localhost"), options);
    error_code client_error = result.code;
    if (result.ok()) {
      std::array<char, 16> buffer{};
      std::tie(client_error, std::ignore) = co_await result.stream->read_some(asio::buffer(buffer));
    }
    EXPECT_TRUE(client_error) << "the client was let in";
    EXPECT_NE(server_error.message().find(server_reason), std::string::npos)
        << server_error.message();
  });
}

TEST_F(TlsTest, MissingClientCertificateIsRefused) {
  expect_client_refused(certificates().client(), "peer did not return a certificate");
}

TEST_F(TlsTest, ClientCertificateFromUnknownCaIsRefused) {
  TlsClientOptions options = certificates().client();
  options.certificate_file = certificates().path("stranger.pem");
  options.key_file = certificates().path("stranger.key");
  expect_client_refused(options, "certificate verify failed");
}

TEST_F(TlsTest, PlainServerOnTlsUrlIsExplained) {
  run([&](asio::any_io_executor executor) -> asio::awaitable<void> {
    // A plain TCP server that reads what the client sends and hangs up.
    auto listener = must_listen(executor, "mqtt://127.0.0.1:0");
    CO_ASSERT(listener != nullptr, "no listener");
    asio::co_spawn(
        executor,
        [&]() -> asio::awaitable<void> {
          auto [ec, stream] = co_await listener->accept();
          if (ec) co_return;
          std::array<char, 4096> buffer{};
          co_await stream->read_some(asio::buffer(buffer));
          co_await stream->close();
        },
        asio::detached);
    Url url = listener->url();
    url.scheme = Scheme::Mqtts;
    ConnectResult result = co_await connect(executor, url, certificates().client());
    EXPECT_FALSE(result.ok());
    EXPECT_TRUE(result.error.starts_with(
        "TLS handshake with 127.0.0.1:" + std::to_string(listener->local_port()) + " failed: "))
        << result.error;
    EXPECT_NE(result.error.find("does it speak TLS on this port?"), std::string::npos)
        << result.error;
  });
}

TEST_F(TlsTest, BadTlsFilesAreNamed) {
  asio::io_context io;
  TlsServerOptions missing = certificates().server();
  missing.key_file = certificates().path("nonexistent.key");
  ListenResult no_key =
      Listener::open(io.get_executor(), must_parse("mqtts://127.0.0.1:0"), missing);
  EXPECT_EQ(no_key.error, "listener mqtts://127.0.0.1:0: cannot read the server key file '" +
                              missing.key_file + "': no such file or directory");

  TlsServerOptions mismatched = certificates().server();
  mismatched.key_file = certificates().path("other.key");
  ListenResult wrong_key =
      Listener::open(io.get_executor(), must_parse("wss://127.0.0.1:0"), mismatched);
  EXPECT_NE(wrong_key.error.find("does not belong to the certificate in"), std::string::npos)
      << wrong_key.error;

  ListenResult no_certificate =
      Listener::open(io.get_executor(), must_parse("mqtts://127.0.0.1:0"));
  EXPECT_EQ(no_certificate.error,
            "listener mqtts://127.0.0.1:0: a TLS listener needs a certificate file and a key file");

  TlsServerOptions no_ca = certificates().server();
  no_ca.require_client_certificate = true;
  EXPECT_NE(Listener::open(io.get_executor(), must_parse("mqtts://127.0.0.1:0"), no_ca)
                .error.find("needs a CA file"),
            std::string::npos);

  run([&](asio::any_io_executor executor) -> asio::awaitable<void> {
    TlsClientOptions options;
    options.ca_file = "/nonexistent/ca.pem";
    ConnectResult result = co_await connect(executor, must_parse("mqtts://localhost:1"), options);
    EXPECT_EQ(
        result.error,
        "TLS settings for mqtts://localhost:1: cannot read the CA file '/nonexistent/ca.pem': "
        "no such file or directory");
  });
}

}  // namespace
}  // namespace psos::net::test
