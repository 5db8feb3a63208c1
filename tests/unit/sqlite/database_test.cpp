// The SQLite helper: binding and reading back, transactions that roll back when an exception
// goes through, and errors that name the file, the statement and SQLite's reason.
#include "sqlite/database.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace psos::sqlite {
namespace {

class DatabaseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("psos-sqlite-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string file() const { return (dir_ / "test.db").string(); }

  std::filesystem::path dir_;
};

TEST_F(DatabaseTest, BindsAndReadsBack) {
  Database db(file());
  db.exec("CREATE TABLE t(i INTEGER, s TEXT, b BLOB, n INTEGER)");
  const std::string blob("a\0b", 3);
  db.prepare("INSERT INTO t VALUES(?1, ?2, ?3, ?4)")
      .bind(1, std::int64_t{-42})
      .bind_text(2, "text")
      .bind_blob(3, blob)
      .bind(4, std::optional<std::int64_t>())
      .run();
  Statement s = db.prepare("SELECT i, s, b, n FROM t");
  ASSERT_TRUE(s.step());
  EXPECT_EQ(s.integer(0), -42);
  EXPECT_EQ(s.text(1), "text");
  EXPECT_EQ(s.blob(2), blob);
  EXPECT_TRUE(s.is_null(3));
  EXPECT_EQ(s.optional_integer(3), std::nullopt);
  EXPECT_EQ(s.optional_integer(0), -42);
  EXPECT_FALSE(s.step());
}

TEST_F(DatabaseTest, AStatementRunsAgainAfterRun) {
  Database db(file());
  db.exec("CREATE TABLE t(i INTEGER PRIMARY KEY)");
  Statement insert = db.prepare("INSERT INTO t VALUES(?)");
  for (std::int64_t i = 1; i <= 3; ++i)
    insert.bind(1, i).run();
  Statement count = db.prepare("SELECT COUNT(*) FROM t");
  ASSERT_TRUE(count.step());
  EXPECT_EQ(count.integer(0), 3);
}

TEST_F(DatabaseTest, ATransactionNotCommittedIsRolledBack) {
  Database db(file());
  db.exec("CREATE TABLE t(i INTEGER)");
  try {
    Transaction t(db);
    db.exec("INSERT INTO t VALUES(1)");
    throw std::runtime_error("something failed half-way");
  } catch (const std::runtime_error&) {
  }
  EXPECT_FALSE(db.in_transaction());
  {
    Transaction t(db);
    db.exec("INSERT INTO t VALUES(2)");
    t.commit();
  }
  Statement s = db.prepare("SELECT group_concat(i) FROM t");
  ASSERT_TRUE(s.step());
  EXPECT_EQ(s.text(0), "2");
}

TEST_F(DatabaseTest, ErrorsNameTheFileTheStatementAndTheReason) {
  Database db(file());
  db.exec("CREATE TABLE t(i INTEGER PRIMARY KEY)");
  try {
    db.prepare("SELECT x FROM nowhere");
    FAIL() << "prepared a statement on a missing table";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(file()), std::string::npos) << what;
    EXPECT_NE(what.find("'SELECT x FROM nowhere'"), std::string::npos) << what;
    EXPECT_NE(what.find("no such table: nowhere"), std::string::npos) << what;
    EXPECT_EQ(e.code(), SQLITE_ERROR);
    EXPECT_EQ(e.path(), file());
  }
  Statement insert = db.prepare("INSERT INTO t VALUES(?)");
  insert.bind(1, std::int64_t{1}).run();
  try {
    insert.bind(1, std::int64_t{1}).run();
    FAIL() << "inserted a duplicate primary key";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("'INSERT INTO t VALUES(?)'"), std::string::npos) << what;
    EXPECT_NE(what.find("UNIQUE constraint failed"), std::string::npos) << what;
    EXPECT_EQ(e.code(), SQLITE_CONSTRAINT_PRIMARYKEY);
    EXPECT_EQ(e.primary_code(), SQLITE_CONSTRAINT);
  }
  // The failed statement was reset: it runs again.
  insert.bind(1, std::int64_t{2}).run();
}

TEST_F(DatabaseTest, OpeningAFileThatCannotBeMadeSaysWhich) {
  const std::string path = (dir_ / "missing" / "test.db").string();
  try {
    Database db(path);
    FAIL() << "opened " << path;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(path + ": cannot open"), std::string::npos) << e.what();
    EXPECT_EQ(e.code(), SQLITE_CANTOPEN);
    EXPECT_EQ(e.path(), path);
  }
}

// The kinds a caller tells apart without reading SQLite's words: a file that is not a database,
// and a database another connection (another process) holds locked.
TEST_F(DatabaseTest, ErrorsCarrySQLitesResultCode) {
  std::ofstream(file()) << "not a database, but a text file long enough to have a header page";
  try {
    Database db(file());
    db.exec("CREATE TABLE IF NOT EXISTS t(i INTEGER)");
    FAIL() << "used a text file as a database";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), SQLITE_NOTADB) << e.what();
  }
  std::filesystem::remove(file());

  Database holder(file());
  holder.exec("CREATE TABLE t(i INTEGER)");
  holder.begin();
  holder.exec("INSERT INTO t VALUES(1)");
  Database other(file());
  other.busy_timeout(std::chrono::milliseconds(0));
  try {
    other.exec("INSERT INTO t VALUES(2)");
    FAIL() << "wrote while another connection held the write lock";
  } catch (const Error& e) {
    EXPECT_EQ(e.primary_code(), SQLITE_BUSY) << e.what();
    EXPECT_EQ(e.path(), file());
  }
  holder.commit();
  other.exec("INSERT INTO t VALUES(2)");
}

}  // namespace
}  // namespace psos::sqlite
