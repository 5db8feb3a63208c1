// The key the control harnesses' seed corpora are signed with: RFC 8032's first test key
// (ed25519:11qYAYKx...), shared by fuzz_control_request and fuzz_control_bundle.
#pragma once

#include "control/keys.hpp"

namespace psos::fuzz {

inline const control::PrivateKey& trusted_key() {
  static const control::PrivateKey key = control::PrivateKey::from_pem(
      "-----BEGIN PRIVATE KEY-----\n"
      "MC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n"
      "-----END PRIVATE KEY-----\n",
      "fuzz key");
  return key;
}

}  // namespace psos::fuzz
