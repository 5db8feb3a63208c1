// Standard base64 (RFC 4648, with padding) over OpenSSL: what the password file stores salts and
// hashes in, and how control/ writes keys, signatures and nonces.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace psos::router {

std::string base64_encode(std::string_view bytes);

// Strict: the alphabet A-Z a-z 0-9 + /, a length that is a multiple of 4, at most two '=' and
// only at the end, nothing else (no whitespace, no line breaks, no URL-safe alphabet). nullopt
// for anything else, the empty string included.
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace psos::router
