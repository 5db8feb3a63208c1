// TLS settings shared by the tls and wss transports: contexts from the user's options, peer
// verification, and error messages that name the certificate that failed and why.
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <cerrno>
#include <cstdio>

#include "net/transports.hpp"

namespace psos::net::detail {
namespace {

namespace ssl = asio::ssl;

// "" when `path` can be opened for reading, else why not.
std::string unreadable(const std::string& path) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) return describe(error_code(errno, boost::system::system_category()));
  std::fclose(file);
  return {};
}

// Loads a certificate chain and its key; "" or what is wrong. `whose`: "client" or "server".
std::string load_identity(ssl::context& context, const std::string& certificate_file,
                          const std::string& key_file, const std::string& whose) {
  if (std::string why = unreadable(certificate_file); !why.empty()) {
    return "cannot read the " + whose + " certificate file '" + certificate_file + "': " + why;
  }
  if (std::string why = unreadable(key_file); !why.empty()) {
    return "cannot read the " + whose + " key file '" + key_file + "': " + why;
  }
  error_code ec;
  context.use_certificate_chain_file(certificate_file, ec);
  if (ec) {
    return "the " + whose + " certificate file '" + certificate_file +
           "' holds no usable PEM certificate: " + describe(ec);
  }
  context.use_private_key_file(key_file, ssl::context::pem, ec);
  if (ec && ec.category() == asio::error::get_ssl_category() &&
      ERR_GET_REASON(static_cast<unsigned long>(ec.value())) == X509_R_KEY_VALUES_MISMATCH) {
    return "the " + whose + " key file '" + key_file + "' does not belong to the certificate in '" +
           certificate_file + "'";
  }
  if (ec) {
    return "the " + whose + " key file '" + key_file +
           "' holds no usable PEM private key (a key with a passphrase is not supported): " +
           describe(ec);
  }
  return {};
}

std::string load_ca_file(ssl::context& context, const std::string& ca_file) {
  if (std::string why = unreadable(ca_file); !why.empty()) {
    return "cannot read the CA file '" + ca_file + "': " + why;
  }
  error_code ec;
  context.load_verify_file(ca_file, ec);
  if (ec) return "the CA file '" + ca_file + "' holds no usable PEM certificate: " + describe(ec);
  return {};
}

std::shared_ptr<ssl::context> new_context(ssl::context::method method) {
  auto context = std::make_shared<ssl::context>(method);
  SSL_CTX_set_min_proto_version(context->native_handle(), TLS1_2_VERSION);
  return context;
}

int verify_failure_index() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

std::string subject_of(X509* certificate) {
  BIO* bio = BIO_new(BIO_s_mem());
  if (bio == nullptr) return "?";
  X509_NAME_print_ex(bio, X509_get_subject_name(certificate), 0, XN_FLAG_RFC2253);
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio, &data);
  std::string subject(data, static_cast<std::size_t>(size));
  BIO_free(bio);
  return subject;
}

// OpenSSL's verify callback: keeps the first failure for describe_tls_failure().
int record_verify_failure(int preverified, X509_STORE_CTX* store) {
  if (preverified == 1) return 1;
  auto* ssl_object =
      static_cast<SSL*>(X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
  auto* failure =
      ssl_object == nullptr
          ? nullptr
          : static_cast<VerifyFailure*>(SSL_get_ex_data(ssl_object, verify_failure_index()));
  if (failure != nullptr && failure->error == 0) {
    failure->error = X509_STORE_CTX_get_error(store);
    failure->depth = X509_STORE_CTX_get_error_depth(store);
    if (X509* certificate = X509_STORE_CTX_get_current_cert(store)) {
      failure->subject = subject_of(certificate);
    }
  }
  return 0;
}

bool is_ip_address(const std::string& host) {
  error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

}  // namespace

TlsContextResult make_client_context(const TlsClientOptions& options) {
  TlsContextResult result;
  auto context = new_context(ssl::context::tls_client);
  if (!options.ca_file.empty()) {
    result.error = load_ca_file(*context, options.ca_file);
  } else {
    error_code ec;
    context->set_default_verify_paths(ec);
    if (ec) result.error = "cannot load the system's CA certificates: " + describe(ec);
  }
  if (!result.error.empty()) return result;
  if (!options.certificate_file.empty() || !options.key_file.empty()) {
    if (options.certificate_file.empty() || options.key_file.empty()) {
      result.error = "a client certificate needs both a certificate file and a key file";
      return result;
    }
    result.error = load_identity(*context, options.certificate_file, options.key_file, "client");
    if (!result.error.empty()) return result;
  }
  result.context = std::move(context);
  return result;
}

TlsContextResult make_server_context(const TlsServerOptions& options) {
  TlsContextResult result;
  if (options.certificate_file.empty() || options.key_file.empty()) {
    result.error = "a TLS listener needs a certificate file and a key file";
    return result;
  }
  if (options.require_client_certificate && options.ca_file.empty()) {
    result.error = "requiring client certificates needs a CA file to verify them with";
    return result;
  }
  auto context = new_context(ssl::context::tls_server);
  result.error = load_identity(*context, options.certificate_file, options.key_file, "server");
  if (!result.error.empty()) return result;
  if (!options.ca_file.empty()) {
    result.error = load_ca_file(*context, options.ca_file);
    if (!result.error.empty()) return result;
    // Tell clients which CAs are accepted, so they pick the right certificate.
    if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(options.ca_file.c_str())) {
      SSL_CTX_set_client_CA_list(context->native_handle(), names);
    }
    context->set_verify_mode(
        ssl::verify_peer |
        (options.require_client_certificate ? ssl::verify_fail_if_no_peer_cert : ssl::verify_none));
    // Session resumption with client verification needs a session id context.
    static constexpr unsigned char kSessionContext[] = "psos";
    SSL_CTX_set_session_id_context(context->native_handle(), kSessionContext,
                                   sizeof kSessionContext - 1);
  }
  result.context = std::move(context);
  return result;
}

