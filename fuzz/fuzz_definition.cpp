// libFuzzer harness for the definition layer: arbitrary bytes as a definition file, read, checked
// and every node expanded. Never a crash or a hang; every problem has a message and a position
// inside the input; what the reader accepts, nlohmann::json's own parser reads to the same value.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "modules/module.hpp"
#include "system/definition.hpp"

namespace psos::system {
namespace {

[[noreturn]] void finding(const char* what, const std::string& detail) {
  std::fprintf(stderr, "fuzz_definition: %s: %s\n", what, detail.c_str());
  std::abort();
}

void check(std::string_view text) {
  static const Secrets secrets = [] {
    Secrets s;
    s.set("pw", "hunter2");
    return s;
  }();
  const std::size_t lines =
      1 + static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));

  const JsonReadResult read = read_json(text);
  if (read.document && read.problems.empty()) {
    const nlohmann::json reference = nlohmann::json::parse(text, nullptr, false);
    if (reference.is_discarded()) finding("nlohmann rejects what the reader accepted", "");
    if (reference != read.document->root())
      finding("nlohmann reads another value", reference.dump());
  }

  const CheckResult result =
      check_definition(text, "fuzz.json", secrets, psos::modules::builtin_catalog());
  for (const Diagnostic& d : result.errors) {
    if (d.message.empty()) finding("a problem without a message", to_string(d));
    if (d.at.line < 1 || d.at.line > lines || d.at.column < 1 || d.at.column > text.size() + 1)
      finding("a position outside the input", to_string(d));
    if (d.message.find("hunter2") != std::string::npos &&
        text.find("hunter2") == std::string_view::npos)
      finding("a secret's value in a message", to_string(d));
  }
  if (result.definition && result.errors.empty() &&
      result.nodes.size() != result.definition->nodes().size())
    finding("a valid definition with a node that did not expand", "");
}

}  // namespace
}  // namespace psos::system

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  psos::system::check(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
