// The full-text index off the write path (issue 14): a write only queues the record's text (fts_pending); a
// background indexer moves it into records_fts after the commit. These tests stop the indexer for real (a
// trigger, installed from a second connection, makes its queue DELETE fail) and check that a committed record
// is stored but not yet searchable, that search then reports the lag, and that it is found once the indexer
// catches up - in the same process and after a restart with rows left queued.
#include <doctest/doctest.h>

#include <SQLiteCpp/Database.h>

#include <chrono>
#include <string>
#include <thread>

#include "storage/support.hpp"

using namespace llmtrace;
using namespace llmtrace::storage_test;

namespace {

// Makes the indexer's batches fail (they delete the rows they indexed from fts_pending, whose records exist)
// while ingest, which only inserts into fts_pending, still commits, and deleting a record (whose trigger
// removes its queued row after the record is gone) still works.
void block_indexer(const std::string& db) {
  SQLite::Database raw(db, SQLite::OPEN_READWRITE, 5000);
  raw.exec(
      "CREATE TRIGGER test_block_indexer BEFORE DELETE ON fts_pending "
      "WHEN EXISTS (SELECT 1 FROM records WHERE rid = old.rid) "
      "BEGIN SELECT RAISE(ABORT, 'indexer blocked by the test'); END");
}

void unblock_indexer(const std::string& db) {
  SQLite::Database raw(db, SQLite::OPEN_READWRITE, 5000);
  raw.exec("DROP TRIGGER test_block_indexer");
}

int64_t search_total(storage::store& s, const std::string& text, int64_t* lag = nullptr) {
  storage::search_query q;
  q.text = text;
  auto r = s.search(q);
  if (lag) *lag = r.index_lag;
  return r.total;
}

}  // namespace

TEST_CASE("fts index: a committed record is found once the indexer catches up, and the lag is reported") {
  temp_dir dir;
  auto s = open_file(dir);
  // Indexed as usual first: the path through the queue works end to end and leaves nothing queued.
  write_one(*s, with_text("s1", "zebra crossing at noon"));
  int64_t lag = -1;
  CHECK(search_total(*s, "zebra", &lag) == 1);
  CHECK(lag == 0);
  CHECK(count_rows(dir.db(), "SELECT COUNT(*) FROM fts_pending") == 0);

  block_indexer(dir.db());
  const auto rec = write_one(*s, with_text("s1", "quokka selfies on the island")).record;
  // Stored and readable at once (2xx-after-commit is unchanged)...
  CHECK(s->get_record(rec.id).has_value());
  // ...queued for the index, not in it: search waits its bounded time, then says what it could not see.
  CHECK(count_rows(dir.db(), "SELECT COUNT(*) FROM fts_pending") == 1);
  CHECK(search_total(*s, "quokka", &lag) == 0);
  CHECK(lag == 1);
  CHECK(s->stats().search_index_lag == 1);
  // A search without text does not depend on the index.
  storage::search_query all;
  CHECK(s->search(all).total == 2);

  unblock_indexer(dir.db());
  // The indexer retries on its own; search waits for it (bounded), so poll a few times at most.
  int64_t found = 0;
  for (int i = 0; i < 40 && found == 0; ++i) {
    found = search_total(*s, "quokka", &lag);
    if (!found) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  CHECK(found == 1);
  CHECK(lag == 0);
  CHECK(s->stats().search_index_lag == 0);
  CHECK(count_rows(dir.db(), "SELECT COUNT(*) FROM fts_pending") == 0);
}

TEST_CASE("fts index: rows still queued when the store closed are indexed at the next open") {
  temp_dir dir;
  {
    auto s = open_file(dir);
    block_indexer(dir.db());
    write_one(*s, with_text("s1", "narwhal tusks are teeth"));
    CHECK(search_total(*s, "narwhal") == 0);
  }  // closing cannot drain a blocked queue: the row stays for the next run
  CHECK(count_rows(dir.db(), "SELECT COUNT(*) FROM fts_pending") == 1);
  unblock_indexer(dir.db());
  auto s = open_file(dir);
  int64_t lag = -1;
  CHECK(search_total(*s, "narwhal", &lag) == 1);
  CHECK(lag == 0);
  CHECK(count_rows(dir.db(), "SELECT COUNT(*) FROM fts_pending") == 0);
}

TEST_CASE("fts index: an update's text is merged with what is indexed, a deleted record leaves the queue") {
  temp_dir dir;
  auto s = open_file(dir);
  auto w = with_text("s1", "platypus question");
  w.id = model::new_record_id();
  w.status = model::record_status::pending;
  write_one(*s, w);
  auto fin = with_text("s1", "echidna answer");
  fin.id = w.id;
  write_one(*s, fin);
  CHECK(search_total(*s, "platypus") == 1);  // the update carried only the answer: both are kept
  CHECK(search_total(*s, "echidna") == 1);

  block_indexer(dir.db());
  const auto gone = write_one(*s, with_text("s2", "axolotl gills")).record;
  CHECK(count_rows(dir.db(), "SELECT COUNT(*) FROM fts_pending") == 1);
  CHECK(s->delete_record(gone.id));
  // The record's queued text went with it (trigger), so nothing stale can be indexed under a reused rowid.
  CHECK(count_rows(dir.db(), "SELECT COUNT(*) FROM fts_pending") == 0);
  unblock_indexer(dir.db());
  CHECK(search_total(*s, "axolotl") == 0);
  int64_t lag = -1;
  for (int i = 0; i < 40 && lag != 0; ++i) {
    search_total(*s, "axolotl", &lag);  // waits for the indexer's retry (bounded)
    if (lag) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  CHECK(lag == 0);
  CHECK(s->stats().search_index_lag == 0);
}

TEST_CASE("fts index: the in-memory store indexes through the same queue") {
  auto s = open_memory();
  write_one(*s, with_text("s1", "capybara hot spring"));
  int64_t lag = -1;
  CHECK(search_total(*s, "capybara", &lag) == 1);
  CHECK(lag == 0);
}
