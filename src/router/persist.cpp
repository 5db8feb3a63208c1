// SQLite persistence of the router (see persist.hpp). Messages are stored as v5 PUBLISH packets
// encoded by the protocol core, with their expiry as a wall-clock time so that it survives a
// restart.
#include "router/persist.hpp"

#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include <chrono>

#include "mqtt/codec.hpp"

namespace psos::router {

namespace {

constexpr const char* kSchema = R"(
PRAGMA journal_mode=WAL;
PRAGMA synchronous=NORMAL;
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT OR IGNORE INTO meta VALUES('schema', '1');
CREATE TABLE IF NOT EXISTS retained(topic TEXT PRIMARY KEY, packet BLOB NOT NULL, expires_at INTEGER);
CREATE TABLE IF NOT EXISTS sessions(client_id TEXT PRIMARY KEY, username TEXT, version INTEGER NOT NULL,
  expiry_interval INTEGER NOT NULL, disconnected_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS subscriptions(client_id TEXT NOT NULL, filter TEXT NOT NULL,
  qos INTEGER NOT NULL, no_local INTEGER NOT NULL, retain_as_published INTEGER NOT NULL,
  retain_handling INTEGER NOT NULL, identifier INTEGER NOT NULL, PRIMARY KEY(client_id, filter));
CREATE TABLE IF NOT EXISTS messages(id INTEGER PRIMARY KEY, packet BLOB NOT NULL, expires_at INTEGER);
CREATE TABLE IF NOT EXISTS queue(client_id TEXT NOT NULL, seq INTEGER NOT NULL, message_id INTEGER NOT NULL,
  qos INTEGER NOT NULL, retain INTEGER NOT NULL, subscription_ids BLOB, packet_id INTEGER NOT NULL,
  stage INTEGER NOT NULL, PRIMARY KEY(client_id, seq));
CREATE TABLE IF NOT EXISTS inbound(client_id TEXT NOT NULL, packet_id INTEGER NOT NULL,
  PRIMARY KEY(client_id, packet_id));
)";

std::int64_t wall_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The message as a v5 PUBLISH (expiry left out: it is stored as a time).
std::string encode_message(const Message& message) {
  mqtt::Publish p;
  fill_publish(message, Clock::now(), p);
  p.properties.message_expiry_interval.reset();
  p.qos = message.qos;
  p.packet_id = message.qos == mqtt::QoS::AtMostOnce ? 0 : 1;
  p.retain = message.retain;
  std::string out;
  if (const mqtt::Error e = mqtt::encode(p, mqtt::Version::v5, out))
    spdlog::error("persistence: cannot encode a message on {}: {}", message.topic,
                  mqtt::to_string(e));
  return out;
}

std::optional<std::int64_t> expires_at(const Message& message) {
  const auto left = message.remaining_expiry(Clock::now());
  if (!left) return std::nullopt;
  return wall_now() + *left;
}

// Null when the stored packet is unreadable or the message expired while the broker was down.
MessagePtr decode_message(std::string_view packet, std::optional<std::int64_t> expires) {
  mqtt::Packet decoded;
  if (const mqtt::Error e = mqtt::decode(packet, mqtt::Version::v5, decoded)) {
    spdlog::error("persistence: skipping an unreadable stored message: {}", mqtt::to_string(e));
    return nullptr;
  }
  auto& p = std::get<mqtt::Publish>(decoded);
  if (expires) {
    const std::int64_t left = *expires - wall_now();
    if (left <= 0) return nullptr;
    p.properties.message_expiry_interval = static_cast<std::uint32_t>(left);
  }
  return make_message(p, p.topic, 0, Clock::now());
}

std::string_view text(sqlite3_stmt* s, int column) {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s, column));
  return p ? std::string_view(p, static_cast<std::size_t>(sqlite3_column_bytes(s, column)))
           : std::string_view();
}

std::string_view blob(sqlite3_stmt* s, int column) {
  const auto* p = static_cast<const char*>(sqlite3_column_blob(s, column));
  return p ? std::string_view(p, static_cast<std::size_t>(sqlite3_column_bytes(s, column)))
           : std::string_view();
}

