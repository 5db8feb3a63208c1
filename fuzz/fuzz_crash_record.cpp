// libFuzzer harness for the crash log's decoders (runtime/black_box.hpp, runtime/crash_log.hpp):
// what the next start reads back from disk and the environment after a crash. The same bytes go
// to the three of them: read_black_box (the black box file, which a crash or a power cut can
// leave half written), parse_crash_record (a record file of crashes/) and parse_process_exit
// ($PSOS_PREVIOUS_EXIT). None may throw. What they accept must hold up downstream: a black box
// turns into a record whose JSON is valid UTF-8 (a strict dump) and reads back equal; a record
// read back writes and reads back to the same JSON; a process exit prints and parses back
// unchanged.
//
// Seeds (fuzz/corpus/fuzz_crash_record): a black box of a node killed by SIGSEGV, its record, and
// an exit text.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "runtime/black_box.hpp"
#include "runtime/crash_log.hpp"

namespace {

using namespace psos;
using nlohmann::json;

[[noreturn]] void finding(const char* what, const std::string& detail) {
  std::fprintf(stderr, "fuzz_crash_record: %s: %s\n", what, detail.c_str());
  std::abort();
}

// A record's JSON must be strict UTF-8 and read back to itself.
void check_round_trip(const runtime::CrashRecord& record) {
  const std::string text = runtime::to_json(record).dump();  // throws on invalid UTF-8
  const auto again = runtime::parse_crash_record(text);
  if (!again) finding("a record it wrote does not read back", text);
  if (runtime::to_json(*again) != runtime::to_json(record))
    finding("a record read back differs", text + " -> " + runtime::to_json(*again).dump());
  (void)runtime::describe(record);
  (void)runtime::summary_json(record).dump();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);

  if (const auto box = runtime::read_black_box(bytes)) {
    for (const bool with_exit : {false, true}) {
      std::optional<runtime::ProcessExit> exit;
      if (with_exit) exit = runtime::ProcessExit{.signal = 9, .code = 0, .time_ms = 1};
      if (const auto record = runtime::crash_from_black_box(*box, exit, 2))
        check_round_trip(*record);
      else if (with_exit)
        finding("a run its parent saw killed made no record", "");
    }
  }

  if (const auto record = runtime::parse_crash_record(bytes)) check_round_trip(*record);

  if (const auto exit = runtime::parse_process_exit(bytes)) {
    const std::string text = runtime::to_string(*exit);
    const auto again = runtime::parse_process_exit(text);
    if (!again || again->signal != exit->signal || again->code != exit->code ||
        again->time_ms != exit->time_ms)
      finding("a process exit does not read back", text);
  }
  return 0;
}
