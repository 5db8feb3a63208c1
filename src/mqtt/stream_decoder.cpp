// Incremental decoding: packets inside the caller's chunk are decoded in place; a packet split
// across chunks is assembled in buffer_ first.
#include "mqtt/stream_decoder.hpp"

#include <algorithm>

namespace psos::mqtt {

void StreamDecoder::feed(std::string_view chunk) noexcept {
  chunk_ = chunk;
}

StreamDecoder::Status StreamDecoder::fail(const Error& error) noexcept {
  failed_ = true;
  error_ = error;
  chunk_ = {};
  return Status::Failed;
}

StreamDecoder::Status StreamDecoder::next(Packet& out) {
  if (failed_) return Status::Failed;
  if (buffer_consumed_) {
    buffer_.clear();
    buffer_consumed_ = false;
  }
  FixedHeader header;
  Error error;
  const auto too_large = [&] {
    return Error{ReasonCode::PacketTooLarge, "packet is larger than the maximum packet size", 0,
                 static_cast<std::uint8_t>(header.first_byte >> 4), 0};
  };

  if (!buffer_.empty()) {
    // Finish the packet started in an earlier chunk: header first, a byte at a time.
    while (true) {
      const HeaderStatus status = parse_fixed_header(buffer_, header, error);
      if (status == HeaderStatus::Invalid) return fail(error);
      if (status == HeaderStatus::Complete) break;
      if (chunk_.empty()) return Status::NeedMore;
      buffer_.push_back(chunk_.front());
      chunk_.remove_prefix(1);
    }
    if (header.total_size() > max_packet_size_) return fail(too_large());
    const std::size_t take = std::min(header.total_size() - buffer_.size(), chunk_.size());
    buffer_.append(chunk_.data(), take);
    chunk_.remove_prefix(take);
    if (buffer_.size() < header.total_size()) return Status::NeedMore;
    buffer_consumed_ = true;
    raw_ = buffer_;
    if (const Error e = decode(raw_, version_, out)) return fail(e);
    return Status::Ready;
  }

  if (chunk_.empty()) return Status::NeedMore;
  const HeaderStatus status = parse_fixed_header(chunk_, header, error);
  if (status == HeaderStatus::Invalid) return fail(error);
  if (status == HeaderStatus::Complete) {
    if (header.total_size() > max_packet_size_) return fail(too_large());
    if (chunk_.size() >= header.total_size()) {
      raw_ = chunk_.substr(0, header.total_size());
      chunk_.remove_prefix(header.total_size());
      if (const Error e = decode(raw_, version_, out)) return fail(e);
      return Status::Ready;
    }
    // Grow with the data rather than trusting a declared size of up to 256 MiB.
    buffer_.reserve(std::min<std::size_t>(header.total_size(), 64 * 1024));
  }
  buffer_.assign(chunk_.data(), chunk_.size());
  chunk_ = {};
  return Status::NeedMore;
}

}  // namespace psos::mqtt
