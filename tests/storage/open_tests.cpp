// Opening the SQLite store: creation and migration, reopening, refusing what it cannot open, :memory:.
#include <doctest/doctest.h>

#include <sys/stat.h>

#include <cstdio>
#include <filesystem>

#include "storage/sqlite_schema.hpp"
#include "storage/support.hpp"

using namespace llmtrace;
using namespace llmtrace::storage_test;
using model::record_status;
using model::record_write;
using model::write_outcome;

TEST_CASE("open: a new file is created and migrated to the current schema version") {
  temp_dir dir;
  { auto s = open_file(dir); }
  CHECK(count_rows(dir.db(), "PRAGMA user_version") == storage::sqlite_schema::current_version());
  CHECK(count_rows(dir.db(),
                   "SELECT COUNT(*) FROM sqlite_master WHERE name IN ('sessions','records','records_fts')") ==
        3);
  SQLite::Database db(dir.db(), SQLite::OPEN_READONLY);
  SQLite::Statement jm(db, "PRAGMA journal_mode");
  REQUIRE(jm.executeStep());
  CHECK(jm.getColumn(0).getString() == "wal");
}

TEST_CASE("open: reopening an existing file keeps its data") {
  temp_dir dir;
  std::string id;
  {
    auto s = open_file(dir);
    id = write_one(*s, w_in("sess-a", 1)).record.id;
  }
  auto s = open_file(dir);
  auto r = s->get_record(id);
  REQUIRE(r.has_value());
  CHECK(r->session_id == "sess-a");
  CHECK(s->list_sessions({}).total == 1);
}

TEST_CASE("open: a file from a newer schema is refused with a clear message") {
  temp_dir dir;
  {
    SQLite::Database db(dir.db(), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    db.exec("PRAGMA user_version = 999");
  }
  CHECK_THROWS_WITH_AS(open_file(dir), doctest::Contains("newer"), std::runtime_error);
}

TEST_CASE("open: an unopenable path throws 'cannot open database'") {
  storage::sqlite_options o;
  o.path = "/nonexistent-dir-llmtrace/x/y.db";
  CHECK_THROWS_WITH_AS(storage::open_sqlite_store(o),
                       doctest::Contains("cannot open database '/nonexistent-dir-llmtrace/x/y.db'"),
                       std::runtime_error);
}

TEST_CASE("open: a file that is not a database throws 'cannot open database'") {
  temp_dir dir;
  {
    std::FILE* f = std::fopen(dir.db().c_str(), "wb");
    REQUIRE(f != nullptr);
    std::fputs("this is definitely not an sqlite database file, just text.................................",
               f);
    std::fclose(f);
  }
  CHECK_THROWS_WITH_AS(open_file(dir), doctest::Contains("cannot open database"), std::runtime_error);
}

TEST_CASE("open: an existing empty file is migrated from scratch") {
  temp_dir dir;
  {
    std::FILE* f = std::fopen(dir.db().c_str(), "wb");
    REQUIRE(f != nullptr);
    std::fclose(f);
  }
  REQUIRE(std::filesystem::file_size(dir.db()) == 0);
  auto s = open_file(dir);
  CHECK(write_one(*s, w_in("s")).record.turn_number == 1);
  CHECK(count_rows(dir.db(), "PRAGMA user_version") == storage::sqlite_schema::current_version());
}

TEST_CASE("memory: two :memory: stores are independent") {
  auto a = open_memory();
  auto b = open_memory();
  write_one(*a, w_in("only-a"));
  CHECK(a->get_session("only-a"));
  CHECK(!b->get_session("only-a"));
}

TEST_CASE("open: a new database, its WAL and its SHM are readable by their owner only") {
  temp_dir dir;
  auto s = open_file(dir);
  write_one(*s, w_in("s"));  // the WAL and SHM exist while the store is open
  for (const std::string suffix : {"", "-wal", "-shm"}) {
    struct stat st {};
    REQUIRE_MESSAGE(::stat((dir.db() + suffix).c_str(), &st) == 0, suffix);
    CHECK_MESSAGE((st.st_mode & 0777) == 0600, suffix);
  }
}

TEST_CASE("open: an existing database keeps the permissions its owner gave it") {
  temp_dir dir;
  { auto s = open_file(dir); }
  REQUIRE(::chmod(dir.db().c_str(), 0640) == 0);
  auto s = open_file(dir);
  struct stat st {};
  REQUIRE(::stat(dir.db().c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0640);
}