std::optional<std::int64_t> optional_int(sqlite3_stmt* s, int column) {
  if (sqlite3_column_type(s, column) == SQLITE_NULL) return std::nullopt;
  return sqlite3_column_int64(s, column);
}

// Named so that argument-dependent lookup cannot pick std::bind for std:: arguments instead.
void bind_param(sqlite3_stmt* s, int i, std::string_view v) {
  sqlite3_bind_text(s, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
}
void bind_blob(sqlite3_stmt* s, int i, std::string_view v) {
  sqlite3_bind_blob(s, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
}
void bind_param(sqlite3_stmt* s, int i, std::int64_t v) {
  sqlite3_bind_int64(s, i, v);
}
void bind_param(sqlite3_stmt* s, int i, std::optional<std::int64_t> v) {
  if (v) {
    sqlite3_bind_int64(s, i, *v);
  } else {
    sqlite3_bind_null(s, i);
  }
}

std::string encode_ids(const std::vector<std::uint32_t>& ids) {
  std::string out;
  for (std::uint32_t id : ids) {
    for (int shift = 24; shift >= 0; shift -= 8)
      out.push_back(static_cast<char>(id >> shift));
  }
  return out;
}

std::vector<std::uint32_t> decode_ids(std::string_view bytes) {
  std::vector<std::uint32_t> ids;
  for (std::size_t i = 0; i + 4 <= bytes.size(); i += 4) {
    std::uint32_t id = 0;
    for (std::size_t k = 0; k < 4; ++k)
      id = (id << 8) | static_cast<std::uint8_t>(bytes[i + k]);
    ids.push_back(id);
  }
  return ids;
}

}  // namespace

std::unique_ptr<Store> Store::open(const std::filesystem::path& dir, std::string& error) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    error = "cannot create data directory " + dir.string() + ": " + ec.message();
    return nullptr;
  }
  const std::string path = (dir / "psos.db").string();
  sqlite3* db = nullptr;
  if (sqlite3_open(path.c_str(), &db) != SQLITE_OK) {
    error = "cannot open " + path + ": " + (db ? sqlite3_errmsg(db) : "out of memory");
    sqlite3_close(db);
    return nullptr;
  }
  char* message = nullptr;
  if (sqlite3_exec(db, kSchema, nullptr, nullptr, &message) != SQLITE_OK) {
    error = "cannot use " + path + ": " + (message ? message : "unknown error") +
            " (is it a psos data directory, and is another broker using it?)";
    sqlite3_free(message);
    sqlite3_close(db);
    return nullptr;
  }
  sqlite3_busy_timeout(db, 1000);
  return std::unique_ptr<Store>(new Store(db));
}

Store::Store(sqlite3* db) : db_(db) {
  begin_ = prepare("BEGIN");
  commit_ = prepare("COMMIT");
  put_retained_ = prepare("INSERT OR REPLACE INTO retained VALUES(?1, ?2, ?3)");
  erase_retained_ = prepare("DELETE FROM retained WHERE topic = ?1");
  put_session_ = prepare("INSERT OR REPLACE INTO sessions VALUES(?1, ?2, ?3, ?4, ?5)");
  erase_session_[0] = prepare("DELETE FROM sessions WHERE client_id = ?1");
  erase_session_[1] = prepare("DELETE FROM subscriptions WHERE client_id = ?1");
  erase_session_[2] = prepare("DELETE FROM queue WHERE client_id = ?1");
  erase_session_[3] = prepare("DELETE FROM inbound WHERE client_id = ?1");
  put_subscription_ =
      prepare("INSERT OR REPLACE INTO subscriptions VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)");
  erase_subscription_ = prepare("DELETE FROM subscriptions WHERE client_id = ?1 AND filter = ?2");
  put_message_ = prepare("INSERT OR REPLACE INTO messages VALUES(?1, ?2, ?3)");
  erase_message_ = prepare("DELETE FROM messages WHERE id = ?1");
  put_queued_ = prepare("INSERT OR REPLACE INTO queue VALUES(?1, ?2, ?3, ?4, ?5, ?6, 0, 0)");
  update_queued_ =
      prepare("UPDATE queue SET packet_id = ?3, stage = ?4 WHERE client_id = ?1 AND seq = ?2");
  update_stage_ = prepare("UPDATE queue SET stage = ?3 WHERE client_id = ?1 AND packet_id = ?2");
  erase_queued_ = prepare("DELETE FROM queue WHERE client_id = ?1 AND seq = ?2");
  put_inbound_ = prepare("INSERT OR IGNORE INTO inbound VALUES(?1, ?2)");
  erase_inbound_ = prepare("DELETE FROM inbound WHERE client_id = ?1 AND packet_id = ?2");
}

