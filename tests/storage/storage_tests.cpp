// The SQLite store against real SQLite files (and :memory:): every ingest rule that must be atomic, the
// readers, deletes, migrations and the busy/unavailable error mapping.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

#include "model/ids.hpp"
#include "model/time.hpp"
#include "storage/sqlite_schema.hpp"
#include "storage/store.hpp"

namespace fs = std::filesystem;
using namespace llmtrace;
using model::record_status;
using storage::record_write;
using storage::write_outcome;

namespace {

// A fresh directory per test, removed afterwards.
struct temp_dir {
  fs::path path;
  temp_dir() {
    path = fs::temp_directory_path() / ("llmtrace-storage-" + model::new_record_id());
    fs::create_directories(path);
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string db() const { return (path / "test.db").string(); }
};

std::unique_ptr<storage::store> open_file(const temp_dir& dir, int busy_timeout_ms = 2000) {
  storage::sqlite_options o;
  o.path = dir.db();
  o.busy_timeout_ms = busy_timeout_ms;
  o.read_connections = 2;
  return storage::open_sqlite_store(o);
}

std::unique_ptr<storage::store> open_memory() {
  storage::sqlite_options o;
  o.path = ":memory:";
  return storage::open_sqlite_store(o);
}

record_write w_in(const std::string& session, int64_t turn = 0,
                  record_status status = record_status::success) {
  record_write w;
  w.session_id = session;
  w.turn_number = turn;
  w.status = status;
  w.request_json = R"({"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]})";
  w.received_at_ms = model::now_ms();
  return w;
}

storage::write_result write_one(storage::store& s, const record_write& w) {
  auto r = s.write_batch({w});
  REQUIRE(r.size() == 1);
  return r[0];
}

int64_t count_rows(const std::string& db_path, const std::string& sql) {
  SQLite::Database db(db_path, SQLite::OPEN_READONLY);
  SQLite::Statement q(db, sql);
  q.executeStep();
  return q.getColumn(0).getInt64();
}

}  // namespace

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

TEST_CASE("ingest: missing session id creates a session with the given name") {
  auto s = open_memory();
  record_write w = w_in("");
  w.session_id.reset();
  w.new_session_name = "对话-2026-11-26 06:32:05";
  auto r = write_one(*s, w);
  CHECK(r.outcome == write_outcome::created);
  CHECK(r.session_created);
  CHECK(!r.record.session_id.empty());
  CHECK(r.record.turn_number == 1);
  auto sess = s->get_session(r.record.session_id);
  REQUIRE(sess.has_value());
  CHECK(sess->name == "对话-2026-11-26 06:32:05");
  CHECK(sess->record_count == 1);
  CHECK(sess->turn_count == 1);
}

TEST_CASE("ingest: unknown session id is created with that id, known one is reused") {
  auto s = open_memory();
  record_write w = w_in("client-chosen");
  w.new_session_name = "named";
  auto a = write_one(*s, w);
  CHECK(a.session_created);
  CHECK(a.record.session_id == "client-chosen");
  w.new_session_name = "other";
  auto b = write_one(*s, w);
  CHECK(!b.session_created);
  auto sess = s->get_session("client-chosen");
  REQUIRE(sess);
  CHECK(sess->name == "named");
  CHECK(sess->record_count == 2);
  CHECK(s->list_sessions({}).total == 1);
}

TEST_CASE("ingest: empty session name falls back to the default local name") {
  auto s = open_memory();
  auto r = write_one(*s, w_in("x"));
  auto sess = s->get_session("x");
  REQUIRE(sess);
  CHECK(sess->name.rfind("对话-", 0) == 0);
}

TEST_CASE("ingest: turn 0 takes the next turn, ignoring replays and children") {
  auto s = open_memory();
  CHECK(write_one(*s, w_in("s")).record.turn_number == 1);
  CHECK(write_one(*s, w_in("s")).record.turn_number == 2);
  CHECK(write_one(*s, w_in("s", 7)).record.turn_number == 7);
  auto replay = w_in("s", 9);
  replay.replay_of = "whatever";
  write_one(*s, replay);
  auto child = w_in("s", 10);
  child.parent_id = "p";
  write_one(*s, child);
  CHECK(write_one(*s, w_in("s")).record.turn_number == 8);
}

