// The QoS bookkeeping an MQTT session keeps on both ends (client and router): packet identifiers,
// outbound QoS 1/2 flows with the peer's Receive Maximum, what to resend after a reconnect, and
// inbound QoS 2 duplicate suppression. Pure state, no I/O: the caller sends what it is told to.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <list>
#include <memory>
#include <optional>
#include <unordered_map>
#include <utility>
#include <vector>

#include "mqtt/packets.hpp"

namespace psos::mqtt {

// A set of packet identifiers (1..65535) that can also hand out a free one.
// The 65536 bits are split into 16 pages allocated on demand and freed when empty, because a
// router holds one set per session and most sessions have a handful of ids in use, not 8 KiB;
// the page table itself is allocated with the first id (most sessions of an idle broker never
// use one).
class PacketIdSet {
 public:
  static constexpr std::size_t kCapacity = 65535;

  // Inserts and returns the first free id after the last one allocated, wrapping from 65535 to 1,
  // so that a just released id is the last to be reused. 0 when all 65535 are in use.
  std::uint16_t allocate();
  // False (and no change) when `id` is 0 or already in the set.
  bool insert(std::uint16_t id);
  // False when `id` was not in the set.
  bool erase(std::uint16_t id) noexcept;
  bool contains(std::uint16_t id) const noexcept;
  std::size_t size() const noexcept { return size_; }
  bool full() const noexcept { return size_ == kCapacity; }
  void clear() noexcept;

 private:
  static constexpr unsigned kPageShift = 12;  // 4096 ids per page
  static constexpr unsigned kPages = 16;
  static constexpr unsigned kWordsPerPage = 64;
  using Page = std::array<std::uint64_t, kWordsPerPage>;

  std::uint32_t first_free_in_page(unsigned page, std::uint32_t from) const noexcept;
  void add(std::uint16_t id);
  void touch_page(unsigned page) noexcept;

  struct PageTable {
    std::array<std::unique_ptr<Page>, kPages> pages;
    std::array<std::uint16_t, kPages> size{};  // ids in use per page
  };

  std::unique_ptr<PageTable> table_;
  std::uint32_t size_ = 0;
  std::uint16_t last_allocated_ = 0;
  // The page used last stays allocated even when empty, so that one message at a time crossing
  // a page boundary does not allocate and free a page per message.
  unsigned hot_page_ = 0;
};

// Where an outbound QoS 1/2 message stands. A QoS 2 flow keeps its message until PUBCOMP so that
// completion can hand it back to the caller; only its packet id is resent after PUBREC.
enum class OutboundStage : std::uint8_t { AwaitingPuback, AwaitingPubrec, AwaitingPubcomp };

// A packet the caller must send for an outbound flow: PUBLISH (`dup` set when it is a resend
// after a reconnect) or PUBREL. `message` stays valid until the flow ends or restart_clean().
template <class Message>
struct OutboundPacket {
  PacketType type;  // Publish or Pubrel
  bool dup;
  std::uint16_t packet_id;
  QoS qos;
  const Message& message;
};

enum class AckStatus : std::uint8_t {
  // PUBACK or PUBCOMP ended the flow: the id is free, a window slot too (call next_publish()).
  Completed,
  // v5 PUBACK or PUBREC with a reason code >= 0x80: the peer did not accept the message. The flow
  // ended as for Completed; no PUBREL is sent.
  Refused,
  // PUBREC accepted (or repeated): send PUBREL with this id.
  SendPubrel,
  // No flow has this id. After PUBREC, answer PUBREL with 0x92 Packet Identifier not found (v5);
  // after PUBACK or PUBCOMP there is nothing to answer. State unchanged.
  UnknownPacketId,
  // The flow waits for another acknowledgement (PUBACK for a QoS 2 message, PUBCOMP before
  // PUBREC, PUBREC for a QoS 1 message): a protocol error (0x82). State unchanged.
  WrongStage,
};

template <class Message>
struct AckOutcome {
  AckStatus status;
  std::optional<Message> message;  // the flow's message when it ended (Completed, Refused)
};

// The QoS 1 and 2 messages we send, from queued to acknowledged. `Message` is the caller's type
// (the router's shared immutable message, the client's owned one), stored by move; it only needs
// to be move-constructible. Usage: enqueue(); after every event drain next_publish() and send
// what it returns; feed acknowledgements to on_puback/on_pubrec/on_pubcomp; on reconnect either
// for_each_resend() (session resumed) or restart_clean() (session not resumed).
//
// Order: messages leave the queue in the order they were enqueued, and in-flight flows are kept
// in the order their PUBLISH was first sent, which is also PUBREC order for a peer that
// acknowledges in order as spec 4.6 requires.
template <class Message>
class OutboundFlows {
 public:
  // `receive_maximum`: the peer's Receive Maximum (v5 CONNACK/CONNECT, 65535 when absent); for
  // v3.1.1 our own limit on unacknowledged messages.
  explicit OutboundFlows(std::uint16_t receive_maximum = 65535) noexcept {
    set_receive_maximum(receive_maximum);
  }

