// The stamp layout, the histogram's bucket arithmetic and the sequence bitmaps.
#include "bench_stats.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>

namespace psos::cli::bench {
namespace {

constexpr std::uint32_t kMagic = 0x50'53'42'31;  // "PSB1"

}  // namespace

void write_stamp(const Stamp& stamp, char* payload) noexcept {
  // Host byte order: sender and receiver are the same program on the same host.
  std::memcpy(payload, &kMagic, 4);
  std::memcpy(payload + 4, &stamp.publisher, 4);
  std::memcpy(payload + 8, &stamp.sequence, 8);
  std::memcpy(payload + 16, &stamp.sent_ns, 8);
}

std::optional<Stamp> read_stamp(std::string_view payload) noexcept {
  std::uint32_t magic = 0;
  if (payload.size() < kStampSize) return std::nullopt;
  std::memcpy(&magic, payload.data(), 4);
  if (magic != kMagic) return std::nullopt;
  Stamp stamp;
  std::memcpy(&stamp.publisher, payload.data() + 4, 4);
  std::memcpy(&stamp.sequence, payload.data() + 8, 8);
  std::memcpy(&stamp.sent_ns, payload.data() + 16, 8);
  return stamp;
}

std::size_t LatencyHistogram::bucket_of(std::uint64_t ns) noexcept {
  constexpr std::uint64_t exact = 2u << kSubBits;
  if (ns < exact) return static_cast<std::size_t>(ns);
  const unsigned shift = static_cast<unsigned>(std::bit_width(ns)) - kSubBits - 1;
  return exact + (shift - 1) * (1u << kSubBits) + ((ns >> shift) - (1u << kSubBits));
}

std::uint64_t LatencyHistogram::value_of(std::size_t bucket) noexcept {
  constexpr std::size_t exact = 2u << kSubBits;
  if (bucket < exact) return bucket;
  const std::size_t k = bucket - exact;
  const unsigned shift = static_cast<unsigned>(k >> kSubBits) + 1;
  const std::uint64_t low = ((k & ((1u << kSubBits) - 1)) + (1u << kSubBits)) << shift;
  return low + (std::uint64_t{1} << shift) / 2;
}

void LatencyHistogram::add(std::uint64_t ns) noexcept {
  ++counts_[bucket_of(ns)];
  ++count_;
  min_ = std::min(min_, ns);
  max_ = std::max(max_, ns);
  sum_ += static_cast<long double>(ns);
}

void LatencyHistogram::merge(const LatencyHistogram& other) noexcept {
  for (std::size_t i = 0; i < kBuckets; ++i)
    counts_[i] += other.counts_[i];
  count_ += other.count_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
  sum_ += other.sum_;
}

void LatencyHistogram::clear() noexcept {
  *this = LatencyHistogram();
}

double LatencyHistogram::mean() const noexcept {
  return count_ == 0 ? 0.0 : static_cast<double>(sum_ / static_cast<long double>(count_));
}

std::uint64_t LatencyHistogram::percentile(double percent) const noexcept {
  if (count_ == 0) return 0;
  const double wanted =
      std::ceil(std::clamp(percent, 0.0, 100.0) / 100.0 * static_cast<double>(count_));
  const std::uint64_t rank = std::max<std::uint64_t>(1, static_cast<std::uint64_t>(wanted));
  if (rank >= count_) return max_;
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < kBuckets; ++i) {
    seen += counts_[i];
    if (seen >= rank) return std::clamp(value_of(i), min(), max_);
  }
  return max_;
}

bool SequenceTracker::add(std::uint64_t sequence) {
  const auto word = static_cast<std::size_t>(sequence / 64);
  const std::uint64_t bit = std::uint64_t{1} << (sequence % 64);
  if (word >= seen_.size()) seen_.resize(std::max(word + 1, seen_.size() * 2), 0);
  if (seen_[word] & bit) {
    ++duplicates_;
    return false;
  }
  seen_[word] |= bit;
  ++unique_;
  return true;
}

}  // namespace psos::cli::bench