Store::~Store() {
  commit();
  for (sqlite3_stmt* s : statements_)
    sqlite3_finalize(s);
  sqlite3_close(db_);
}

sqlite3_stmt* Store::prepare(const char* sql) {
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(db_, sql, -1, &s, nullptr) != SQLITE_OK)
    spdlog::critical("persistence: cannot prepare '{}': {}", sql, sqlite3_errmsg(db_));
  statements_.push_back(s);
  return s;
}

void Store::begin() {
  if (in_transaction_) return;
  run(begin_);
  in_transaction_ = true;
}

void Store::run(sqlite3_stmt* s) {
  const int rc = sqlite3_step(s);
  if (rc != SQLITE_DONE && rc != SQLITE_ROW)
    spdlog::error("persistence: {} failed: {}", sqlite3_sql(s), sqlite3_errmsg(db_));
  sqlite3_reset(s);
  sqlite3_clear_bindings(s);
}

bool Store::commit() {
  if (!in_transaction_) return true;
  in_transaction_ = false;
  ++commits_;
  const int rc = sqlite3_step(commit_);
  sqlite3_reset(commit_);
  if (rc != SQLITE_DONE) {
    spdlog::error("persistence: commit failed: {}", sqlite3_errmsg(db_));
    return false;
  }
  return true;
}

void Store::put_retained(const Message& message) {
  begin();
  bind_param(put_retained_, 1, message.topic);
  bind_blob(put_retained_, 2, encode_message(message));
  bind_param(put_retained_, 3, expires_at(message));
  run(put_retained_);
}

void Store::erase_retained(std::string_view topic) {
  begin();
  bind_param(erase_retained_, 1, topic);
  run(erase_retained_);
}

void Store::put_session(std::string_view client_id, const std::optional<std::string>& username,
                        mqtt::Version version, std::uint32_t expiry_interval,
                        std::int64_t disconnected_at) {
  begin();
  bind_param(put_session_, 1, client_id);
  if (username) {
    bind_param(put_session_, 2, *username);
  } else {
    sqlite3_bind_null(put_session_, 2);
  }
  bind_param(put_session_, 3, std::int64_t{static_cast<std::uint8_t>(version)});
  bind_param(put_session_, 4, std::int64_t{expiry_interval});
  bind_param(put_session_, 5, disconnected_at);
  run(put_session_);
}

void Store::erase_session(std::string_view client_id) {
  begin();
  // Messages referenced only by this session's queue go too.
  for (sqlite3_stmt* s : erase_session_) {
    bind_param(s, 1, client_id);
    run(s);
  }
}

void Store::put_subscription(std::string_view client_id, std::string_view filter,
                             const mqtt::SubscriptionOptions& o) {
  begin();
  bind_param(put_subscription_, 1, client_id);
  bind_param(put_subscription_, 2, filter);
  bind_param(put_subscription_, 3, std::int64_t{static_cast<std::uint8_t>(o.qos)});
  bind_param(put_subscription_, 4, std::int64_t{o.no_local});
  bind_param(put_subscription_, 5, std::int64_t{o.retain_as_published});
  bind_param(put_subscription_, 6, std::int64_t{static_cast<std::uint8_t>(o.retain_handling)});
  bind_param(put_subscription_, 7, std::int64_t{o.identifier});
  run(put_subscription_);
}

