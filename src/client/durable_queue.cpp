// SQLite storage of the client's unacknowledged QoS 1/2 messages (see durable_queue.hpp). A message
// is kept as the v5 PUBLISH the protocol core encodes, so every property survives.
#include "client/durable_queue.hpp"

#include <filesystem>
#include <stdexcept>

#include "mqtt/codec.hpp"

namespace psos::client {

namespace {
constexpr const char* kSchema = R"(
PRAGMA journal_mode=WAL;
PRAGMA synchronous=NORMAL;
CREATE TABLE IF NOT EXISTS outbox(token INTEGER PRIMARY KEY, packet BLOB NOT NULL,
  packet_id INTEGER NOT NULL DEFAULT 0, released INTEGER NOT NULL DEFAULT 0);
)";
}  // namespace

namespace {
std::string database_path(const std::string& dir, const std::string& client_id) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw std::runtime_error("cannot create data directory " + dir + ": " + ec.message());
  std::string name = client_id;
  for (char& c : name)
    if (c == '/' || c == '\\' || c == '\0') c = '_';
  return (std::filesystem::path(dir) / ("client-" + name + ".db")).string();
}
}  // namespace

DurableQueue::DurableQueue(const std::string& dir, const std::string& client_id)
    : db_(database_path(dir, client_id)) {
  db_.busy_timeout(std::chrono::seconds(5));
  db_.exec(kSchema);
  insert_ = db_.prepare("INSERT OR REPLACE INTO outbox(token, packet) VALUES(?, ?)");
  sent_ = db_.prepare("UPDATE outbox SET packet_id = ? WHERE token = ?");
  released_ = db_.prepare("UPDATE outbox SET released = 1 WHERE token = ?");
  remove_ = db_.prepare("DELETE FROM outbox WHERE token = ?");
}

DurableQueue::~DurableQueue() {
  try {
    commit();
  } catch (const std::exception&) {
    // Nothing more can be done in a destructor; what was committed before stays.
  }
}

void DurableQueue::begin() {
  if (!db_.in_transaction()) db_.begin();
}

void DurableQueue::commit() {
  if (db_.in_transaction()) db_.commit();
}

std::vector<DurableQueue::Stored> DurableQueue::load() {
  std::vector<Stored> out;
  sqlite::Statement s =
      db_.prepare("SELECT token, packet, packet_id, released FROM outbox ORDER BY token");
  while (s.step()) {
    mqtt::Packet packet;
    if (mqtt::decode(s.blob(1), mqtt::Version::v5, packet) ||
        !std::holds_alternative<mqtt::Publish>(packet))
      continue;  // unreadable rows cannot be sent; they are dropped with the next remove
    Stored stored;
    stored.token = static_cast<Token>(s.integer(0));
    const auto& publish = std::get<mqtt::Publish>(packet);
    mqtt::fill_message(publish, publish.topic, stored.message);
    stored.message.dup = false;
    stored.packet_id = static_cast<std::uint16_t>(s.integer(2));
    const bool released = s.integer(3) != 0;
    stored.stage = stored.message.qos == mqtt::QoS::AtLeastOnce
                       ? mqtt::OutboundStage::AwaitingPuback
                   : released ? mqtt::OutboundStage::AwaitingPubcomp
                              : mqtt::OutboundStage::AwaitingPubrec;
    out.push_back(std::move(stored));
  }
  return out;
}

void DurableQueue::add(Token token, const Message& message) {
  mqtt::Publish p;
  mqtt::fill_publish(message, p);
  p.packet_id = 1;
  std::string bytes;
  if (const mqtt::Error e = mqtt::encode(p, mqtt::Version::v5, bytes))
    throw std::runtime_error("durable queue: cannot encode a message on " + message.topic + ": " +
                             mqtt::to_string(e));
  begin();
  insert_.bind(1, static_cast<std::int64_t>(token)).bind_blob(2, bytes).run();
}

void DurableQueue::sent(Token token, std::uint16_t packet_id) {
  begin();
  sent_.bind(1, packet_id).bind(2, static_cast<std::int64_t>(token)).run();
}

void DurableQueue::released(Token token) {
  begin();
  released_.bind(1, static_cast<std::int64_t>(token)).run();
}

void DurableQueue::remove(Token token) {
  begin();
  remove_.bind(1, static_cast<std::int64_t>(token)).run();
}

void DurableQueue::reset_ids() {
  begin();
  db_.exec("UPDATE outbox SET packet_id = 0 WHERE released = 0");
}

}  // namespace psos::client
