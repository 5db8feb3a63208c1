// What the signed commands cost a node: signing a request (the caller's side), verifying an
// Ed25519 signature alone, and the whole gate check of a request (parse, trust, signature, time,
// nonce) as a node makes it for every request.
#include <benchmark/benchmark.h>

#include <chrono>

#include "control/keys.hpp"
#include "control/request.hpp"

namespace {

using namespace psos::control;

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

const PrivateKey& admin() {
  static const PrivateKey key = PrivateKey::generate();
  return key;
}

Request trivial_call(std::int64_t at) {
  return new_request(
      "greenhouse", "gw", "call",
      {{"service", "archive"}, {"function", "status"}, {"args", nlohmann::json::object()}}, at);
}

void sign(benchmark::State& state) {
  const std::int64_t at = now_ms();
  for (auto _ : state)
    benchmark::DoNotOptimize(sign_request(trivial_call(at), admin()));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(sign);

void verify_signature(benchmark::State& state) {
  const std::string message = std::string(kSignedPrefix) + request_text(trivial_call(now_ms()));
  const std::string signature = admin().sign(message);
  const PublicKey& key = admin().public_key();
  for (auto _ : state)
    benchmark::DoNotOptimize(key.verify(message, signature));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(verify_signature);

// Every request new (its own nonce), as a node sees them; requests are signed outside the timing.
void gate_check(benchmark::State& state) {
  const std::int64_t at = now_ms();
  RequestGate gate("greenhouse", "gw", {{"admin", admin().public_key()}}, at - 1000,
                   GateOptions{.max_nonces = 1'000'000});
  std::vector<std::string> payloads;
  for (int i = 0; i < 4096; ++i)
    payloads.push_back(sign_request(trivial_call(at), admin()));
  std::size_t i = 0, accepted = 0;
  for (auto _ : state) {
    if (i == payloads.size()) {
      state.PauseTiming();
      gate = RequestGate("greenhouse", "gw", {{"admin", admin().public_key()}}, at - 1000,
                         GateOptions{.max_nonces = 1'000'000});
      i = 0;
      state.ResumeTiming();
    }
    accepted += std::holds_alternative<Accepted>(gate.check("call", payloads[i++], false, at));
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["accepted"] =
      benchmark::Counter(static_cast<double>(accepted) / static_cast<double>(state.iterations()));
}
BENCHMARK(gate_check);

// A refused request with a bad signature costs a verify too; an unsigned one (not even a valid
// envelope) only the parse.
void gate_refuses_unsigned(benchmark::State& state) {
  const std::int64_t at = now_ms();
  RequestGate gate("greenhouse", "gw", {{"admin", admin().public_key()}}, at - 1000);
  const std::string payload = R"({"verb":"call","args":{"service":"archive"}})";
  for (auto _ : state)
    benchmark::DoNotOptimize(gate.check("call", payload, false, at));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(gate_refuses_unsigned);

}  // namespace

BENCHMARK_MAIN();
