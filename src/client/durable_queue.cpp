// SQLite storage of the client's unacknowledged QoS 1/2 messages (see durable_queue.hpp). A message
// is kept as the v5 PUBLISH the protocol core encodes, so every property survives.
#include "client/durable_queue.hpp"

#include <sqlite3.h>

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

DurableQueue::DurableQueue(const std::string& dir, const std::string& client_id) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw std::runtime_error("cannot create data directory " + dir + ": " + ec.message());
  std::string name = client_id;
  for (char& c : name)
    if (c == '/' || c == '\\' || c == '\0') c = '_';
  path_ = (std::filesystem::path(dir) / ("client-" + name + ".db")).string();
  if (sqlite3_open(path_.c_str(), &db_) != SQLITE_OK) fail("cannot open");
  sqlite3_busy_timeout(db_, 5000);
  if (sqlite3_exec(db_, kSchema, nullptr, nullptr, nullptr) != SQLITE_OK) fail("cannot initialise");
  insert_ = prepare("INSERT OR REPLACE INTO outbox(token, packet) VALUES(?, ?)");
  sent_ = prepare("UPDATE outbox SET packet_id = ? WHERE token = ?");
  released_ = prepare("UPDATE outbox SET released = 1 WHERE token = ?");
  remove_ = prepare("DELETE FROM outbox WHERE token = ?");
}

DurableQueue::~DurableQueue() {
  try {
    commit();
  } catch (const std::exception&) {
    // Nothing more can be done in a destructor; what was committed before stays.
  }
  for (sqlite3_stmt* s : {insert_, sent_, released_, remove_})
    sqlite3_finalize(s);
  sqlite3_close(db_);
}

void DurableQueue::fail(const char* what) {
  throw std::runtime_error(std::string("durable queue ") + path_ + ": " + what + ": " +
                           (db_ != nullptr ? sqlite3_errmsg(db_) : "out of memory"));
}

sqlite3_stmt* DurableQueue::prepare(const char* sql) {
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(db_, sql, -1, &s, nullptr) != SQLITE_OK) fail("cannot prepare");
  return s;
}

void DurableQueue::run(sqlite3_stmt* statement) {
  const int rc = sqlite3_step(statement);
  sqlite3_reset(statement);
  sqlite3_clear_bindings(statement);
  if (rc != SQLITE_DONE) fail("cannot write");
}

void DurableQueue::begin() {
  if (in_transaction_) return;
  if (sqlite3_exec(db_, "BEGIN", nullptr, nullptr, nullptr) != SQLITE_OK) fail("cannot begin");
  in_transaction_ = true;
}

void DurableQueue::commit() {
  if (!in_transaction_) return;
  in_transaction_ = false;
  if (sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) fail("cannot commit");
}

std::vector<DurableQueue::Stored> DurableQueue::load() {
  std::vector<Stored> out;
  sqlite3_stmt* s = prepare("SELECT token, packet, packet_id, released FROM outbox ORDER BY token");
  while (sqlite3_step(s) == SQLITE_ROW) {
    const auto* data = static_cast<const char*>(sqlite3_column_blob(s, 1));
    const std::string_view bytes(data, static_cast<std::size_t>(sqlite3_column_bytes(s, 1)));
    mqtt::Packet packet;
    if (mqtt::decode(bytes, mqtt::Version::v5, packet) ||
        !std::holds_alternative<mqtt::Publish>(packet))
      continue;  // unreadable rows cannot be sent; they are dropped with the next remove
    Stored stored;
    stored.token = static_cast<Token>(sqlite3_column_int64(s, 0));
    const auto& publish = std::get<mqtt::Publish>(packet);
    mqtt::fill_message(publish, publish.topic, stored.message);
    stored.message.dup = false;
    stored.packet_id = static_cast<std::uint16_t>(sqlite3_column_int(s, 2));
    const bool released = sqlite3_column_int(s, 3) != 0;
    stored.stage = stored.message.qos == mqtt::QoS::AtLeastOnce
                       ? mqtt::OutboundStage::AwaitingPuback
                   : released ? mqtt::OutboundStage::AwaitingPubcomp
                              : mqtt::OutboundStage::AwaitingPubrec;
    out.push_back(std::move(stored));
  }
  sqlite3_finalize(s);
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
  sqlite3_bind_int64(insert_, 1, static_cast<sqlite3_int64>(token));
  sqlite3_bind_blob(insert_, 2, bytes.data(), static_cast<int>(bytes.size()), SQLITE_TRANSIENT);
  run(insert_);
}

void DurableQueue::sent(Token token, std::uint16_t packet_id) {
  begin();
  sqlite3_bind_int(sent_, 1, packet_id);
  sqlite3_bind_int64(sent_, 2, static_cast<sqlite3_int64>(token));
  run(sent_);
}

void DurableQueue::released(Token token) {
  begin();
  sqlite3_bind_int64(released_, 1, static_cast<sqlite3_int64>(token));
  run(released_);
}

void DurableQueue::remove(Token token) {
  begin();
  sqlite3_bind_int64(remove_, 1, static_cast<sqlite3_int64>(token));
  run(remove_);
}

void DurableQueue::reset_ids() {
  begin();
  if (sqlite3_exec(db_, "UPDATE outbox SET packet_id = 0 WHERE released = 0", nullptr, nullptr,
                   nullptr) != SQLITE_OK)
    fail("cannot write");
}

}  // namespace psos::client