  // Takes effect for the next sends; flows already in flight are not touched. 0, which a
  // well-formed packet cannot carry, counts as 1 so that the queue never stalls.
  void set_receive_maximum(std::uint16_t receive_maximum) noexcept {
    receive_maximum_ = receive_maximum == 0 ? std::uint16_t{1} : receive_maximum;
  }
  std::uint16_t receive_maximum() const noexcept { return receive_maximum_; }

  // Queues a message to be sent with `qos`. False (nothing queued) for QoS 0, which has no flow.
  [[nodiscard]] bool enqueue(QoS qos, Message message) {
    if (qos == QoS::AtMostOnce) return false;
    queue().push_back(Pending{qos, std::move(message)});
    return true;
  }

  // Starts the flow of the oldest queued message and returns the PUBLISH to send (DUP 0) with its
  // new packet id; nullopt when nothing is queued, the window is full or no packet id is free.
  std::optional<OutboundPacket<Message>> next_publish() {
    if (pending() == 0 || in_flight_.size() >= receive_maximum_) return std::nullopt;
    const std::uint16_t id = ids_.allocate();
    if (id == 0) return std::nullopt;
    Pending& next = pending_->front();
    const OutboundStage stage = next.qos == QoS::AtLeastOnce ? OutboundStage::AwaitingPuback
                                                             : OutboundStage::AwaitingPubrec;
    in_flight_.push_back(Flow{id, next.qos, stage, std::move(next.message)});
    pending_->pop_front();
    by_id_.emplace(id, std::prev(in_flight_.end()));
    const Flow& flow = in_flight_.back();
    return OutboundPacket<Message>{PacketType::Publish, false, id, flow.qos, flow.message};
  }

  AckOutcome<Message> on_puback(std::uint16_t packet_id, ReasonCode reason = ReasonCode::Success) {
    const auto found = by_id_.find(packet_id);
    if (found == by_id_.end()) return {AckStatus::UnknownPacketId, std::nullopt};
    if (found->second->stage != OutboundStage::AwaitingPuback) {
      return {AckStatus::WrongStage, std::nullopt};
    }
    return end_flow(found, is_failure(reason) ? AckStatus::Refused : AckStatus::Completed);
  }

  // A PUBREC repeated for a flow already awaiting PUBCOMP is answered with PUBREL again: it is
  // harmless and lets the peer finish.
  AckOutcome<Message> on_pubrec(std::uint16_t packet_id, ReasonCode reason = ReasonCode::Success) {
    const auto found = by_id_.find(packet_id);
    if (found == by_id_.end()) return {AckStatus::UnknownPacketId, std::nullopt};
    Flow& flow = *found->second;
    if (flow.stage == OutboundStage::AwaitingPuback) return {AckStatus::WrongStage, std::nullopt};
    if (flow.stage == OutboundStage::AwaitingPubcomp) return {AckStatus::SendPubrel, std::nullopt};
    if (is_failure(reason)) return end_flow(found, AckStatus::Refused);
    flow.stage = OutboundStage::AwaitingPubcomp;
    return {AckStatus::SendPubrel, std::nullopt};
  }

