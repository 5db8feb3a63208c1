// A small C++ face on SQLite for the three places that keep state in it (the router's
// persistence, the client's durable queue, the `store` module): a connection and prepared
// statements that close themselves, binding by position, stepping, transactions, and errors
// that name the database file, what was being done and SQLite's own message.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

struct sqlite3;
struct sqlite3_stmt;

namespace psos::sqlite {

// The one error of this layer. what() is "PATH: what was being done: SQLite's message"; code()
// is SQLite's extended result code (SQLITE_BUSY, SQLITE_NOTADB, SQLITE_CONSTRAINT_PRIMARYKEY,
// ...) for a caller that acts on the kind of failure, and path() the database file it concerns.
class Error : public std::runtime_error {
 public:
  Error(int code, std::string path, const std::string& message)
      : std::runtime_error(message), code_(code), path_(std::move(path)) {}
  int code() const noexcept { return code_; }
  // The primary result code (SQLITE_CONSTRAINT for SQLITE_CONSTRAINT_PRIMARYKEY).
  int primary_code() const noexcept { return code_ & 0xFF; }
  const std::string& path() const noexcept { return path_; }

 private:
  int code_;
  std::string path_;
};

class Database;

// How long bound text or a blob stays valid: copied when bound (the view need not outlive the
// call), or until the statement has run (run() and reset() unbind it; no copy, no allocation).
enum class Lifetime { copied, until_run };

// A prepared statement, finalized when destroyed. Parameters are numbered from 1, result
// columns from 0.
class Statement {
 public:
  Statement() = default;
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&& other) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement();

  Statement& bind(int index, std::int64_t value);
  Statement& bind(int index, std::optional<std::int64_t> value);  // NULL when empty
  Statement& bind_null(int index);
  Statement& bind_text(int index, std::string_view value, Lifetime lifetime = Lifetime::copied);
  Statement& bind_blob(int index, std::string_view value, Lifetime lifetime = Lifetime::copied);

  // One step: true when a row is ready to read, false when the statement is done. Throws Error
  // (and resets the statement).
  bool step();
  // Runs a statement that returns no rows, then reset(). Throws Error (reset as well).
  void run();
  // Ready to run again, with its bindings cleared.
  void reset() noexcept;

  // Columns of the current row.
  bool is_null(int column) const noexcept;
  std::int64_t integer(int column) const noexcept;
  std::optional<std::int64_t> optional_integer(int column) const noexcept;
  std::string_view text(int column) const noexcept;  // empty for NULL
  std::string_view blob(int column) const noexcept;  // empty for NULL

 private:
  friend class Database;
  Statement(sqlite3_stmt* statement, const Database* db) noexcept
      : statement_(statement), db_(db) {}
  [[noreturn]] void fail(int rc);

  sqlite3_stmt* statement_ = nullptr;
  const Database* db_ = nullptr;
};

// Who may use a connection: any thread at any time (SQLite serializes calls with a mutex), or
// one thread at a time, the hand-over between threads ordered by the caller (no mutex: a
// pthread lock and unlock per SQLite call otherwise, ~10 % of a busy broker's CPU).
enum class Threads { shared, one_at_a_time };

// One connection to one database file.
class Database {
 public:
  // Opens `path`, creating the file if needed. Throws Error.
  explicit Database(std::string path, Threads threads = Threads::shared);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  const std::string& path() const noexcept { return path_; }
  // How long a statement waits for a lock another connection holds before it fails.
  void busy_timeout(std::chrono::milliseconds timeout) noexcept;

  // Runs SQL text, one or more statements that return no rows. Throws Error.
  void exec(const std::string& sql);
  // The same, for what may fail harmlessly (adding a column that an older schema lacks and a
  // newer one has): false when it failed.
  bool try_exec(const std::string& sql) noexcept;
  // Throws Error (the statement's first words and SQLite's message).
  Statement prepare(std::string_view sql);

  // In WAL mode: `hook(frames)` after each commit, with the number of frames the WAL now holds
  // (sqlite3_wal_hook). It replaces SQLite's automatic checkpoints on this connection, which
  // run inside the commit that passes 1000 frames (fsync included).
  void on_wal_commit(std::function<void(int frames)> hook);
  // A passive checkpoint: copies the WAL's committed frames into the database without waiting
  // for writers on other connections or holding them up. Returns the frames in the WAL and how
  // many of them are now in the database (when all of them, a transaction that begins after it
  // starts the WAL over).
  // Throws Error; another checkpoint already running is not one (it returns {-1, -1}).
  std::pair<int, int> checkpoint();

  // A transaction opened and closed by hand, so that it can span calls (group commit).
  void begin();
  void commit();
  void rollback() noexcept;
  bool in_transaction() const noexcept;

  // Throws Error("PATH: what: SQLite's last message on this connection").
  [[noreturn]] void fail(std::string_view what) const;

 private:
  sqlite3* db_ = nullptr;
  std::string path_;
  Statement begin_, commit_;
  std::function<void(int)> wal_hook_;
};

// BEGIN when made; ROLLBACK when destroyed before commit() (an exception went through).
class Transaction {
 public:
  explicit Transaction(Database& db) : db_(db) { db_.begin(); }
  ~Transaction() {
    if (!done_) db_.rollback();
  }
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

  void commit() {
    db_.commit();
    done_ = true;
  }

 private:
  Database& db_;
  bool done_ = false;
};

}  // namespace psos::sqlite
