// The SQLite store when things go wrong: a held write lock (store_busy), a full database (store_unavailable),
// a failure midway through a transaction, the process dying right after a commit.
#include <doctest/doctest.h>

#include <chrono>
#include <filesystem>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

#include "storage/support.hpp"

using namespace llmtrace;
using namespace llmtrace::storage_test;
using model::record_status;
using model::record_write;
using model::write_outcome;

TEST_CASE(
    "busy: a write while another connection holds the write lock throws store_busy and stores nothing") {
  temp_dir dir;
  auto s = open_file(dir, 150);
  write_one(*s, w_in("s"));
  SQLite::Database other(dir.db(), SQLite::OPEN_READWRITE);
  other.exec("BEGIN IMMEDIATE");
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<record_write> batch{w_in("s"), w_in("new-session")};
  CHECK_THROWS_AS(write_batch(*s, batch), storage::store_busy);
  const auto waited = std::chrono::steady_clock::now() - t0;
  CHECK(waited < std::chrono::seconds(5));
  // Readers still work while the lock is held.
  CHECK(s->list_records("s", {}).total == 1);
  other.exec("ROLLBACK");
  CHECK(s->list_records("s", {}).total == 1);
  CHECK(!s->get_session("new-session"));
  // And the store recovers once the lock is gone.
  CHECK(write_one(*s, w_in("s")).record.turn_number == 2);
}

TEST_CASE("unavailable: a full database throws store_unavailable and keeps nothing of the batch") {
  temp_dir dir;
  storage::sqlite_options o;
  o.path = dir.db();
  o.max_db_bytes = 1 << 20;  // a full disk stand-in
  auto s = storage::open_sqlite_store(o);
  write_one(*s, w_in("s"));
  std::vector<record_write> big;
  for (int i = 0; i < 200; ++i) {
    auto w = w_in("s");
    w.request_json = "\"" + std::string(16 * 1024, 'x') + "\"";
    big.push_back(w);
  }
  CHECK_THROWS_AS(write_batch(*s, big), storage::store_unavailable);
  CHECK(s->list_records("s", {}).total == 1);
  CHECK(count_rows(dir.db(), "SELECT COUNT(*) FROM records") == 1);
  // Small writes still fit afterwards.
  CHECK(write_one(*s, w_in("s")).record.turn_number == 2);
}

TEST_CASE("atomic: a batch that fails midway leaves nothing behind") {
  temp_dir dir;
  auto s = open_file(dir);
  // A trigger that fails on a marker value stands in for a mid-batch failure (e.g. disk full).
  {
    SQLite::Database db(dir.db(), SQLite::OPEN_READWRITE);
    db.exec(
        "CREATE TRIGGER fail_marker BEFORE INSERT ON records WHEN NEW.error_message = 'boom' "
        "BEGIN SELECT RAISE(ABORT, 'boom'); END;");
  }
  auto s2 = open_file(dir);  // a fresh connection sees the trigger in its schema
  auto bad = w_in("b");
  bad.error_message = "boom";
  std::vector<record_write> batch{w_in("a"), w_in("a"), bad};
  CHECK_THROWS(write_batch(*s2, batch));
  CHECK(!s2->get_session("a"));
  CHECK(count_rows(dir.db(), "SELECT COUNT(*) FROM records") == 0);
  CHECK(count_rows(dir.db(), "SELECT COUNT(*) FROM sessions") == 0);
}

TEST_CASE("durability: a committed batch survives the process dying right after write_batch returns") {
  temp_dir dir;
  { auto s = open_file(dir); }  // create and migrate first, so the child only writes
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    int code = 1;
    try {
      auto s = open_file(dir);
      std::vector<record_write> batch;
      for (int i = 0; i < 25; ++i) {
        auto w = w_in("crash");
        w.id = "c-" + std::to_string(i);
        batch.push_back(w);
      }
      if (write_batch(*s, batch).size() == 25) code = 0;
      // Die with the store still open: no destructors, no checkpoint, the data lives only in the WAL.
      _exit(code);
    } catch (...) {
    }
    _exit(code);
  }
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  CHECK(std::filesystem::exists(dir.db() + "-wal"));
  auto s = open_file(dir);
  CHECK(s->list_records("crash", {1, 100, {}}).total == 25);
  CHECK(s->get_record("c-24").has_value());
  SQLite::Database db(dir.db(), SQLite::OPEN_READONLY);
  SQLite::Statement q(db, "PRAGMA integrity_check");
  REQUIRE(q.executeStep());
  CHECK(q.getColumn(0).getString() == "ok");
}