TEST_CASE("ingest: 8 threads x 50 writes into one session get turns 1..400 exactly") {
  temp_dir dir;
  auto s = open_file(dir);
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        try {
          s->write_batch({w_in("shared")});
        } catch (...) {
          ++failures;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(failures == 0);
  std::vector<int64_t> turns;
  s->for_each_record("shared", [&](const model::record& r) {
    turns.push_back(r.turn_number);
    return true;
  });
  REQUIRE(turns.size() == 400);
  for (size_t i = 0; i < turns.size(); ++i) CHECK(turns[i] == static_cast<int64_t>(i + 1));
  auto sess = s->get_session("shared");
  REQUIRE(sess);
  CHECK(sess->turn_count == 400);
  CHECK(sess->record_count == 400);
}

TEST_CASE("ingest: pending then success by id is one record") {
  temp_dir dir;
  auto s = open_file(dir);
  auto p = w_in("s", 0, record_status::pending);
  p.id = "call-1";
  p.started_at_ms = 1000;
  auto a = write_one(*s, p);
  CHECK(a.outcome == write_outcome::created);
  CHECK(a.record.status == record_status::pending);

  record_write f;
  f.id = "call-1";
  f.status = record_status::success;
  f.response_json = R"({"choices":[{"message":{"content":"hello"}}]})";
  f.ended_at_ms = 1250;
  f.model = "gpt-4o-mini";
  f.usage.prompt_tokens = 10;
  f.usage.completion_tokens = 5;
  f.usage.total_tokens = 15;
  f.received_at_ms = a.record.created_at_ms + 5;
  auto b = write_one(*s, f);
  CHECK(b.outcome == write_outcome::updated);
  CHECK(b.record.id == "call-1");
  CHECK(b.record.turn_number == a.record.turn_number);
  CHECK(b.record.request_json == *p.request_json);  // unset fields keep
  CHECK(b.record.latency_ms == doctest::Approx(250));
  CHECK(b.record.created_at_ms == a.record.created_at_ms);
  CHECK(b.record.updated_at_ms == f.received_at_ms);

  auto stored = s->get_record("call-1");
  REQUIRE(stored);
  CHECK(stored->status == record_status::success);
  CHECK(stored->response_json == *f.response_json);
  CHECK(stored->usage.total_tokens == 15);
  CHECK(stored->model == "gpt-4o-mini");
  auto sess = s->get_session("s");
  REQUIRE(sess);
  CHECK(sess->record_count == 1);
  CHECK(sess->total_tokens == 15);
  auto st = s->stats();
  CHECK(st.records == 1);
  CHECK(st.pending == 0);
  CHECK(st.prompt_tokens == 10);
}

TEST_CASE("ingest: pending then success without id completes the pending record of that turn") {
  auto s = open_memory();
  auto a = write_one(*s, w_in("s", 3, record_status::pending));
  auto f = w_in("s", 3, record_status::error);
  f.request_json.reset();
  f.error_message = "upstream 500";
  auto b = write_one(*s, f);
  CHECK(b.outcome == write_outcome::updated);
  CHECK(b.record.id == a.record.id);
  CHECK(b.record.status == record_status::error);
  CHECK(b.record.error_message == "upstream 500");
  auto list = s->list_records("s", {});
  CHECK(list.total == 1);
  auto sess = s->get_session("s");
  CHECK(sess->error_count == 1);

  // The turn is final now: another report for it is a new record.
  auto c = write_one(*s, w_in("s", 3));
  CHECK(c.outcome == write_outcome::created);
  CHECK(s->list_records("s", {}).total == 2);
  CHECK(s->get_session("s")->turn_count == 1);
}

TEST_CASE("ingest: a late pending never overwrites a final status") {
  auto s = open_memory();
  auto f = w_in("s", 1, record_status::success);
  f.id = "r1";
  f.response_json = R"({"ok":true})";
  write_one(*s, f);
  auto p = w_in("s", 1, record_status::pending);
  p.id = "r1";
  p.response_json = "null";
  auto r = write_one(*s, p);
  CHECK(r.outcome == write_outcome::stale);
  CHECK(r.record.status == record_status::success);
  auto stored = s->get_record("r1");
  CHECK(stored->status == record_status::success);
  CHECK(stored->response_json == R"({"ok":true})");
}

TEST_CASE("ingest: retrying a batch with the same ids never duplicates") {
  temp_dir dir;
  auto s = open_file(dir);
  std::vector<record_write> batch;
  for (int i = 0; i < 20; ++i) {
    auto w = w_in("s");
    w.id = "rec-" + std::to_string(i);
    batch.push_back(w);
  }
  auto first = s->write_batch(batch);
  auto second = s->write_batch(batch);
  REQUIRE(first.size() == 20);
  REQUIRE(second.size() == 20);
  for (size_t i = 0; i < 20; ++i) {
    CHECK(first[i].outcome == write_outcome::created);
    CHECK(second[i].outcome == write_outcome::updated);
    CHECK(second[i].record.turn_number == first[i].record.turn_number);
  }
  CHECK(s->list_records("s", {1, 100}).total == 20);
  CHECK(count_rows(dir.db(), "SELECT COUNT(*) FROM records") == 20);
}

TEST_CASE("ingest: latency derives from started/ended unless given") {
  auto s = open_memory();
  auto a = w_in("s", 1);
  a.started_at_ms = 100;
  a.ended_at_ms = 400;
  CHECK(write_one(*s, a).record.latency_ms == doctest::Approx(300));
  auto b = w_in("s", 2);
  b.started_at_ms = 100;
  b.ended_at_ms = 400;
  b.latency_ms = 12.5;
  CHECK(write_one(*s, b).record.latency_ms == doctest::Approx(12.5));
  CHECK(!write_one(*s, w_in("s", 3)).record.latency_ms.has_value());
}

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

  auto page = s->list_records("s", {1, 50});
  std::vector<std::string> ids;
  for (const auto& r : page.items) ids.push_back(r.id);
  CHECK(ids == std::vector<std::string>{t1.id, r1.id, t2.id, c2.id, t3.id, p4.id, c4.id});
  CHECK(page.total == 7);
  CHECK(s->get_session("s")->turn_count == 4);

  auto p2 = s->list_records("s", {2, 3});
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

  auto page = s->list_sessions({1, 2});
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
  auto page2 = s->list_sessions({2, 2});
  REQUIRE(page2.items.size() == 1);
  CHECK(page2.items[0].id == "b");
  CHECK(page2.items[0].total_tokens == 30);
  CHECK(!s->get_session("nope").has_value());
  CHECK(!s->get_record("nope").has_value());
}