  // Any PUBCOMP ends the flow, 0x92 included: the peer holds no state for it any more.
  AckOutcome<Message> on_pubcomp(std::uint16_t packet_id) {
    const auto found = by_id_.find(packet_id);
    if (found == by_id_.end()) return {AckStatus::UnknownPacketId, std::nullopt};
    if (found->second->stage != OutboundStage::AwaitingPubcomp) {
      return {AckStatus::WrongStage, std::nullopt};
    }
    return end_flow(found, AckStatus::Completed);
  }

  // Session resumed (CONNACK Session Present = 1, or the router resuming a session): calls
  // `send(const OutboundPacket<Message>&)` for every flow in flight, in original send order:
  // PUBLISH with DUP 1 and the same id while awaiting PUBACK or PUBREC, PUBREL while awaiting
  // PUBCOMP (spec 4.4). Queued messages are not included: drain next_publish() afterwards.
  template <class Send>
  void for_each_resend(Send&& send) const {
    for (const Flow& flow : in_flight_) {
      const bool pubrel = flow.stage == OutboundStage::AwaitingPubcomp;
      send(OutboundPacket<Message>{pubrel ? PacketType::Pubrel : PacketType::Publish, !pubrel,
                                   flow.packet_id, flow.qos, flow.message});
    }
  }

  // Session not resumed: the peer forgot every packet id. Messages the peer had not accepted
  // (awaiting PUBACK or PUBREC) are not dropped: they go back to the front of the queue in their
  // original order and will be sent as new messages with fresh ids, so a QoS 2 message whose
  // PUBREC was lost may arrive twice (exactly once holds within one session only). Messages
  // awaiting PUBCOMP were accepted by the peer (its PUBREC): their flows end and they are
  // returned, in send order. Ids from allocate_id() stay the caller's to release.
  std::vector<Message> restart_clean() {
    std::vector<Message> accepted;
    for (Flow& flow : in_flight_) {
      ids_.erase(flow.packet_id);
      if (flow.stage == OutboundStage::AwaitingPubcomp) accepted.push_back(std::move(flow.message));
    }
    for (auto flow = in_flight_.rbegin(); flow != in_flight_.rend(); ++flow) {
      if (flow->stage != OutboundStage::AwaitingPubcomp) {
        queue().push_front(Pending{flow->qos, std::move(flow->message)});
      }
    }
    in_flight_.clear();
    by_id_.clear();
    return accepted;
  }

  // Packet ids for SUBSCRIBE and UNSUBSCRIBE, which share the id space with PUBLISH (spec 2.2.1).
  // allocate_id() returns 0 when none is free; release_id() refuses ids held by a PUBLISH flow.
  std::uint16_t allocate_id() { return ids_.allocate(); }
  bool release_id(std::uint16_t packet_id) noexcept {
    return by_id_.find(packet_id) == by_id_.end() && ids_.erase(packet_id);
  }

  // Rebuilds a flow that was in flight when its state was saved (the router's persistence): the
  // message was sent with `packet_id` and waits in `stage`. Call in original send order, before
  // anything else is sent. False (nothing changed) when the id is 0 or already in use.
  bool restore_in_flight(std::uint16_t packet_id, QoS qos, OutboundStage stage, Message message) {
    if (qos == QoS::AtMostOnce || !ids_.insert(packet_id)) return false;
    in_flight_.push_back(Flow{packet_id, qos, stage, std::move(message)});
    by_id_.emplace(packet_id, std::prev(in_flight_.end()));
    return true;
  }

  // Drops queued (not yet sent) messages for which `discard(const Message&)` is true, such as
  // messages that expired while the peer was away; returns how many. Order of the rest is kept.
  template <class Discard>
  std::size_t discard_pending_if(Discard&& discard) {
    if (!pending_) return 0;
    const auto first = std::remove_if(pending_->begin(), pending_->end(),
                                      [&](const Pending& p) { return discard(p.message); });
    const auto n = static_cast<std::size_t>(pending_->end() - first);
    pending_->erase(first, pending_->end());
    return n;
  }

