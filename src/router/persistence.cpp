// SQLite persistence of the router (see persistence.hpp). Messages are stored as v5 PUBLISH packets
// encoded by the protocol core, with their expiry as a wall-clock time so that it survives a
// restart.
#include "router/persistence.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "mqtt/codec.hpp"

namespace psos::router {

namespace {

// Normal locking, so that checkpoints can run on a connection of their own (Checkpointer); a
// second broker on the same directory is kept out by psos.lock instead.
// The queue is keyed by (client, seq) alone (WITHOUT ROWID: one b-tree to change, not two).
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
  stage INTEGER NOT NULL, PRIMARY KEY(client_id, seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS inbound(client_id TEXT NOT NULL, packet_id INTEGER NOT NULL,
  PRIMARY KEY(client_id, packet_id));
CREATE TABLE IF NOT EXISTS wills(client_id TEXT PRIMARY KEY, packet BLOB NOT NULL,
  expires_at INTEGER, delay INTEGER NOT NULL);
)";

// Columns added after the first release, on a store made by it ("duplicate column" otherwise).
// A queue row holds its message itself (packet, expires_at; message_id 0) when no other queue
// holds it; rows of older stores all refer to `messages`.
constexpr const char* kAddedColumns[] = {
    "ALTER TABLE retained ADD COLUMN local INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE queue ADD COLUMN packet BLOB",
    "ALTER TABLE queue ADD COLUMN expires_at INTEGER",
};

std::int64_t wall_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The message as a v5 PUBLISH (expiry left out: it is stored as a time), encoded into `out`
// (the writer thread's buffer, reused so that it keeps its capacity).
std::string_view encode_message(const Message& message, std::string& out) {
  thread_local mqtt::Publish p;
  mqtt::fill_publish(message, p);
  p.properties.message_expiry_interval.reset();
  p.packet_id = message.qos == mqtt::QoS::AtMostOnce ? 0 : 1;
  out.clear();
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
MessagePtr decode_message(std::string_view packet, std::optional<std::int64_t> expires,
                          bool local = false) {
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
  auto m = std::const_pointer_cast<Message>(make_message(p, p.topic, 0, Clock::now()));
  m->local = local;
  return m;
}

std::string_view encode_ids(const std::vector<std::uint32_t>& ids, std::string& out) {
  out.clear();
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

// One recorded change. The fields used depend on the kind (see Persistence::execute).
struct Persistence::Op {
  enum Kind : std::uint8_t {
    PutRetained,        // message
    EraseRetained,      // key = topic
    PutSession,         // key = client id, text = user name (has_text), a = version,
                        // b = expiry interval, c = disconnected at
    EraseSession,       // key
    PutSubscription,    // key, text = filter, options
    EraseSubscription,  // key, text
    PutMessage,         // a = id, message
    EraseMessage,       // a = id
    PutQueued,          // key, a = seq, b = message id (0: the message is in the row: message),
                        // c = packet id, d = stage, qos in options.qos, retain in has_text, ids
    UpdateQueued,       // key, a = seq, c = packet id, d = stage
    UpdateStage,        // key, c = packet id, d = stage
    EraseQueued,        // key, a = first seq, b = last seq (a run of acknowledged messages)
    PutInbound,         // key, c = packet id
    EraseInbound,       // key, c = packet id
    PutWill,            // key, message, a = delay
    EraseWill,          // key
    Cancelled,          // a PutQueued whose message was acknowledged before it was handed over
  };
  Kind kind = PutRetained;
  bool has_text = false;
  ClientKey key;  // the client id (shared with its session), or a retained message's topic
  std::string text;
  MessagePtr message;
  std::int64_t a = 0, b = 0, c = 0, d = 0;
  std::vector<std::uint32_t> ids;
  mqtt::SubscriptionOptions options;
};

// The writer thread and its hand-over slot: at most one transaction waits in `batch` while
// another is written.
struct Persistence::Writer {
  std::mutex mutex;
  std::condition_variable cv;
  std::vector<Op> batch;
  std::uint64_t batch_number = 0;  // the transaction in `batch` (taken when == taken)
  std::uint64_t taken = 0;
  std::uint64_t written = 0;
  bool stop = false;
  std::thread thread;
  // Statements, used by the writer thread only once it runs.
  sqlite::Statement put_retained, erase_retained, put_session, put_subscription, erase_subscription,
      put_message, erase_message, put_queued, update_queued, update_stage, erase_queued,
      erase_queued_run, put_inbound, erase_inbound, put_will;
  sqlite::Statement erase_session[5];  // the session, then what belongs to it, its will last
  std::string packet;                  // a message being encoded
  std::string ids;                     // subscription identifiers being encoded
  // Lets callbacks posted to the router's thread see that the store is gone.
  std::shared_ptr<Persistence*> self;
};

namespace {
// A checkpoint is asked for once the WAL holds this many frames (4 KiB pages; SQLite's default
// for its own checkpoints) ...
constexpr int kCheckpointFrames = 1000;
// ... and made by the thread that committed, if the checkpointer has not kept up, at this many
// (about 64 MiB of WAL).
constexpr int kCheckpointFramesAtMost = 16 * kCheckpointFrames;

// A passive checkpoint on `db`: whether it copied every frame the WAL held. A failure is logged,
// not thrown: the WAL only grows until a later checkpoint succeeds.
bool checkpoint(sqlite::Database& db) {
  try {
    const auto [frames, copied] = db.checkpoint();
    return frames >= 0 && frames == copied;
  } catch (const sqlite::Error& e) {
    spdlog::warn("persistence: {} (the WAL grows until a later checkpoint succeeds)", e.what());
    return false;
  }
}
}  // namespace

// Checkpoints on a thread and a connection of their own. A checkpoint copies the WAL's frames
// into the database and fsyncs both files; made by SQLite inside the commit that passes 1000
// frames, it held up that transaction, and every acknowledgement waiting for it, for as long as
// the fsyncs took (up to 135 ms seen here: 1 % of the messages at 8,000 msg/s waited over
// 100 ms). A passive checkpoint on another connection runs beside the writer's transactions.
struct Persistence::Checkpointer {
  explicit Checkpointer(const std::string& path) : db(path, sqlite::Threads::one_at_a_time) {
    // A connection checkpoints only once it has read the database and found it in WAL mode.
    db.exec("SELECT 1 FROM meta LIMIT 1");
    thread = std::thread([this] { run(); });
  }
  ~Checkpointer() {
    {
      std::lock_guard lock(mutex);
      stop = true;
    }
    cv.notify_all();
    thread.join();
  }
  Checkpointer(const Checkpointer&) = delete;
  Checkpointer& operator=(const Checkpointer&) = delete;

  void request() {
    {
      std::lock_guard lock(mutex);
      if (due) return;
      due = true;
    }
    cv.notify_one();
  }

  void run() {
    std::unique_lock lock(mutex);
    while (true) {
      cv.wait(lock, [&] { return due || stop; });
      if (stop) return;
      lock.unlock();
      if (checkpoint(db)) caught_up = true;
      lock.lock();
      due = false;  // asked again by the next commit if the WAL is still long
    }
  }

  sqlite::Database db;  // used by `thread` only
  std::mutex mutex;
  std::condition_variable cv;
  bool due = false;
  bool stop = false;
  // A checkpoint copied every frame the WAL had when it began. The WAL starts over only at a
  // transaction that begins once every frame is copied, which under load the writer has always
  // begun before: so the writer's connection then checkpoints the few frames committed since,
  // between two transactions, and the next one starts the WAL over (write()).
  std::atomic<bool> caught_up{false};  // read by the router's thread, taken by the writer's
  std::thread thread;                  // started once the rest is made
};

std::unique_ptr<Persistence> Persistence::open(const std::filesystem::path& dir,
                                               std::string& error) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    error = "cannot create data directory " + dir.string() + ": " + ec.message();
    return nullptr;
  }
  // One broker or node per data directory: the lock is held as long as the store is open (and
  // released by the system if the process dies).
  const std::string lock_path = (dir / "psos.lock").string();
  const int lock_fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd < 0) {
    error = lock_path + ": cannot open: " + std::strerror(errno) + " (check that " + dir.string() +
            " can be written by this user)";
    return nullptr;
  }
  if (::flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
    const int why = errno;
    ::close(lock_fd);
    error =
        (dir / "psos.db").string() + ": " +
        (why == EWOULDBLOCK ? std::string("database is locked")
                            : std::string("cannot lock ") + lock_path + ": " + std::strerror(why)) +
        " (another broker or node is using " + dir.string() +
        ": stop it, or give this one a data directory of its own)";
    return nullptr;
  }
  std::unique_ptr<sqlite::Database> db;
  try {
    // Used by one thread at a time: the router's thread before the writer starts and while it
    // is idle (a small transaction written at once), the writer thread in between; each
    // hand-over goes through the writer's mutex or a completion posted to the router's thread.
    db = std::make_unique<sqlite::Database>((dir / "psos.db").string(),
                                            sqlite::Threads::one_at_a_time);
    db->exec(kSchema);
  } catch (const sqlite::Error& e) {
    // What to do about it, from SQLite's code (the store is locked while a broker or node uses
    // it: psos.lock).
    std::string hint;
    switch (e.primary_code()) {
      case SQLITE_BUSY:
      case SQLITE_LOCKED:
        hint = "another broker or node is using " + dir.string() +
               ": stop it, or give this one a data directory of its own";
        break;
      case SQLITE_NOTADB:
      case SQLITE_CORRUPT:
        hint = (dir / "psos.db").string() +
               " is not a psos store, or is damaged: move it away to start with an empty one";
        break;
      case SQLITE_CANTOPEN:
      case SQLITE_READONLY:
      case SQLITE_PERM:
        hint = "check that " + dir.string() + " and psos.db in it can be written by this user";
        break;
      default:
        hint = "is " + dir.string() + " a psos data directory?";
    }
    error = std::string(e.what()) + " (" + hint + ")";
    ::close(lock_fd);
    return nullptr;
  }
  for (const char* sql : kAddedColumns)
    db->try_exec(sql);
  db->busy_timeout(std::chrono::seconds(1));
  return std::unique_ptr<Persistence>(new Persistence(std::move(db), lock_fd));
}

Persistence::Persistence(std::unique_ptr<sqlite::Database> db, int lock_fd)
    : lock_fd_(lock_fd), db_(std::move(db)), writer_(std::make_unique<Writer>()) {
  Writer& w = *writer_;
  sqlite::Database& d = *db_;
  w.put_retained = d.prepare(
      "INSERT OR REPLACE INTO retained(topic, packet, expires_at, local) VALUES(?1, ?2, ?3, ?4)");
  w.erase_retained = d.prepare("DELETE FROM retained WHERE topic = ?1");
  w.put_session = d.prepare("INSERT OR REPLACE INTO sessions VALUES(?1, ?2, ?3, ?4, ?5)");
  w.erase_session[0] = d.prepare("DELETE FROM sessions WHERE client_id = ?1");
  w.erase_session[1] = d.prepare("DELETE FROM subscriptions WHERE client_id = ?1");
  w.erase_session[2] = d.prepare("DELETE FROM queue WHERE client_id = ?1");
  w.erase_session[3] = d.prepare("DELETE FROM inbound WHERE client_id = ?1");
  w.erase_session[4] = d.prepare("DELETE FROM wills WHERE client_id = ?1");
  w.put_will = d.prepare("INSERT OR REPLACE INTO wills VALUES(?1, ?2, ?3, ?4)");
  w.put_subscription =
      d.prepare("INSERT OR REPLACE INTO subscriptions VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)");
  w.erase_subscription =
      d.prepare("DELETE FROM subscriptions WHERE client_id = ?1 AND filter = ?2");
  w.put_message = d.prepare("INSERT OR REPLACE INTO messages VALUES(?1, ?2, ?3)");
  w.erase_message = d.prepare("DELETE FROM messages WHERE id = ?1");
  w.put_queued = d.prepare(
      "INSERT OR REPLACE INTO queue(client_id, seq, message_id, qos, retain, subscription_ids, "
      "packet_id, stage, packet, expires_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)");
  w.update_queued =
      d.prepare("UPDATE queue SET packet_id = ?3, stage = ?4 WHERE client_id = ?1 AND seq = ?2");
  w.update_stage = d.prepare("UPDATE queue SET stage = ?3 WHERE client_id = ?1 AND packet_id = ?2");
  w.erase_queued = d.prepare("DELETE FROM queue WHERE client_id = ?1 AND seq = ?2");
  w.erase_queued_run =
      d.prepare("DELETE FROM queue WHERE client_id = ?1 AND seq BETWEEN ?2 AND ?3");
  w.put_inbound = d.prepare("INSERT OR IGNORE INTO inbound VALUES(?1, ?2)");
  w.erase_inbound = d.prepare("DELETE FROM inbound WHERE client_id = ?1 AND packet_id = ?2");
  w.self = std::make_shared<Persistence*>(this);
  d.on_wal_commit([this](int frames) { wal_committed(frames); });
  try {
    checkpointer_ = std::make_unique<Checkpointer>(d.path());
  } catch (const sqlite::Error& e) {
    spdlog::warn("persistence: {} (checkpoints are made by the writer instead)", e.what());
  }
}

void Persistence::wal_committed(int frames) {
  if (frames < kCheckpointFrames) return;
  if (frames >= kCheckpointFramesAtMost || !checkpointer_) {
    // The checkpointer has not kept up (or there is none): this commit checkpoints, as SQLite
    // would.
    (void)checkpoint(*db_);
    return;
  }
  checkpointer_->request();
}

Persistence::~Persistence() {
  sync();
  checkpointer_.reset();  // its connection before the writer's, the last, which checkpoints
  *writer_->self = nullptr;
  if (writer_->thread.joinable()) {
    {
      std::lock_guard lock(writer_->mutex);
      writer_->stop = true;
    }
    writer_->cv.notify_all();
    writer_->thread.join();
  }
  writer_.reset();  // its statements before the connection
  db_.reset();
  ::close(lock_fd_);
}

void Persistence::on_durable(std::function<void(std::function<void()>)> post,
                             std::function<void(std::uint64_t)> done) {
  post_ = std::move(post);
  done_ = std::move(done);
}

Persistence::Op& Persistence::record(int kind) {
  Op& op = pending_.emplace_back();
  op.kind = static_cast<Op::Kind>(kind);
  return op;
}

namespace {
// A transaction this small, when the writer is idle, is written on the router's thread (tens of
// microseconds) rather than handed over: two thread wake-ups cost more than that, far more on a
// loaded machine, and the link that waits for it would wait for both.
constexpr std::size_t kWrittenInline = 32;
}  // namespace

std::uint64_t Persistence::commit() {
  if (!pending_.empty()) {
    if (!post_) {
      // Nobody to tell when it is done (a store used on its own): write it now.
      sync();
      return 0;
    }
    // Not while a checkpoint is to be finished: it fsyncs, which the writer thread does.
    if (!writer_busy_ && pending_.size() <= kWrittenInline &&
        !(checkpointer_ && checkpointer_->caught_up.load())) {
      // The writer has finished everything handed to it (its completion was seen here), so the
      // connection is free.
      write(pending_);
      pending_.clear();
      ++batches_;
      durable_ = ++handed_;
      if (done_) done_(durable_);
      return 0;
    }
    if (writer_busy_) {
      // The writer is busy with the transaction before: these changes (and what comes until it
      // is done) are the next one, handed over when it is (writer_done). Until then they stay
      // here, where a queued message acknowledged meanwhile is cancelled (erase_queued).
      return handed_ + 1;
    }
    hand_over();
  }
  return handed_ > durable_ ? handed_ : 0;
}

void Persistence::hand_over() {
  Writer& w = *writer_;
  if (!w.thread.joinable()) {
    w.thread = std::thread([this, &w] {
      std::unique_lock lock(w.mutex);
      std::vector<Op> ops;
      while (true) {
        w.cv.wait(lock, [&] { return w.stop || w.batch_number > w.taken; });
        if (w.batch_number == w.taken) break;  // stopping, nothing left
        ops.swap(w.batch);
        const std::uint64_t number = w.batch_number;
        w.taken = number;
        lock.unlock();
        if (checkpointer_ && checkpointer_->caught_up.exchange(false)) {
          // The checkpointer copied what the WAL held: copy what came since (a few frames), so
          // that the next transaction starts the WAL over (Checkpointer::caught_up).
          (void)checkpoint(*db_);
        }
        write(ops);
        if (post_) {
          // The changes go back to the router's thread to be freed there, where their messages
          // and strings were allocated: freed here, each would go back to the router's malloc
          // arena under its lock, against the router allocating the next ones (measured: a
          // fifth of both threads' time in malloc and free).
          post_([self = w.self, number,
                 written = std::make_shared<std::vector<Op>>(std::move(ops))]() mutable {
            written->clear();
            if (*self != nullptr) (*self)->writer_done(number, std::move(*written));
          });
          ops = std::vector<Op>();
        } else {
          ops.clear();  // messages released here, not under the lock
        }
        lock.lock();
        w.written = number;
        w.cv.notify_all();
      }
    });
  }
  {
    // Held only to swap vectors, never while SQL runs.
    std::lock_guard lock(w.mutex);
    if (w.batch_number > w.taken) {
      // Only from sync() (commit() waits for the writer's completion instead): the writer is
      // still busy with the transaction before, and these changes join the one that waits for
      // it, which it takes as soon as it is done.
      w.batch.insert(w.batch.end(), std::make_move_iterator(pending_.begin()),
                     std::make_move_iterator(pending_.end()));
    } else {
      w.batch.swap(pending_);
      w.batch_number = ++handed_;
    }
  }
  pending_.clear();
  ++batches_;
  writer_busy_ = true;
  w.cv.notify_all();
}

void Persistence::writer_done(std::uint64_t number, std::vector<Op> emptied) {
  if (number <= durable_) return;  // sync() saw it first
  durable_ = number;
  writer_busy_ = number < handed_;
  // What was recorded while the writer was busy is the next transaction (group commit).
  if (!writer_busy_ && !pending_.empty()) hand_over();
  // The next changes are recorded into the vector just written, which has the capacity for them.
  if (pending_.empty() && pending_.capacity() < emptied.capacity()) pending_.swap(emptied);
  if (done_) done_(number);
}

void Persistence::sync() {
  if (!pending_.empty()) hand_over();
  if (handed_ == durable_) return;
  {
    std::unique_lock lock(writer_->mutex);
    writer_->cv.wait(lock, [&] { return writer_->written >= handed_; });
  }
  durable_ = handed_;
  writer_busy_ = false;
  if (done_) done_(durable_);
}

void Persistence::write(std::vector<Op>& ops) {
  try {
    sqlite::Transaction transaction(*db_);
    for (const Op& op : ops) {
      try {
        execute(op);
      } catch (const sqlite::Error& e) {
        // One change lost is logged; the others of the transaction are still written.
        spdlog::error("persistence: {}", e.what());
      }
    }
    transaction.commit();
  } catch (const sqlite::Error& e) {
    spdlog::error("persistence: {} (the transaction was rolled back)", e.what());
  }
}

void Persistence::execute(const Op& op) {
  // Text and blobs are bound without a copy: op, w.packet and w.ids outlive each run().
  constexpr auto kept = sqlite::Lifetime::until_run;
  Writer& w = *writer_;
  switch (op.kind) {
    case Op::Cancelled:
      break;
    case Op::PutRetained:
      w.put_retained.bind_text(1, op.message->topic, kept)
          .bind_blob(2, encode_message(*op.message, w.packet), kept)
          .bind(3, expires_at(*op.message))
          .bind(4, std::int64_t{op.message->local})
          .run();
      break;
    case Op::EraseRetained:
      w.erase_retained.bind_text(1, op.key, kept).run();
      break;
    case Op::PutSession:
      w.put_session.bind_text(1, op.key, kept);
      if (op.has_text) {
        w.put_session.bind_text(2, op.text, kept);
      } else {
        w.put_session.bind_null(2);
      }
      w.put_session.bind(3, op.a).bind(4, op.b).bind(5, op.c).run();
      break;
    case Op::EraseSession:
      for (sqlite::Statement& s : w.erase_session)
        s.bind_text(1, op.key, kept).run();
      break;
    case Op::PutSubscription: {
      const mqtt::SubscriptionOptions& o = op.options;
      w.put_subscription.bind_text(1, op.key, kept)
          .bind_text(2, op.text, kept)
          .bind(3, std::int64_t{static_cast<std::uint8_t>(o.qos)})
          .bind(4, std::int64_t{o.no_local})
          .bind(5, std::int64_t{o.retain_as_published})
          .bind(6, std::int64_t{static_cast<std::uint8_t>(o.retain_handling)})
          .bind(7, std::int64_t{o.identifier})
          .run();
      break;
    }
    case Op::EraseSubscription:
      w.erase_subscription.bind_text(1, op.key, kept).bind_text(2, op.text, kept).run();
      break;
    case Op::PutMessage:
      w.put_message.bind(1, op.a)
          .bind_blob(2, encode_message(*op.message, w.packet), kept)
          .bind(3, expires_at(*op.message))
          .run();
      break;
    case Op::EraseMessage:
      w.erase_message.bind(1, op.a).run();
      break;
    case Op::PutQueued:
      w.put_queued.bind_text(1, op.key, kept)
          .bind(2, op.a)
          .bind(3, op.b)
          .bind(4, std::int64_t{static_cast<std::uint8_t>(op.options.qos)})
          .bind(5, std::int64_t{op.has_text})
          .bind_blob(6, encode_ids(op.ids, w.ids), kept)
          .bind(7, op.c)
          .bind(8, op.d);
      if (op.b == 0) {
        w.put_queued.bind_blob(9, encode_message(*op.message, w.packet), kept)
            .bind(10, expires_at(*op.message));
      }  // NULL otherwise (bindings are cleared after each run)
      w.put_queued.run();
      break;
    case Op::UpdateQueued:
      w.update_queued.bind_text(1, op.key, kept).bind(2, op.a).bind(3, op.c).bind(4, op.d).run();
      break;
    case Op::UpdateStage:
      w.update_stage.bind_text(1, op.key, kept).bind(2, op.c).bind(3, op.d).run();
      break;
    case Op::EraseQueued:
      if (op.b == op.a) {
        w.erase_queued.bind_text(1, op.key, kept).bind(2, op.a).run();
      } else {
        w.erase_queued_run.bind_text(1, op.key, kept).bind(2, op.a).bind(3, op.b).run();
      }
      break;
    case Op::PutInbound:
      w.put_inbound.bind_text(1, op.key, kept).bind(2, op.c).run();
      break;
    case Op::PutWill:
      w.put_will.bind_text(1, op.key, kept)
          .bind_blob(2, encode_message(*op.message, w.packet), kept)
          .bind(3, expires_at(*op.message))
          .bind(4, op.a)
          .run();
      break;
    case Op::EraseWill:
      w.erase_session[4].bind_text(1, op.key, kept).run();
      break;
    case Op::EraseInbound:
      w.erase_inbound.bind_text(1, op.key, kept).bind(2, op.c).run();
      break;
  }
}

void Persistence::record(StoreChange change) {
  struct Record {
    Persistence& p;
    void operator()(store::PutRetained& c) { p.put_retained(c.message); }
    void operator()(store::EraseRetained& c) { p.erase_retained(c.topic); }
    void operator()(store::PutSession& c) {
      p.put_session(c.client_id, c.username, c.version, c.expiry_interval, c.disconnected_at);
    }
    void operator()(store::EraseSession& c) { p.erase_session(c.client_id); }
    void operator()(store::PutSubscription& c) {
      p.put_subscription(c.client_id, c.filter, c.options);
    }
    void operator()(store::EraseSubscription& c) { p.erase_subscription(c.client_id, c.filter); }
    void operator()(store::PutQueued& c) {
      p.put_queued(c.client_id, c.seq, c.message, c.qos, c.retain, c.subscription_ids);
    }
    void operator()(store::UpdateQueued& c) {
      p.update_queued(c.client_id, c.seq, c.packet_id, c.stage);
    }
    void operator()(store::UpdateStage& c) { p.update_stage(c.client_id, c.packet_id, c.stage); }
    void operator()(store::EraseQueued& c) { p.erase_queued(c.client_id, c.seq, c.message); }
    void operator()(store::Release& c) { p.release(c.message); }
    void operator()(store::PutInbound& c) { p.put_inbound(c.client_id, c.packet_id); }
    void operator()(store::EraseInbound& c) { p.erase_inbound(c.client_id, c.packet_id); }
    void operator()(store::PutWill& c) { p.put_will(c.client_id, c.message, c.delay); }
    void operator()(store::EraseWill& c) { p.erase_will(c.client_id); }
  };
  std::visit(Record{*this}, change);
}

void Persistence::put_retained(const MessagePtr& message) {
  record(Op::PutRetained).message = message;
}

void Persistence::erase_retained(std::string_view topic) {
  record(Op::EraseRetained).key = topic;
}

void Persistence::put_session(const ClientKey& client_id,
                              const std::optional<std::string>& username, mqtt::Version version,
                              std::uint32_t expiry_interval, std::int64_t disconnected_at) {
  Op& op = record(Op::PutSession);
  op.key = client_id;
  if (username) {
    op.has_text = true;
    op.text = *username;
  }
  op.a = static_cast<std::uint8_t>(version);
  op.b = expiry_interval;
  op.c = disconnected_at;
}

void Persistence::erase_session(const ClientKey& client_id) {
  record(Op::EraseSession).key = client_id;
}

void Persistence::put_subscription(const ClientKey& client_id, std::string_view filter,
                                   const mqtt::SubscriptionOptions& o) {
  Op& op = record(Op::PutSubscription);
  op.key = client_id;
  op.text = filter;
  op.options = o;
}

void Persistence::erase_subscription(const ClientKey& client_id, std::string_view filter) {
  Op& op = record(Op::EraseSubscription);
  op.key = client_id;
  op.text = filter;
}

namespace {
// How far back a change looks for the one it can merge into: the router records a queued
// message and its sending next to each other (one per subscriber of a fan-out between them),
// and the removals of acknowledged messages with, at most, the sending of the next between them.
constexpr std::size_t kMergeWindow = 8;
// A message this small (topic and payload) is written into its queue row while that is the only
// one holding it: one change to store it and one to remove it, not two of each. A larger one
// always gets a row of its own, so that an UPDATE of its queue row does not rewrite it.
constexpr std::size_t kInlineBytes = 1024;
}  // namespace

std::int64_t Persistence::message_id(const MessagePtr& message) {
  auto [it, inserted] = messages_.try_emplace(message.get(), StoredMessage{});
  StoredMessage& stored = it->second;
  ++stored.references;
  if (inserted) {
    stored.keep = message;
    if (message->topic.size() + message->payload.size() <= kInlineBytes) {
      // In the queue row about to be recorded, unless another queue takes the message before
      // this transaction is handed over.
      stored.inline_row = pending_.size();
      stored.batch = batches_;
      return 0;
    }
  } else if (stored.id == 0 && stored.batch == batches_) {
    // A second queue takes it (a fan-out) while the first row is still to be written: both refer
    // to one stored copy instead.
    pending_[stored.inline_row].b = next_message_id_;
    pending_[stored.inline_row].message.reset();
  } else {
    // Stored already, or in rows already handed over (this one holds it too: `references`
    // counts every row, so a shared copy made later outlives them all).
    return stored.id;
  }
  stored.id = next_message_id_++;
  Op& op = record(Op::PutMessage);
  op.a = stored.id;
  op.message = message;
  return stored.id;
}

void Persistence::put_queued(const ClientKey& client_id, std::uint64_t seq,
                             const MessagePtr& message, mqtt::QoS qos, bool retain,
                             const std::vector<std::uint32_t>& ids) {
  const std::int64_t id = message_id(message);
  Op& op = record(Op::PutQueued);
  op.key = client_id;
  op.a = static_cast<std::int64_t>(seq);
  op.b = id;
  if (id == 0) op.message = message;
  op.options.qos = qos;
  op.has_text = retain;
  op.ids = ids;
}

void Persistence::update_queued(const ClientKey& client_id, std::uint64_t seq,
                                std::uint16_t packet_id, mqtt::OutboundStage stage) {
  const auto s = static_cast<std::int64_t>(seq);
  for (std::size_t i = pending_.size(), n = 0; i > 0 && n < kMergeWindow; --i, ++n) {
    Op& earlier = pending_[i - 1];
    if (earlier.kind == Op::PutQueued && earlier.a == s && earlier.key == client_id) {
      earlier.c = packet_id;
      earlier.d = static_cast<std::uint8_t>(stage);
      ++merged_;
      return;
    }
  }
  Op& op = record(Op::UpdateQueued);
  op.key = client_id;
  op.a = s;
  op.c = packet_id;
  op.d = static_cast<std::uint8_t>(stage);
}

void Persistence::update_stage(const ClientKey& client_id, std::uint16_t packet_id,
                               mqtt::OutboundStage stage) {
  Op& op = record(Op::UpdateStage);
  op.key = client_id;
  op.c = packet_id;
  op.d = static_cast<std::uint8_t>(stage);
}

void Persistence::erase_queued(const ClientKey& client_id, std::uint64_t seq,
                               const MessagePtr& message) {
  const auto s = static_cast<std::int64_t>(seq);
  const auto stored = messages_.find(message.get());
  if (stored != messages_.end() && stored->second.id == 0 && stored->second.batch == batches_) {
    // Its queue row has not been handed to the writer yet: neither it nor its removal needs
    // writing (a message forwarded and acknowledged while the writer was busy: docs/router.md).
    Op& put = pending_[stored->second.inline_row];
    if (put.kind == Op::PutQueued && put.a == s && put.key == client_id) {
      put.kind = Op::Cancelled;
      put.message.reset();
      ++cancelled_;
      release(stored);
      return;
    }
  }
  // A receiver acknowledges in order, mostly: the removal of the row after the last one removed
  // extends that removal (one DELETE of a run of rows, not one per row), unless a change in
  // between queued the same row again.
  bool extended = false;
  for (std::size_t i = pending_.size(), n = 0; i > 0 && n < kMergeWindow; --i, ++n) {
    Op& earlier = pending_[i - 1];
    if (earlier.kind == Op::PutQueued && earlier.a == s && earlier.key == client_id) break;
    if (earlier.kind == Op::EraseQueued && earlier.b + 1 == s && earlier.key == client_id) {
      earlier.b = s;
      ++merged_;
      extended = true;
      break;
    }
  }
  if (!extended) {
    Op& op = record(Op::EraseQueued);
    op.key = client_id;
    op.a = s;
    op.b = s;
  }
  release(stored);
}

void Persistence::release(const MessagePtr& message) {
  release(messages_.find(message.get()));
}

void Persistence::release(StoredMessages::iterator stored) {
  if (stored == messages_.end()) return;
  if (--stored->second.references == 0) {
    if (stored->second.id != 0) record(Op::EraseMessage).a = stored->second.id;  // else in rows
    messages_.erase(stored);
  }
}

void Persistence::put_inbound(const ClientKey& client_id, std::uint16_t packet_id) {
  Op& op = record(Op::PutInbound);
  op.key = client_id;
  op.c = packet_id;
}

void Persistence::put_will(const ClientKey& client_id, const MessagePtr& will,
                           std::uint32_t delay) {
  Op& op = record(Op::PutWill);
  op.key = client_id;
  op.message = will;
  op.a = delay;
}

void Persistence::erase_will(const ClientKey& client_id) {
  record(Op::EraseWill).key = client_id;
}

void Persistence::erase_inbound(const ClientKey& client_id, std::uint16_t packet_id) {
  Op& op = record(Op::EraseInbound);
  op.key = client_id;
  op.c = packet_id;
}

StoredState Persistence::load() {
  StoredState contents;
  sqlite::Database& d = *db_;
  sqlite::Statement s = d.prepare("SELECT packet, expires_at, local FROM retained");
  while (s.step()) {
    if (MessagePtr m = decode_message(s.blob(0), s.optional_integer(1), s.integer(2) != 0))
      contents.retained.push_back(m);
  }

  std::unordered_map<std::string, std::size_t> index;
  s = d.prepare(
      "SELECT client_id, username, version, expiry_interval, disconnected_at FROM sessions");
  while (s.step()) {
    StoredSession session;
    session.client_id = s.text(0);
    if (!s.is_null(1)) session.username = std::string(s.text(1));
    session.version = s.integer(2) == 4 ? mqtt::Version::v311 : mqtt::Version::v5;
    session.expiry_interval = static_cast<std::uint32_t>(s.integer(3));
    session.disconnected_at = s.integer(4);
    index.emplace(session.client_id, contents.sessions.size());
    contents.sessions.push_back(std::move(session));
  }

  s = d.prepare(
      "SELECT client_id, filter, qos, no_local, retain_as_published, retain_handling, "
      "identifier FROM subscriptions");
  while (s.step()) {
    const auto it = index.find(std::string(s.text(0)));
    if (it == index.end()) continue;
    mqtt::SubscriptionOptions o;
    o.qos = static_cast<mqtt::QoS>(s.integer(2) & 3);
    o.no_local = s.integer(3) != 0;
    o.retain_as_published = s.integer(4) != 0;
    o.retain_handling = static_cast<mqtt::RetainHandling>(s.integer(5) % 3);
    o.identifier = static_cast<std::uint32_t>(s.integer(6));
    contents.sessions[it->second].subscriptions.emplace_back(std::string(s.text(1)), o);
  }

  // Messages, shared between queues as when they were stored.
  std::unordered_map<std::int64_t, MessagePtr> by_id;
  s = d.prepare("SELECT id, packet, expires_at FROM messages");
  while (s.step()) {
    const std::int64_t id = s.integer(0);
    next_message_id_ = std::max(next_message_id_, id + 1);
    by_id.emplace(id, decode_message(s.blob(1), s.optional_integer(2)));
  }

  s = d.prepare(
      "SELECT client_id, seq, message_id, qos, retain, subscription_ids, packet_id, stage, "
      "packet, expires_at FROM queue ORDER BY client_id, seq");
  while (s.step()) {
    const auto it = index.find(std::string(s.text(0)));
    if (it == index.end()) continue;
    StoredDelivery q;
    const bool shared = s.is_null(8);  // in `messages`, else in the row itself
    if (shared) {
      const auto m = by_id.find(s.integer(2));
      if (m != by_id.end()) q.message = m->second;
    } else {
      q.message = decode_message(s.blob(8), s.optional_integer(9));
    }
    if (!q.message) continue;  // expired meanwhile
    q.seq = static_cast<std::uint64_t>(s.integer(1));
    q.qos = static_cast<mqtt::QoS>(s.integer(3) & 3);
    q.retain = s.integer(4) != 0;
    q.subscription_ids = decode_ids(s.blob(5));
    q.packet_id = static_cast<std::uint16_t>(s.integer(6));
    q.stage = static_cast<mqtt::OutboundStage>(s.integer(7) % 3);
    if (shared) {
      auto [entry, inserted] =
          messages_.try_emplace(q.message.get(), StoredMessage{s.integer(2), 0, q.message});
      ++entry->second.references;
    }
    contents.sessions[it->second].queue.push_back(std::move(q));
  }

  s = d.prepare("SELECT client_id, packet, expires_at, delay FROM wills");
  while (s.step()) {
    const auto it = index.find(std::string(s.text(0)));
    if (it == index.end()) continue;
    StoredSession& session = contents.sessions[it->second];
    session.will = decode_message(s.blob(1), s.optional_integer(2));
    session.will_delay = static_cast<std::uint32_t>(s.integer(3));
  }

  s = d.prepare("SELECT client_id, packet_id FROM inbound");
  while (s.step()) {
    const auto it = index.find(std::string(s.text(0)));
    if (it != index.end())
      contents.sessions[it->second].inbound_qos2.push_back(
          static_cast<std::uint16_t>(s.integer(1)));
  }
  // Stored messages no queue refers to any more (expired, or left by a crash mid-way).
  d.try_exec("DELETE FROM messages WHERE id NOT IN (SELECT message_id FROM queue)");
  return contents;
}

}  // namespace psos::router