TEST_CASE("session: rename changes the name and reports unknown ids") {
  auto s = open_memory();
  write_one(*s, w_in("s"));
  CHECK(s->rename_session("s", "renamed", model::now_ms()));
  CHECK(s->get_session("s")->name == "renamed");
  CHECK(!s->rename_session("missing", "x", model::now_ms()));
}

namespace {
record_write with_text(const std::string& session, const std::string& text,
                       const std::string& model_name = "", record_status st = record_status::success) {
  auto w = w_in(session, 0, st);
  w.search_text = text;
  if (!model_name.empty()) w.model = model_name;
  return w;
}
}  // namespace

TEST_CASE("search: full text matches message content, newest first") {
  temp_dir dir;
  auto s = open_file(dir);
  auto a = write_one(*s, with_text("s1", "What is the weather in Paris today?")).record;
  auto b = write_one(*s, with_text("s2", "Tell me a joke about cats")).record;
  auto c = write_one(*s, with_text("s1", "Paris weather forecast for tomorrow")).record;

  storage::search_query q;
  q.text = "weather paris";
  auto r = s->search(q);
  CHECK(r.total == 2);
  REQUIRE(r.items.size() == 2);
  CHECK(r.items[0].id == c.id);
  CHECK(r.items[1].id == a.id);

  q.text = "cat*";  // a prefix asked for
  r = s->search(q);
  REQUIRE(r.items.size() == 1);
  CHECK(r.items[0].id == b.id);
  q.text = "CATS";
  CHECK(s->search(q).total == 1);
  q.text = "cat";  // no whole-word hit: retried as a prefix
  CHECK(s->search(q).total == 1);
  auto d = write_one(*s, with_text("s3", "the cat sat")).record;
  q.text = "cat";  // a whole-word hit exists: prefixes are not consulted
  r = s->search(q);
  REQUIRE(r.total == 1);
  CHECK(r.items[0].id == d.id);
  q.text = "ca";
  CHECK(s->search(q).total == 2);
  q.text = "weath par";
  CHECK(s->search(q).total == 2);

  q.text = "giraffe";
  CHECK(s->search(q).total == 0);
}

