// Packet id set and inbound QoS 2 state; the outbound flow table is a template in the header.
#include "mqtt/session_state.hpp"

#include <bit>

namespace psos::mqtt {

namespace {

constexpr std::uint64_t kAllTaken = ~std::uint64_t{0};

}  // namespace

std::uint16_t PacketIdSet::allocate() {
  if (full()) return 0;
  const std::uint32_t start = (last_allocated_ + 1u) & 0xFFFFu;
  const unsigned first_page = start >> kPageShift;
  // kPages + 1 steps: the last one revisits the first page from its beginning (the wrap-around).
  for (unsigned step = 0; step <= kPages; ++step) {
    const unsigned page = (first_page + step) % kPages;
    const std::uint32_t from = step == 0 ? start : std::uint32_t{page} << kPageShift;
    const std::uint32_t id = first_free_in_page(page, from);
    if (id != 0) {
      last_allocated_ = static_cast<std::uint16_t>(id);
      add(last_allocated_);
      return last_allocated_;
    }
  }
  return 0;  // not reached: a set that is not full has a free id in some page
}

bool PacketIdSet::insert(std::uint16_t id) {
  if (id == 0 || contains(id)) return false;
  add(id);
  return true;
}

bool PacketIdSet::erase(std::uint16_t id) noexcept {
  if (!contains(id)) return false;
  const unsigned page = id >> kPageShift;
  const unsigned bit = id & ((1u << kPageShift) - 1);
  (*table_->pages[page])[bit / 64] &= ~(std::uint64_t{1} << (bit % 64));
  --table_->size[page];
  --size_;
  if (table_->size[page] == 0 && page != hot_page_) table_->pages[page].reset();
  return true;
}

bool PacketIdSet::contains(std::uint16_t id) const noexcept {
  const unsigned page = id >> kPageShift;
  if (id == 0 || !table_ || !table_->pages[page]) return false;
  const unsigned bit = id & ((1u << kPageShift) - 1);
  return ((*table_->pages[page])[bit / 64] >> (bit % 64) & 1u) != 0;
}

void PacketIdSet::clear() noexcept {
  table_.reset();
  size_ = 0;
}

// The first id >= `from` in `page` that is free, 0 when there is none. `from` lies in `page`.
std::uint32_t PacketIdSet::first_free_in_page(unsigned page, std::uint32_t from) const noexcept {
  if (!table_ || !table_->pages[page]) return from == 0 ? 1 : from;
  const std::uint32_t base = std::uint32_t{page} << kPageShift;
  const std::uint32_t ids_in_page = page == 0 ? (1u << kPageShift) - 1 : 1u << kPageShift;
  if (table_->size[page] == ids_in_page) return 0;
  const Page& bits = *table_->pages[page];
  const std::uint32_t offset = from - base;
  std::uint64_t below_from = (std::uint64_t{1} << (offset % 64)) - 1;
  for (unsigned word = offset / 64; word < kWordsPerPage; ++word) {
    std::uint64_t taken = bits[word] | below_from;
    if (page == 0 && word == 0) taken |= 1;  // id 0 is never handed out
    if (taken != kAllTaken) {
      return base + word * 64 + static_cast<std::uint32_t>(std::countr_one(taken));
    }
    below_from = 0;
  }
  return 0;
}

void PacketIdSet::add(std::uint16_t id) {
  const unsigned page = id >> kPageShift;
  if (!table_) table_ = std::make_unique<PageTable>();
  touch_page(page);
  auto& bits = table_->pages[page];
  if (!bits) bits = std::make_unique<Page>();
  const unsigned bit = id & ((1u << kPageShift) - 1);
  (*bits)[bit / 64] |= std::uint64_t{1} << (bit % 64);
  ++table_->size[page];
  ++size_;
}

// Moves the "hot" mark to `page`, freeing the page it leaves if that one is empty.
void PacketIdSet::touch_page(unsigned page) noexcept {
  if (page == hot_page_) return;
  if (table_->size[hot_page_] == 0) table_->pages[hot_page_].reset();
  hot_page_ = page;
}

InboundPublish InboundQos2::on_publish(std::uint16_t packet_id) {
  if (ids_.contains(packet_id)) return InboundPublish::Duplicate;
  if (ids_.size() >= receive_maximum_) return InboundPublish::ReceiveMaximumExceeded;
  ids_.insert(packet_id);
  return InboundPublish::Deliver;
}

}  // namespace psos::mqtt