void Store::erase_subscription(std::string_view client_id, std::string_view filter) {
  begin();
  bind_param(erase_subscription_, 1, client_id);
  bind_param(erase_subscription_, 2, filter);
  run(erase_subscription_);
}

std::int64_t Store::message_id(const MessagePtr& message) {
  auto [it, inserted] = messages_.try_emplace(message.get(), StoredMessage{0, 0});
  ++it->second.references;
  if (inserted) {
    it->second.id = next_message_id_++;
    bind_param(put_message_, 1, it->second.id);
    bind_blob(put_message_, 2, encode_message(*message));
    bind_param(put_message_, 3, expires_at(*message));
    run(put_message_);
  }
  return it->second.id;
}

void Store::put_queued(std::string_view client_id, std::uint64_t seq, const MessagePtr& message,
                       mqtt::QoS qos, bool retain, const std::vector<std::uint32_t>& ids) {
  begin();
  const std::int64_t id = message_id(message);
  bind_param(put_queued_, 1, client_id);
  bind_param(put_queued_, 2, static_cast<std::int64_t>(seq));
  bind_param(put_queued_, 3, id);
  bind_param(put_queued_, 4, std::int64_t{static_cast<std::uint8_t>(qos)});
  bind_param(put_queued_, 5, std::int64_t{retain});
  bind_blob(put_queued_, 6, encode_ids(ids));
  run(put_queued_);
}

void Store::update_queued(std::string_view client_id, std::uint64_t seq, std::uint16_t packet_id,
                          mqtt::OutboundStage stage) {
  begin();
  bind_param(update_queued_, 1, client_id);
  bind_param(update_queued_, 2, static_cast<std::int64_t>(seq));
  bind_param(update_queued_, 3, std::int64_t{packet_id});
  bind_param(update_queued_, 4, std::int64_t{static_cast<std::uint8_t>(stage)});
  run(update_queued_);
}

void Store::update_stage(std::string_view client_id, std::uint16_t packet_id,
                         mqtt::OutboundStage stage) {
  begin();
  bind_param(update_stage_, 1, client_id);
  bind_param(update_stage_, 2, std::int64_t{packet_id});
  bind_param(update_stage_, 3, std::int64_t{static_cast<std::uint8_t>(stage)});
  run(update_stage_);
}

void Store::erase_queued(std::string_view client_id, std::uint64_t seq, const MessagePtr& message) {
  begin();
  bind_param(erase_queued_, 1, client_id);
  bind_param(erase_queued_, 2, static_cast<std::int64_t>(seq));
  run(erase_queued_);
  const auto it = messages_.find(message.get());
  if (it == messages_.end()) return;
  if (--it->second.references == 0) {
    bind_param(erase_message_, 1, it->second.id);
    run(erase_message_);
    messages_.erase(it);
  }
}

void Store::put_inbound(std::string_view client_id, std::uint16_t packet_id) {
  begin();
  bind_param(put_inbound_, 1, client_id);
  bind_param(put_inbound_, 2, std::int64_t{packet_id});
  run(put_inbound_);
}

void Store::erase_inbound(std::string_view client_id, std::uint16_t packet_id) {
  begin();
  bind_param(erase_inbound_, 1, client_id);
  bind_param(erase_inbound_, 2, std::int64_t{packet_id});
  run(erase_inbound_);
}