TEST_CASE("search: punctuation and FTS syntax in the query are never an error") {
  auto s = open_memory();
  auto a = write_one(*s, with_text("s", "C++ \"quoted\" AND OR NOT near(x) col:val * ^start")).record;
  storage::search_query q;
  for (const char* text :
       {"\"",     "\"\"", "*",    "(", ")",  "AND",        "OR NOT", "col:val", "near(x", "C++",
        "^start", "'",    "a\"b", "-", "?!", "\"quoted\"", "{x}",    "NEAR/3",  "x AND",  "  "}) {
    q.text = text;
    CHECK_NOTHROW(s->search(q));
  }
  q.text = "C++";
  CHECK(s->search(q).total == 1);
  q.text = "\"quoted\"";
  CHECK(s->search(q).total == 1);
  q.text = "col:val";
  CHECK(s->search(q).total == 1);
  q.text = "?!";
  CHECK(s->search(q).total == 0);
  (void)a;
}

TEST_CASE("search: filters by status, model and session, with and without text") {
  auto s = open_memory();
  write_one(*s, with_text("s1", "alpha one", "gpt-4o", record_status::success));
  write_one(*s, with_text("s1", "alpha two", "gpt-4o-mini", record_status::error));
  write_one(*s, with_text("s2", "alpha three", "gpt-4o", record_status::error));
  write_one(*s, with_text("s2", "beta four", "gpt-4o", record_status::pending));

  storage::search_query q;
  CHECK(s->search(q).total == 4);  // empty text: filters only
  q.status = record_status::error;
  CHECK(s->search(q).total == 2);
  q.text = "alpha";
  CHECK(s->search(q).total == 2);
  q.model = "gpt-4o";
  auto r = s->search(q);
  CHECK(r.total == 1);
  REQUIRE(r.items.size() == 1);
  CHECK(r.items[0].session_id == "s2");
  q = {};
  q.session_id = "s1";
  CHECK(s->search(q).total == 2);
  q.status = record_status::success;
  CHECK(s->search(q).total == 1);
  q = {};
  q.status = record_status::pending;
  CHECK(s->search(q).total == 1);
  q.status = record_status::success;
  CHECK(s->search(q).total == 1);
  q = {};
  q.model = "gpt-4o";
  CHECK(s->search(q).total == 3);
  q.paging = {2, 2};
  r = s->search(q);
  CHECK(r.total == 3);
  CHECK(r.items.size() == 1);
}

