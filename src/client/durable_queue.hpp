// The client's durable queue (opt-in, ClientOptions::data_dir): QoS 1/2 messages from publish()
// until the broker acknowledges them, with the packet id and stage of each flow, in SQLite (WAL).
// What makes "nothing lost" hold across a crash of the publishing process.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "client/message.hpp"
#include "client/session.hpp"
#include "sqlite/database.hpp"

namespace psos::client {

class DurableQueue {
 public:
  struct Stored {
    Token token = 0;  // the order messages were published in
    Message message;
    std::uint16_t packet_id = 0;  // 0: never sent
    mqtt::OutboundStage stage = mqtt::OutboundStage::AwaitingPuback;
  };

  // Opens (creating) DIR/client-<client id>.db. Throws std::runtime_error (sqlite::Error) saying
  // what failed.
  DurableQueue(const std::string& dir, const std::string& client_id);
  ~DurableQueue();
  DurableQueue(const DurableQueue&) = delete;
  DurableQueue& operator=(const DurableQueue&) = delete;

  // Everything stored, oldest first.
  std::vector<Stored> load();

  // Writes join one transaction until commit() (group commit); the client commits before it
  // writes to the network and at the end of every event-loop turn that added a message.
  void add(Token token, const Message& message);
  void sent(Token token, std::uint16_t packet_id);
  void released(Token token);  // PUBREC arrived
  void remove(Token token);    // acknowledged, refused or cancelled
  void reset_ids();            // a new session: no flow has a packet id any more
  void commit();

 private:
  void begin();

  sqlite::Database db_;
  sqlite::Statement insert_, sent_, released_, remove_;
};

}  // namespace psos::client
