// Subscription trie speed and size at broker scale: matches per second, subscribe/unsubscribe
// per second, bytes per subscription and build time with 10k, 100k and 1M subscriptions.
//
// The table looks like a fleet: sites of 1000 devices, mostly exact filters
// "site/<s>/dev/<d>/temp", 5% with '+' in one of four places and 1% "site/<s>/#"; ten
// subscriptions per session. Every published topic is a device reading.
#include <benchmark/benchmark.h>
#include <malloc.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "mqtt/subscription_trie.hpp"

namespace psos::mqtt {
namespace {

constexpr std::size_t kDevicesPerSite = 1000;
constexpr std::size_t kSubscriptionsPerSession = 10;

std::string filter_for(std::size_t i) {
  const std::string site = std::to_string(i / kDevicesPerSite);
  const std::string device = std::to_string(i % kDevicesPerSite);
  switch (i % 100) {
    case 0:
      return "site/" + site + "/dev/+/temp";  // every device of a site
    case 1:
      return "site/" + site + "/+/" + device + "/temp";
    case 2:
    case 3:
      return "site/" + site + "/dev/" + device + "/+";
    case 4:
      return "+/" + site + "/dev/" + device + "/temp";
    case 5:
      return "site/" + site + "/#";
    default:
      return "site/" + site + "/dev/" + device + "/temp";
  }
}

// glibc's count of bytes handed out: small blocks plus blocks large enough to be mmapped.
std::size_t heap_in_use() {
  const struct mallinfo2 info = mallinfo2();
  return info.uordblks + info.hblkhd;
}

struct Table {
  SubscriptionTrie trie;
  std::vector<std::string> topics;  // what gets published, cycled through
  double build_seconds = 0;
  double bytes_per_subscription = 0;
};

// Built once per size and kept: Google Benchmark calls a benchmark function several times.
Table& table(std::size_t subscriptions) {
  static std::map<std::size_t, std::unique_ptr<Table>> tables;
  std::unique_ptr<Table>& slot = tables[subscriptions];
  if (slot) return *slot;
  slot = std::make_unique<Table>();
  Table& t = *slot;

  const std::size_t heap_before = heap_in_use();
  const auto start = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i < subscriptions; ++i) {
    SubscriptionOptions options;
    options.qos = QoS::AtLeastOnce;
    t.trie.add(filter_for(i), i / kSubscriptionsPerSession, options);
  }
  t.build_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  t.bytes_per_subscription =
      static_cast<double>(heap_in_use() - heap_before) / static_cast<double>(t.trie.size());

  std::uint64_t x = 0x9E37'79B9'7F4A'7C15;  // xorshift: the same topics every run
  for (int i = 0; i < 4096; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    const std::size_t device = x % subscriptions;
    t.topics.push_back("site/" + std::to_string(device / kDevicesPerSite) + "/dev/" +
                       std::to_string(device % kDevicesPerSite) + "/temp");
  }
  return t;
}

void BM_TrieMatch(benchmark::State& state) {
  Table& t = table(static_cast<std::size_t>(state.range(0)));
  std::size_t next = 0;
  std::uint64_t delivered = 0;
  for (auto _ : state) {
    const std::string& topic = t.topics[next++ & 4095];
    t.trie.match(
        topic, [&](const Subscription&) { ++delivered; }, [&](SharedGroup&) { ++delivered; });
  }
  benchmark::DoNotOptimize(delivered);
  const auto matches = static_cast<double>(state.iterations());
  state.counters["matches/s"] = benchmark::Counter(matches, benchmark::Counter::kIsRate);
  state.counters["subscribers/match"] = static_cast<double>(delivered) / matches;
  state.counters["bytes/sub"] = t.bytes_per_subscription;
  state.counters["build_s"] = t.build_seconds;
  state.counters["nodes"] = static_cast<double>(t.trie.node_count());
}
BENCHMARK(BM_TrieMatch)->Arg(10'000)->Arg(100'000)->Arg(1'000'000);

// A session subscribing to and dropping a filter of its own, in a full table.
void BM_TrieSubscribeUnsubscribe(benchmark::State& state) {
  Table& t = table(static_cast<std::size_t>(state.range(0)));
  const std::uint64_t session = UINT64_MAX;
  std::vector<std::string> filters;
  for (const std::string& topic : t.topics)
    filters.push_back(topic + "/+");
  std::size_t next = 0;
  for (auto _ : state) {
    const std::string& filter = filters[next++ & 4095];
    t.trie.add(filter, session, SubscriptionOptions{});
    t.trie.remove(filter, session);
  }
  state.counters["pairs/s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_TrieSubscribeUnsubscribe)->Arg(10'000)->Arg(100'000)->Arg(1'000'000);

}  // namespace
}  // namespace psos::mqtt

BENCHMARK_MAIN();