TEST_CASE("search: an update replaces the indexed text") {
  auto s = open_memory();
  auto p = with_text("s", "question about llamas", "", record_status::pending);
  p.id = "x";
  write_one(*s, p);
  auto f = with_text("s", "question about llamas answer about alpacas");
  f.id = "x";
  write_one(*s, f);
  storage::search_query q;
  q.text = "alpacas";
  CHECK(s->search(q).total == 1);
  q.text = "llamas";
  CHECK(s->search(q).total == 1);
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

TEST_CASE(
    "busy: a write while another connection holds the write lock throws store_busy and stores nothing") {
  temp_dir dir;
  auto s = open_file(dir, 150);
  write_one(*s, w_in("s"));
  SQLite::Database other(dir.db(), SQLite::OPEN_READWRITE);
  other.exec("BEGIN IMMEDIATE");
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<record_write> batch{w_in("s"), w_in("new-session")};
  CHECK_THROWS_AS(s->write_batch(batch), storage::store_busy);
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
  CHECK_THROWS(s2->write_batch(batch));
  CHECK(!s2->get_session("a"));
  CHECK(count_rows(dir.db(), "SELECT COUNT(*) FROM records") == 0);
  CHECK(count_rows(dir.db(), "SELECT COUNT(*) FROM sessions") == 0);
}

TEST_CASE("stats: totals across sessions and a database size") {
  temp_dir dir;
  auto s = open_file(dir);
  auto a = w_in("a", 0, record_status::pending);
  a.usage = {3, 4, 7};
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

TEST_CASE("memory: two :memory: stores are independent") {
  auto a = open_memory();
  auto b = open_memory();
  write_one(*a, w_in("only-a"));
  CHECK(a->get_session("only-a"));
  CHECK(!b->get_session("only-a"));
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

TEST_CASE("search: Chinese text matches by substring") {
  auto s = open_memory();
  auto a = write_one(*s, with_text("s", "今天北京的天气怎么样？")).record;
  write_one(*s, with_text("s", "给我讲一个关于猫的笑话"));
  storage::search_query q;
  q.text = "天气";
  auto r = s->search(q);
  REQUIRE(r.total == 1);
  CHECK(r.items[0].id == a.id);
  q.text = "北京 怎么样";
  CHECK(s->search(q).total == 1);
  q.text = "猫";
  CHECK(s->search(q).total == 1);
  q.text = "天猫";
  CHECK(s->search(q).total == 0);
  q.text = "，。";
  CHECK_NOTHROW(s->search(q));
}

TEST_CASE("search: an update with only new text keeps the earlier text searchable") {
  auto s = open_memory();
  auto p = with_text("s", "how do penguins sleep", "", record_status::pending);
  p.id = "y";
  write_one(*s, p);
  auto f = with_text("s", "they sleep standing up");
  f.id = "y";
  write_one(*s, f);
  storage::search_query q;
  q.text = "penguins";
  CHECK(s->search(q).total == 1);
  q.text = "standing";
  CHECK(s->search(q).total == 1);
  // Repeating the same report does not grow the indexed text.
  write_one(*s, f);
  CHECK(s->search(q).total == 1);
}

TEST_CASE("search: text within one session only returns that session's matches, newest first") {
  auto s = open_memory();
  auto a1 = write_one(*s, with_text("a", "shared word apple")).record;
  write_one(*s, with_text("b", "shared word apple"));
  auto a2 = write_one(*s, with_text("a", "apple again")).record;
  write_one(*s, with_text("a", "nothing here"));
  storage::search_query q;
  q.text = "apple";
  q.session_id = "a";
  auto r = s->search(q);
  CHECK(r.total == 2);
  REQUIRE(r.items.size() == 2);
  CHECK(r.items[0].id == a2.id);
  CHECK(r.items[1].id == a1.id);
  q.status = record_status::error;
  CHECK(s->search(q).total == 0);
}

TEST_CASE("ingest: empty id and session strings count as not sent") {
  auto s = open_memory();
  auto w = w_in("");
  w.id = "";
  auto r = write_one(*s, w);
  CHECK(r.session_created);
  CHECK(!r.record.session_id.empty());
  CHECK(!r.record.id.empty());
  CHECK(!s->get_session("").has_value());
}

TEST_CASE("ingest: an update by id keeps the record in its session") {
  auto s = open_memory();
  auto a = w_in("home", 0, record_status::pending);
  a.id = "k";
  write_one(*s, a);
  auto b = w_in("elsewhere", 0, record_status::success);
  b.id = "k";
  auto r = write_one(*s, b);
  CHECK(r.outcome == write_outcome::updated);
  CHECK(r.record.session_id == "home");
  CHECK(!r.session_created);
  CHECK(!s->get_session("elsewhere").has_value());
  CHECK(s->get_session("home")->record_count == 1);
  CHECK(s->get_session("home")->turn_count == 1);
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

TEST_CASE("batch: items in one batch see each other (same session, pending then final)") {
  auto s = open_memory();
  auto p = w_in("s", 0, record_status::pending);
  p.id = "same";
  auto f = w_in("s", 0, record_status::success);
  f.id = "same";
  auto next = w_in("s");
  auto r = s->write_batch({p, f, next});
  REQUIRE(r.size() == 3);
  CHECK(r[0].outcome == write_outcome::created);
  CHECK(r[0].session_created);
  CHECK(r[1].outcome == write_outcome::updated);
  CHECK(!r[1].session_created);
  CHECK(r[2].record.turn_number == 2);
  auto sess = s->get_session("s");
  CHECK(sess->record_count == 2);
  CHECK(sess->turn_count == 2);
  CHECK(s->stats().pending == 0);
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
  CHECK_THROWS_AS(s->write_batch(big), storage::store_unavailable);
  CHECK(s->list_records("s", {}).total == 1);
  CHECK(count_rows(dir.db(), "SELECT COUNT(*) FROM records") == 1);
  // Small writes still fit afterwards.
  CHECK(write_one(*s, w_in("s")).record.turn_number == 2);
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
      s->write_batch(batch);
    }
    done = true;
  });
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t) {
    readers.emplace_back([&] {
      int64_t last_total = 0;
      // At least one read, then keep reading until the writer finishes.
      do {
        auto page = s->list_records("c", {1, 10000});
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
  CHECK(s->list_records("c", {1, 1000}).total == 600);
}

TEST_CASE("search: a prefix query within one session") {
  auto s = open_memory();
  write_one(*s, with_text("other", "category theory"));
  auto a = write_one(*s, with_text("mine", "categorical data")).record;
  write_one(*s, with_text("other", "cathedral"));
  write_one(*s, with_text("mine", "dogs only"));
  storage::search_query q;
  q.text = "cat*";
  q.session_id = "mine";
  auto r = s->search(q);
  CHECK(r.total == 1);
  REQUIRE(r.items.size() == 1);
  CHECK(r.items[0].id == a.id);
  q.session_id = "nobody";
  CHECK(s->search(q).total == 0);
  q.session_id.clear();
  CHECK(s->search(q).total == 3);
}

TEST_CASE("open: an existing empty file is migrated from scratch") {
  temp_dir dir;
  {
    std::FILE* f = std::fopen(dir.db().c_str(), "wb");
    REQUIRE(f != nullptr);
    std::fclose(f);
  }
  REQUIRE(fs::file_size(dir.db()) == 0);
  auto s = open_file(dir);
  CHECK(write_one(*s, w_in("s")).record.turn_number == 1);
  CHECK(count_rows(dir.db(), "PRAGMA user_version") == storage::sqlite_schema::current_version());
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
      if (s->write_batch(batch).size() == 25) code = 0;
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
  CHECK(fs::exists(dir.db() + "-wal"));
  auto s = open_file(dir);
  CHECK(s->list_records("crash", {1, 100}).total == 25);
  CHECK(s->get_record("c-24").has_value());
  SQLite::Database db(dir.db(), SQLite::OPEN_READONLY);
  SQLite::Statement q(db, "PRAGMA integrity_check");
  REQUIRE(q.executeStep());
  CHECK(q.getColumn(0).getString() == "ok");
}

TEST_CASE("ingest: a replay or child without session or turn joins its original's session and turn") {
  auto s = open_memory();
  write_one(*s, w_in("s"));
  auto original = write_one(*s, w_in("s")).record;
  write_one(*s, w_in("s"));
  CHECK(original.turn_number == 2);

  record_write replay;
  replay.replay_of = original.id;
  replay.received_at_ms = model::now_ms();
  auto r = write_one(*s, replay);
  CHECK(!r.session_created);
  CHECK(r.record.session_id == "s");
  CHECK(r.record.turn_number == 2);

  auto child = w_in("s");
  child.parent_id = original.id;
  auto c = write_one(*s, child);
  CHECK(c.record.turn_number == 2);

  // The next top-level record still takes max + 1.
  CHECK(write_one(*s, w_in("s")).record.turn_number == 4);

  // An unknown original falls back to the ordinary rules.
  record_write orphan;
  orphan.replay_of = "no-such-record";
  auto o = write_one(*s, orphan);
  CHECK(o.session_created);
  CHECK(o.record.turn_number == 1);

  auto ids = std::vector<std::string>{};
  for (const auto& rec : s->list_records("s", {1, 50}).items) ids.push_back(rec.id);
  REQUIRE(ids.size() == 6);
  CHECK(ids[1] == original.id);
  CHECK(ids[2] == r.record.id);
  CHECK(ids[3] == c.record.id);
  CHECK(s->get_session("s")->turn_count == 4);
}