Store::Contents Store::load() {
  Contents contents;
  sqlite3_stmt* s = prepare("SELECT packet, expires_at FROM retained");
  while (sqlite3_step(s) == SQLITE_ROW) {
    if (MessagePtr m = decode_message(blob(s, 0), optional_int(s, 1)))
      contents.retained.push_back(m);
  }
  sqlite3_reset(s);

  std::unordered_map<std::string, std::size_t> index;
  s = prepare(
      "SELECT client_id, username, version, expiry_interval, disconnected_at FROM sessions");
  while (sqlite3_step(s) == SQLITE_ROW) {
    StoredSession session;
    session.client_id = text(s, 0);
    if (sqlite3_column_type(s, 1) != SQLITE_NULL) session.username = std::string(text(s, 1));
    session.version = sqlite3_column_int(s, 2) == 4 ? mqtt::Version::v311 : mqtt::Version::v5;
    session.expiry_interval = static_cast<std::uint32_t>(sqlite3_column_int64(s, 3));
    session.disconnected_at = sqlite3_column_int64(s, 4);
    index.emplace(session.client_id, contents.sessions.size());
    contents.sessions.push_back(std::move(session));
  }
  sqlite3_reset(s);

  s = prepare(
      "SELECT client_id, filter, qos, no_local, retain_as_published, retain_handling, "
      "identifier FROM subscriptions");
  while (sqlite3_step(s) == SQLITE_ROW) {
    const auto it = index.find(std::string(text(s, 0)));
    if (it == index.end()) continue;
    mqtt::SubscriptionOptions o;
    o.qos = static_cast<mqtt::QoS>(sqlite3_column_int(s, 2) & 3);
    o.no_local = sqlite3_column_int(s, 3) != 0;
    o.retain_as_published = sqlite3_column_int(s, 4) != 0;
    o.retain_handling = static_cast<mqtt::RetainHandling>(sqlite3_column_int(s, 5) % 3);
    o.identifier = static_cast<std::uint32_t>(sqlite3_column_int64(s, 6));
    contents.sessions[it->second].subscriptions.emplace_back(std::string(text(s, 1)), o);
  }
  sqlite3_reset(s);

  // Messages, shared between queues as when they were stored.
  std::unordered_map<std::int64_t, MessagePtr> by_id;
  s = prepare("SELECT id, packet, expires_at FROM messages");
  while (sqlite3_step(s) == SQLITE_ROW) {
    const std::int64_t id = sqlite3_column_int64(s, 0);
    next_message_id_ = std::max(next_message_id_, id + 1);
    by_id.emplace(id, decode_message(blob(s, 1), optional_int(s, 2)));
  }
  sqlite3_reset(s);

  s = prepare(
      "SELECT client_id, seq, message_id, qos, retain, subscription_ids, packet_id, stage "
      "FROM queue ORDER BY client_id, seq");
  while (sqlite3_step(s) == SQLITE_ROW) {
    const auto it = index.find(std::string(text(s, 0)));
    const auto m = by_id.find(sqlite3_column_int64(s, 2));
    if (it == index.end() || m == by_id.end() || !m->second) continue;  // expired meanwhile
    QueuedMessage q;
    q.seq = static_cast<std::uint64_t>(sqlite3_column_int64(s, 1));
    q.message = m->second;
    q.qos = static_cast<mqtt::QoS>(sqlite3_column_int(s, 3) & 3);
    q.retain = sqlite3_column_int(s, 4) != 0;
    q.subscription_ids = decode_ids(blob(s, 5));
    q.packet_id = static_cast<std::uint16_t>(sqlite3_column_int(s, 6));
    q.stage = static_cast<mqtt::OutboundStage>(sqlite3_column_int(s, 7) % 3);
    auto [entry, inserted] = messages_.try_emplace(q.message.get(), StoredMessage{m->first, 0});
    ++entry->second.references;
    contents.sessions[it->second].queue.push_back(std::move(q));
  }
  sqlite3_reset(s);

  s = prepare("SELECT client_id, packet_id FROM inbound");
  while (sqlite3_step(s) == SQLITE_ROW) {
    const auto it = index.find(std::string(text(s, 0)));
    if (it != index.end())
      contents.sessions[it->second].inbound_qos2.push_back(
          static_cast<std::uint16_t>(sqlite3_column_int(s, 1)));
  }
  sqlite3_reset(s);
  // Stored messages no queue refers to any more (expired, or left by a crash mid-way).
  char* ignored = nullptr;
  sqlite3_exec(db_, "DELETE FROM messages WHERE id NOT IN (SELECT message_id FROM queue)", nullptr,
               nullptr, &ignored);
  sqlite3_free(ignored);
  return contents;
}

}  // namespace psos::router
