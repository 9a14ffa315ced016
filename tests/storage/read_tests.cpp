// The SQLite store's readers: record and session order and paging, stats, export, snapshots under a writer,
// and integrity after a mixed workload.
#include <doctest/doctest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "storage/support.hpp"

using namespace llmtrace;
using namespace llmtrace::storage_test;
using model::record_status;
using model::record_write;
using model::write_outcome;

TEST_CASE("read: records come in turn order with replays and children grouped under their turn") {
  temp_dir dir;
  auto s = open_file(dir);
  auto t1 = write_one(*s, w_in("s", 1)).record;
  auto t2 = write_one(*s, w_in("s", 2)).record;
  auto replay = w_in("s", 1);
  replay.replay_of = t1.id;
  auto r1 = write_one(*s, replay).record;
  auto child = w_in("s", 2);
  child.parent_id = t2.id;
  auto c2 = write_one(*s, child).record;
  auto t3 = write_one(*s, w_in("s")).record;
  CHECK(t3.turn_number == 3);
  // A child reported before its parent still lists after it.
  auto early_child = w_in("s", 4);
  early_child.parent_id = "later-parent";
  auto c4 = write_one(*s, early_child).record;
  auto p4 = write_one(*s, w_in("s", 4)).record;

  auto page = s->list_records("s", {1, 50, {}});
  std::vector<std::string> ids;
  for (const auto& r : page.items) ids.push_back(r.id);
  CHECK(ids == std::vector<std::string>{t1.id, r1.id, t2.id, c2.id, t3.id, p4.id, c4.id});
  CHECK(page.total == 7);
  CHECK(s->get_session("s")->turn_count == 4);

  auto p2 = s->list_records("s", {2, 3, {}});
  REQUIRE(p2.items.size() == 3);
  CHECK(p2.items[0].id == c2.id);
  CHECK(p2.page == 2);
  CHECK(p2.size == 3);
  CHECK(p2.total == 7);

  auto stored_replay = s->get_record(r1.id);
  REQUIRE(stored_replay);
  CHECK(stored_replay->replay_of == t1.id);
  CHECK(stored_replay->parent_id.empty());
}

TEST_CASE("read: sessions list newest activity first with totals") {
  auto s = open_memory();
  auto a = w_in("a");
  a.received_at_ms = 1000;
  write_one(*s, a);
  auto b = w_in("b");
  b.received_at_ms = 2000;
  b.usage.total_tokens = 30;
  write_one(*s, b);
  auto c = w_in("c");
  c.received_at_ms = 3000;
  write_one(*s, c);
  auto a2 = w_in("a", 0, record_status::error);
  a2.received_at_ms = 4000;
  a2.usage.prompt_tokens = 4;
  a2.usage.completion_tokens = 6;
  write_one(*s, a2);

  auto page = s->list_sessions({1, 2, {}});
  CHECK(page.total == 3);
  REQUIRE(page.items.size() == 2);
  CHECK(page.items[0].id == "a");
  CHECK(page.items[0].updated_at_ms == 4000);
  CHECK(page.items[0].created_at_ms == 1000);
  CHECK(page.items[0].record_count == 2);
  CHECK(page.items[0].turn_count == 2);
  CHECK(page.items[0].error_count == 1);
  CHECK(page.items[0].total_tokens == 10);
  CHECK(page.items[1].id == "c");
  auto page2 = s->list_sessions({2, 2, {}});
  REQUIRE(page2.items.size() == 1);
  CHECK(page2.items[0].id == "b");
  CHECK(page2.items[0].total_tokens == 30);
  CHECK(!s->get_session("nope").has_value());
  CHECK(!s->get_record("nope").has_value());
}

TEST_CASE("stats: totals across sessions and a database size") {
  temp_dir dir;
  auto s = open_file(dir);
  auto a = w_in("a", 0, record_status::pending);
  a.usage = {3, 4, 7, std::nullopt};
  write_one(*s, a);
  write_one(*s, w_in("b", 0, record_status::error));
  auto st = s->stats();
  CHECK(st.sessions == 2);
  CHECK(st.records == 2);
  CHECK(st.pending == 1);
  CHECK(st.errors == 1);
  CHECK(st.prompt_tokens == 3);
  CHECK(st.completion_tokens == 4);
  CHECK(st.total_tokens == 7);
  CHECK(st.db_size_bytes > 0);
}

TEST_CASE("export: for_each_record streams in turn order and stops on false") {
  auto s = open_memory();
  for (int i = 0; i < 5; ++i) write_one(*s, w_in("s"));
  int seen = 0;
  s->for_each_record("s", [&](const model::record& r) {
    ++seen;
    CHECK(r.turn_number == seen);
    return seen < 3;
  });
  CHECK(seen == 3);
}