  // The message of the flow in flight with `packet_id`; nullptr when there is none.
  const Message* find(std::uint16_t packet_id) const noexcept {
    const auto found = by_id_.find(packet_id);
    return found == by_id_.end() ? nullptr : &found->second->message;
  }

  // Calls `f(const Message&)` for every message in flight or queued.
  template <class F>
  void for_each_message(F&& f) const {
    for (const Flow& flow : in_flight_)
      f(flow.message);
    if (!pending_) return;
    for (const Pending& p : *pending_)
      f(p.message);
  }

  std::size_t in_flight() const noexcept { return in_flight_.size(); }
  std::size_t pending() const noexcept { return pending_ ? pending_->size() : 0; }
  bool empty() const noexcept { return in_flight_.empty() && pending() == 0; }

 private:
  struct Pending {
    QoS qos;
    Message message;
  };
  struct Flow {
    std::uint16_t packet_id;
    QoS qos;
    OutboundStage stage;
    Message message;
  };
  using FlowList = std::list<Flow>;
  using Index = std::unordered_map<std::uint16_t, typename FlowList::iterator>;

  AckOutcome<Message> end_flow(typename Index::iterator found, AckStatus status) {
    const auto flow = found->second;
    AckOutcome<Message> outcome{status, std::move(flow->message)};
    ids_.erase(flow->packet_id);
    by_id_.erase(found);
    in_flight_.erase(flow);
    return outcome;
  }

  // Created with the first queued message: even empty, a std::deque allocates ~600 bytes, and a
  // router holds one per session while most sessions never queue anything.
  std::deque<Pending>& queue() {
    if (!pending_) pending_ = std::make_unique<std::deque<Pending>>();
    return *pending_;
  }

  std::uint16_t receive_maximum_ = 65535;
  PacketIdSet ids_;
  std::unique_ptr<std::deque<Pending>> pending_;
  FlowList in_flight_;  // original send order
  Index by_id_;
};

enum class InboundPublish : std::uint8_t {
  // New message: deliver it, then answer PUBREC.
  Deliver,
  // Its id still awaits PUBREL, so the peer is resending (DUP or not): answer PUBREC again, do
  // not deliver.
  Duplicate,
  // More unreleased QoS 2 messages than our Receive Maximum: v5 DISCONNECT with 0x93. Not stored.
  ReceiveMaximumExceeded,
};

// The QoS 2 messages we received and answered with PUBREC, until their PUBREL: what makes
// delivery exactly once when the peer resends after a reconnect (spec 4.3.3, method B: deliver
// on PUBLISH, keep the id). QoS 1 needs no state: deliver and answer PUBACK at once. The limit
// therefore counts QoS 2 messages only, which is exact as long as PUBACKs are not delayed.
class InboundQos2 {
 public:
  explicit InboundQos2(std::uint16_t receive_maximum = 65535) noexcept {
    set_receive_maximum(receive_maximum);
  }

  // Our Receive Maximum, as sent in CONNECT or CONNACK; 0 counts as 1, as for OutboundFlows.
  void set_receive_maximum(std::uint16_t receive_maximum) noexcept {
    receive_maximum_ = receive_maximum == 0 ? std::uint16_t{1} : receive_maximum;
  }
  std::uint16_t receive_maximum() const noexcept { return receive_maximum_; }

  // A QoS 2 PUBLISH arrived. `packet_id` is non-zero (the decoder rejects 0; 0 is Deliver and
  // stores nothing).
  InboundPublish on_publish(std::uint16_t packet_id);
  // A PUBREL arrived: true when the id was awaiting it (answer PUBCOMP), false when not (v5:
  // answer PUBCOMP with 0x92 Packet Identifier not found; v3.1.1: plain PUBCOMP).
  bool on_pubrel(std::uint16_t packet_id) noexcept { return ids_.erase(packet_id); }
  // Session not resumed: the peer starts again from nothing.
  void clear() noexcept { ids_.clear(); }

  std::size_t awaiting_pubrel() const noexcept { return ids_.size(); }

 private:
  PacketIdSet ids_;
  std::uint16_t receive_maximum_ = 65535;
};

}  // namespace psos::mqtt