void prepare_client_tls(ssl_st* ssl_object, const Url& url, bool insecure, VerifyFailure* failure) {
  const bool address = is_ip_address(url.host);
  // SNI carries host names only (RFC 6066).
  if (!address) SSL_set_tlsext_host_name(ssl_object, url.host.c_str());
  if (insecure) {
    SSL_set_verify(ssl_object, SSL_VERIFY_NONE, nullptr);
    return;
  }
  SSL_set_ex_data(ssl_object, verify_failure_index(), failure);
  SSL_set_verify(ssl_object, SSL_VERIFY_PEER, record_verify_failure);
  X509_VERIFY_PARAM* parameters = SSL_get0_param(ssl_object);
  if (address) {
    X509_VERIFY_PARAM_set1_ip_asc(parameters, url.host.c_str());
  } else {
    X509_VERIFY_PARAM_set_hostflags(parameters, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    X509_VERIFY_PARAM_set1_host(parameters, url.host.c_str(), 0);
  }
}

void stop_recording(ssl_st* ssl_object) {
  SSL_set_ex_data(ssl_object, verify_failure_index(), nullptr);
}

std::string describe_tls_failure(const error_code& code, const VerifyFailure& failure,
                                 const Url& url) {
  std::string out = "TLS handshake with " + url.host_port() + " failed: ";
  if (failure.error != 0) {
    const std::string reason = X509_verify_cert_error_string(failure.error);
    std::string certificate = "certificate '" + failure.subject + "'";
    if (failure.depth > 0) {
      certificate +=
          " (an issuer of the server's certificate, depth " + std::to_string(failure.depth) + ")";
    }
    switch (failure.error) {
      case X509_V_ERR_HOSTNAME_MISMATCH:
      case X509_V_ERR_IP_ADDRESS_MISMATCH:
        return out + "the server's " + certificate + " is not valid for '" + url.host + "' (" +
               reason + "): connect with a name the certificate lists";
      case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
      case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
      case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
      case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
      case X509_V_ERR_CERT_UNTRUSTED:
        return out + certificate + " is not trusted (" + reason +
               "): give the CA that issued it as the CA file";
      case X509_V_ERR_CERT_HAS_EXPIRED:
      case X509_V_ERR_CERT_NOT_YET_VALID:
        return out + certificate + " was rejected (" + reason + "): check both clocks";
      default:
        return out + certificate + " was rejected: " + reason;
    }
  }
  out += describe(code);
  if (code.category() == asio::error::get_ssl_category()) {
    switch (ERR_GET_REASON(static_cast<unsigned long>(code.value()))) {
      case SSL_R_WRONG_VERSION_NUMBER:
        out += " — the server does not speak TLS on this port (mqtts:// is usually port 8883)";
        break;
      case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
      case SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE:
        out += " — does the server require a client certificate?";
        break;
      default:
        break;
    }
  } else if (code == asio::ssl::error::stream_truncated || code == asio::error::eof ||
             code == asio::error::connection_reset) {
    out += " — the server closed the connection: does it speak TLS on this port?";
  }
  return out;
}

}  // namespace psos::net::detail
