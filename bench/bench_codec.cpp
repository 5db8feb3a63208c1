// Codec throughput: decoding and encoding PUBLISH packets (v5 and v3.1.1, QoS 0 and 1, 64 B and
// 4 KiB payloads), reported as packets/s (items_per_second) and bytes/s (bytes_per_second).
// memcpy of the same stream is the physical limit; scripts/bench compares against mqtt-packet.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "mqtt/codec.hpp"
#include "mqtt/stream_decoder.hpp"

namespace psos::mqtt {
namespace {

constexpr std::string_view kTopic = "sensors/e01/dht";
// A socket read: the stream decoder is handed the bytes in chunks of this size, so packets
// straddle chunk boundaries as they do behind a real connection.
constexpr std::size_t kReadSize = 64 * 1024;
// Enough packets that a stream is many reads long, few enough that it stays in L2.
constexpr std::size_t kStreamBytes = 1024 * 1024;

struct Case {
  Version version;
  QoS qos;
  std::size_t payload_size;
};

std::string_view version_name(Version version) {
  return version == Version::v5 ? "v5" : "v311";
}

std::string case_name(const char* what, const Case& c) {
  return std::string(what) + "/" + std::string(version_name(c.version)) + "/qos" +
         std::to_string(static_cast<int>(c.qos)) + "/" + std::to_string(c.payload_size);
}

// The payload bytes are the same in every process that builds them (tools/bench does too).
std::string make_payload(std::size_t size) {
  std::string payload(size, '\0');
  for (std::size_t i = 0; i < size; ++i)
    payload[i] = static_cast<char>('a' + i % 26);
  return payload;
}

Publish make_publish(const Case& c, std::string_view payload) {
  Publish publish;
  publish.topic = kTopic;
  publish.payload = payload;
  publish.qos = c.qos;
  publish.packet_id = c.qos == QoS::AtMostOnce ? 0 : 1;
  return publish;
}

// One encoded PUBLISH, or an empty string after reporting the error.
std::string encode_case(benchmark::State& state, const Case& c, const std::string& payload) {
  std::string bytes;
  if (const Error error = encode(Packet{make_publish(c, payload)}, c.version, bytes)) {
    state.SkipWithError(("encode failed: " + to_string(error)).c_str());
    bytes.clear();
  }
  return bytes;
}

std::string repeat_to_stream(const std::string& packet) {
  std::string stream;
  const std::size_t count = std::max<std::size_t>(1, kStreamBytes / packet.size());
  stream.reserve(count * packet.size());
  for (std::size_t i = 0; i < count; ++i)
    stream += packet;
  return stream;
}

void decode_stream(benchmark::State& state, Case c) {
  const std::string payload = make_payload(c.payload_size);
  const std::string packet_bytes = encode_case(state, c, payload);
  if (packet_bytes.empty()) return;
  const std::string stream = repeat_to_stream(packet_bytes);
  const std::size_t packets_per_stream = stream.size() / packet_bytes.size();

  StreamDecoder decoder(c.version);
  Packet packet;
  std::size_t decoded = 0;
  for (auto _ : state) {
    for (std::size_t offset = 0; offset < stream.size(); offset += kReadSize) {
      decoder.feed(std::string_view(stream).substr(offset, kReadSize));
      StreamDecoder::Status status;
      while ((status = decoder.next(packet)) == StreamDecoder::Status::Ready) {
        benchmark::DoNotOptimize(packet);
        ++decoded;
      }
      if (status == StreamDecoder::Status::Failed) {
        state.SkipWithError(("decode failed: " + to_string(decoder.error())).c_str());
        return;
      }
    }
  }
  if (decoded != state.iterations() * packets_per_stream) {
    state.SkipWithError("the stream decoder returned the wrong number of packets");
    return;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(decoded));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * stream.size()));
}

void decode_one(benchmark::State& state, Case c) {
  const std::string payload = make_payload(c.payload_size);
  const std::string packet_bytes = encode_case(state, c, payload);
  if (packet_bytes.empty()) return;

  Packet packet;
  for (auto _ : state) {
    const Error error = decode(packet_bytes, c.version, packet);
    benchmark::DoNotOptimize(error);
    benchmark::DoNotOptimize(packet);
  }
  if (const Error error = decode(packet_bytes, c.version, packet)) {
    state.SkipWithError(("decode failed: " + to_string(error)).c_str());
    return;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * packet_bytes.size()));
}

void encode_one(benchmark::State& state, Case c) {
  const std::string payload = make_payload(c.payload_size);
  const Packet packet{make_publish(c, payload)};
  std::string out;
  std::size_t bytes = 0;
  for (auto _ : state) {
    out.clear();
    const Error error = encode(packet, c.version, out);
    benchmark::DoNotOptimize(error);
    benchmark::DoNotOptimize(out.data());
    bytes += out.size();
  }
  if (const Error error = encode(packet, c.version, out)) {
    state.SkipWithError(("encode failed: " + to_string(error)).c_str());
    return;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
}

// Copies the decode_stream bytes, read by read, into a socket-read-sized buffer: what it costs
// to touch every byte once. Items are the packets those bytes hold, to compare packets/s too.
void memcpy_stream(benchmark::State& state, Case c) {
  const std::string payload = make_payload(c.payload_size);
  const std::string packet_bytes = encode_case(state, c, payload);
  if (packet_bytes.empty()) return;
  const std::string stream = repeat_to_stream(packet_bytes);
  std::vector<char> destination(kReadSize);
  for (auto _ : state) {
    for (std::size_t offset = 0; offset < stream.size(); offset += kReadSize) {
      const std::size_t size = std::min(kReadSize, stream.size() - offset);
      std::memcpy(destination.data(), stream.data() + offset, size);
      benchmark::DoNotOptimize(destination.data());
      benchmark::ClobberMemory();
    }
  }
  state.SetItemsProcessed(
      static_cast<std::int64_t>(state.iterations() * (stream.size() / packet_bytes.size())));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * stream.size()));
}

void register_benchmarks() {
  std::vector<Case> cases;
  for (const std::size_t payload_size : {std::size_t{64}, std::size_t{4096}}) {
    for (const Version version : {Version::v5, Version::v311}) {
      for (const QoS qos : {QoS::AtMostOnce, QoS::AtLeastOnce}) {
        cases.push_back({version, qos, payload_size});
      }
    }
  }
  for (const Case& c : cases) {
    benchmark::RegisterBenchmark(case_name("decode_stream", c).c_str(), decode_stream, c);
  }
  for (const std::size_t payload_size : {std::size_t{64}, std::size_t{4096}}) {
    const Case c{Version::v5, QoS::AtMostOnce, payload_size};
    benchmark::RegisterBenchmark(case_name("memcpy_stream", c).c_str(), memcpy_stream, c);
  }
  for (const Case& c : cases) {
    benchmark::RegisterBenchmark(case_name("decode", c).c_str(), decode_one, c);
  }
  for (const Case& c : cases) {
    benchmark::RegisterBenchmark(case_name("encode", c).c_str(), encode_one, c);
  }
}

}  // namespace
}  // namespace psos::mqtt

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  psos::mqtt::register_benchmarks();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
