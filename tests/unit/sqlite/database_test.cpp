// The SQLite helper: binding and reading back, transactions that roll back when an exception
// goes through, and errors that name the file, the statement and SQLite's reason.
#include "sqlite/database.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
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
  }
}

}  // namespace
}  // namespace psos::sqlite