TEST_CASE("memory: a for_each_record callback may call back into the store") {
  auto s = open_memory();
  write_one(*s, w_in("s"));
  write_one(*s, w_in("s"));
  int seen = 0;
  s->for_each_record("s", [&](const model::record& r) {
    CHECK(s->get_record(r.id).has_value());
    ++seen;
    return true;
  });
  CHECK(seen == 2);
}

TEST_CASE("concurrency: readers see consistent snapshots while a writer commits") {
  temp_dir dir;
  auto s = open_file(dir);
  std::atomic<bool> done{false};
  std::atomic<int> inconsistent{0};
  std::atomic<int> reads{0};
  std::thread writer([&] {
    for (int b = 0; b < 60; ++b) {
      std::vector<record_write> batch;
      for (int i = 0; i < 10; ++i) batch.push_back(w_in("c"));
      write_batch(*s, batch);
    }
    done = true;
  });
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t) {
    readers.emplace_back([&] {
      int64_t last_total = 0;
      // At least one read, then keep reading until the writer finishes.
      do {
        auto page = s->list_records("c", {1, 10000, {}});
        if (static_cast<int64_t>(page.items.size()) != page.total || page.total % 10 != 0 ||
            page.total < last_total) {
          ++inconsistent;
        }
        for (size_t i = 0; i < page.items.size(); ++i) {
          if (page.items[i].turn_number != static_cast<int64_t>(i + 1)) ++inconsistent;
        }
        last_total = page.total;
        ++reads;
      } while (!done);
    });
  }
  writer.join();
  for (auto& r : readers) r.join();
  CHECK(inconsistent == 0);
  CHECK(reads >= 3);
  CHECK(s->list_records("c", {1, 1000, {}}).total == 600);
}

TEST_CASE("delete: a session takes its records and their search rows with it") {
  temp_dir dir;
  auto s = open_file(dir);
  write_one(*s, with_text("gone", "secret words"));
  write_one(*s, with_text("gone", "more secret"));
  auto kept = write_one(*s, with_text("kept", "secret too")).record;
  CHECK(s->delete_session("gone"));
  CHECK(!s->delete_session("gone"));
  CHECK(!s->get_session("gone"));
  CHECK(s->list_records("gone", {}).total == 0);
  storage::search_query q;
  q.text = "secret";
  auto r = s->search(q);
  REQUIRE(r.total == 1);
  CHECK(r.items[0].id == kept.id);
  CHECK(count_rows(dir.db(), "SELECT COUNT(*) FROM records_fts") == 1);
  CHECK(count_rows(dir.db(), "SELECT COUNT(*) FROM records") == 1);
  CHECK(s->stats().sessions == 1);
  CHECK(s->stats().records == 1);
}

TEST_CASE("delete: a record updates its session counters and search index") {
  temp_dir dir;
  auto s = open_file(dir);
  auto a = with_text("s", "first thing", "", record_status::error);
  a.usage.total_tokens = 7;
  auto ra = write_one(*s, a).record;
  auto rb = write_one(*s, with_text("s", "second thing")).record;
  CHECK(s->delete_record(ra.id));
  CHECK(!s->delete_record(ra.id));
  CHECK(!s->get_record(ra.id));
  auto sess = s->get_session("s");
  REQUIRE(sess);
  CHECK(sess->record_count == 1);
  CHECK(sess->turn_count == 1);
  CHECK(sess->error_count == 0);
  CHECK(sess->total_tokens == 0);
  storage::search_query q;
  q.text = "thing";
  auto r = s->search(q);
  REQUIRE(r.total == 1);
  CHECK(r.items[0].id == rb.id);
  CHECK(count_rows(dir.db(), "SELECT COUNT(*) FROM records_fts") == 1);
}

TEST_CASE("integrity: integrity_check is ok after a mixed workload") {
  temp_dir dir;
  {
    auto s = open_file(dir);
    for (int i = 0; i < 50; ++i) {
      auto w = with_text("s" + std::to_string(i % 5), "message number " + std::to_string(i), "m",
                         i % 3 == 0 ? record_status::pending : record_status::success);
      w.id = "id-" + std::to_string(i);
      write_one(*s, w);
    }
    for (int i = 0; i < 50; i += 3) {
      auto w = with_text("s" + std::to_string(i % 5), "answer " + std::to_string(i));
      w.id = "id-" + std::to_string(i);
      write_one(*s, w);
    }
    s->delete_record("id-1");
    s->delete_session("s2");
  }
  SQLite::Database db(dir.db(), SQLite::OPEN_READWRITE);
  SQLite::Statement q(db, "PRAGMA integrity_check");
  REQUIRE(q.executeStep());
  CHECK(q.getColumn(0).getString() == "ok");
  db.exec("INSERT INTO records_fts(records_fts, rank) VALUES('integrity-check', 1)");
  SQLite::Statement fk(db, "PRAGMA foreign_key_check");
  CHECK(!fk.executeStep());
}
