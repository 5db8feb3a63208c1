// See database.hpp.
#include "sqlite/database.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <mutex>
#include <utility>

namespace psos::sqlite {

namespace {
// The start of a statement, enough to recognise it in a message.
std::string excerpt(std::string_view sql) {
  constexpr std::size_t kMax = 60;
  sql.remove_prefix(std::min(sql.find_first_not_of(" \n"), sql.size()));
  const std::size_t cut = std::min(sql.find('\n'), kMax);
  if (cut >= sql.size()) return "'" + std::string(sql) + "'";
  return "'" + std::string(sql.substr(0, cut)) + "...'";
}
}  // namespace

// ---- Statement

Statement::Statement(Statement&& other) noexcept
    : statement_(std::exchange(other.statement_, nullptr)), db_(other.db_) {}

Statement& Statement::operator=(Statement&& other) noexcept {
  if (this != &other) {
    sqlite3_finalize(statement_);
    statement_ = std::exchange(other.statement_, nullptr);
    db_ = other.db_;
  }
  return *this;
}

Statement::~Statement() {
  sqlite3_finalize(statement_);
}

Statement& Statement::bind(int index, std::int64_t value) {
  sqlite3_bind_int64(statement_, index, value);
  return *this;
}

Statement& Statement::bind(int index, std::optional<std::int64_t> value) {
  return value ? bind(index, *value) : bind_null(index);
}

Statement& Statement::bind_null(int index) {
  sqlite3_bind_null(statement_, index);
  return *this;
}

namespace {
sqlite3_destructor_type destructor(Lifetime lifetime) {
  return lifetime == Lifetime::copied ? SQLITE_TRANSIENT : SQLITE_STATIC;
}
}  // namespace

Statement& Statement::bind_text(int index, std::string_view value, Lifetime lifetime) {
  sqlite3_bind_text(statement_, index, value.data(), static_cast<int>(value.size()),
                    destructor(lifetime));
  return *this;
}

Statement& Statement::bind_blob(int index, std::string_view value, Lifetime lifetime) {
  sqlite3_bind_blob(statement_, index, value.data(), static_cast<int>(value.size()),
                    destructor(lifetime));
  return *this;
}

bool Statement::step() {
  const int rc = sqlite3_step(statement_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  fail(rc);
}

void Statement::run() {
  const int rc = sqlite3_step(statement_);
  if (rc != SQLITE_DONE && rc != SQLITE_ROW) fail(rc);
  reset();
}

void Statement::reset() noexcept {
  sqlite3_reset(statement_);
  sqlite3_clear_bindings(statement_);
}

void Statement::fail(int rc) {
  // The message before reset(), which makes the statement usable again.
  const std::string message = db_->path() + ": cannot run " + excerpt(sqlite3_sql(statement_)) +
                              ": " + sqlite3_errmsg(sqlite3_db_handle(statement_)) + " (" +
                              sqlite3_errstr(rc) + ")";
  const int code = sqlite3_extended_errcode(sqlite3_db_handle(statement_));
  reset();
  throw Error(code, db_->path(), message);
}

bool Statement::is_null(int column) const noexcept {
  return sqlite3_column_type(statement_, column) == SQLITE_NULL;
}

std::int64_t Statement::integer(int column) const noexcept {
  return sqlite3_column_int64(statement_, column);
}

std::optional<std::int64_t> Statement::optional_integer(int column) const noexcept {
  if (is_null(column)) return std::nullopt;
  return integer(column);
}

std::string_view Statement::text(int column) const noexcept {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(statement_, column));
  return p ? std::string_view(p, static_cast<std::size_t>(sqlite3_column_bytes(statement_, column)))
           : std::string_view();
}

std::string_view Statement::blob(int column) const noexcept {
  const auto* p = static_cast<const char*>(sqlite3_column_blob(statement_, column));
  return p ? std::string_view(p, static_cast<std::size_t>(sqlite3_column_bytes(statement_, column)))
           : std::string_view();
}

// ---- Database

Database::Database(std::string path, Threads threads) : path_(std::move(path)) {
  // Before SQLite's first use in the process (later it is refused, harmlessly): no allocation
  // statistics, which nothing reads and which take a global mutex on every allocation.
  static std::once_flag configured;
  std::call_once(configured, [] { sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0); });
  const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                    (threads == Threads::one_at_a_time ? SQLITE_OPEN_NOMUTEX : 0);
  if (const int rc = sqlite3_open_v2(path_.c_str(), &db_, flags, nullptr); rc != SQLITE_OK) {
    const std::string why = db_ != nullptr ? sqlite3_errmsg(db_) : "out of memory";
    const int code = db_ != nullptr ? sqlite3_extended_errcode(db_) : rc;
    sqlite3_close(db_);
    db_ = nullptr;
    throw Error(code, path_, path_ + ": cannot open: " + why);
  }
}

Database::~Database() {
  // Statements first: a connection with unfinalized statements does not close.
  begin_ = Statement();
  commit_ = Statement();
  sqlite3_close(db_);
}

void Database::busy_timeout(std::chrono::milliseconds timeout) noexcept {
  sqlite3_busy_timeout(db_, static_cast<int>(timeout.count()));
}

void Database::exec(const std::string& sql) {
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK)
    fail("cannot run " + excerpt(sql));
}

bool Database::try_exec(const std::string& sql) noexcept {
  return sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr) == SQLITE_OK;
}

Statement Database::prepare(std::string_view sql) {
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &s, nullptr) != SQLITE_OK)
    fail("cannot prepare " + excerpt(sql));
  return Statement(s, this);
}

void Database::on_wal_commit(std::function<void(int frames)> hook) {
  wal_hook_ = std::move(hook);
  sqlite3_wal_hook(
      db_,
      [](void* self, sqlite3*, const char*, int frames) {
        static_cast<Database*>(self)->wal_hook_(frames);
        return SQLITE_OK;
      },
      this);
}

std::pair<int, int> Database::checkpoint() {
  int frames = 0, copied = 0;
  const int rc =
      sqlite3_wal_checkpoint_v2(db_, nullptr, SQLITE_CHECKPOINT_PASSIVE, &frames, &copied);
  if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) return {-1, -1};
  if (rc != SQLITE_OK) fail("cannot checkpoint");
  return {frames, copied};
}

void Database::begin() {
  if (!begin_.statement_) begin_ = prepare("BEGIN");
  begin_.run();
}

void Database::commit() {
  if (!commit_.statement_) commit_ = prepare("COMMIT");
  commit_.run();
}

void Database::rollback() noexcept {
  if (in_transaction()) try_exec("ROLLBACK");
}

bool Database::in_transaction() const noexcept {
  return sqlite3_get_autocommit(db_) == 0;
}

void Database::fail(std::string_view what) const {
  throw Error(sqlite3_extended_errcode(db_), path_,
              path_ + ": " + std::string(what) + ": " + sqlite3_errmsg(db_));
}

}  // namespace psos::sqlite
