// The SQLite store's write primitives used directly through store::write (no ingest rules): what they find,
// the session counters they keep, and rollback when the function throws.
#include <doctest/doctest.h>

#include <stdexcept>

#include "storage/support.hpp"

using namespace llmtrace;
using namespace llmtrace::storage_test;
using model::record_status;

namespace {

model::record rec(const std::string& id, const std::string& session, int64_t turn, record_status st) {
  model::record r;
  r.id = id;
  r.session_id = session;
  r.turn_number = turn;
  r.status = st;
  r.created_at_ms = r.updated_at_ms = 5000;
  return r;
}

}  // namespace

TEST_CASE("write_tx: lookups see this transaction's writes and skip replays and children") {
  temp_dir dir;
  auto s = open_file(dir);
  s->write([](storage::write_tx& tx) {
    CHECK(!tx.session_exists("s"));
    tx.insert_session("s", "name", 1000);
    CHECK(tx.session_exists("s"));
    CHECK(tx.max_top_level_turn("s") == 0);
    tx.insert_record(rec("a", "s", 1, record_status::pending), "");
    auto replay = rec("r", "s", 7, record_status::pending);
    replay.replay_of = "a";
    tx.insert_record(replay, "");
    auto child = rec("c", "s", 8, record_status::pending);
    child.parent_id = "a";
    tx.insert_record(child, "");
    CHECK(tx.max_top_level_turn("s") == 1);
    CHECK(!tx.find_pending_top_level("s", 7));
    CHECK(!tx.find_pending_top_level("s", 8));
    auto p = tx.find_pending_top_level("s", 1);
    REQUIRE(p);
    CHECK(p->record.id == "a");
    auto by_id = tx.find_record("c");
    REQUIRE(by_id);
    CHECK(by_id->record.parent_id == "a");
    CHECK(!tx.find_record("nope"));
  });
  auto sess = s->get_session("s");
  REQUIRE(sess);
  CHECK(sess->name == "name");
  CHECK(sess->record_count == 3);
  CHECK(sess->turn_count == 3);
  CHECK(s->stats().pending == 3);
}

TEST_CASE("write_tx: insert and update keep the session counters and last activity") {
  auto s = open_memory();
  s->write([](storage::write_tx& tx) {
    tx.insert_session("s", "n", 1000);
    auto a = rec("a", "s", 1, record_status::pending);
    a.usage.prompt_tokens = 3;
    a.usage.completion_tokens = 4;  // no total: counts as 7
    tx.insert_record(a, "");
    tx.insert_record(rec("b", "s", 1, record_status::success), "");
  });
  auto sess = s->get_session("s");
  CHECK(sess->record_count == 2);
  CHECK(sess->turn_count == 1);
  CHECK(sess->total_tokens == 7);
  CHECK(sess->updated_at_ms == 5000);
  CHECK(s->stats().pending == 1);
  s->write([](storage::write_tx& tx) {
    auto before = tx.find_record("a");
    REQUIRE(before);
    auto after = before->record;
    after.status = record_status::error;
    after.turn_number = 2;
    after.usage.total_tokens = 10;
    after.updated_at_ms = 9000;
    tx.update_record(*before, after, "");
  });
  sess = s->get_session("s");
  CHECK(sess->record_count == 2);
  CHECK(sess->turn_count == 2);
  CHECK(sess->error_count == 1);
  CHECK(sess->total_tokens == 10);
  CHECK(sess->updated_at_ms == 9000);
  auto st = s->stats();
  CHECK(st.pending == 0);
  CHECK(st.errors == 1);
  CHECK(st.prompt_tokens == 3);
}

TEST_CASE("write_tx: anything the function throws rolls the whole transaction back") {
  temp_dir dir;
  auto s = open_file(dir);
  CHECK_THROWS_WITH(s->write([](storage::write_tx& tx) {
    tx.insert_session("s", "n", 1000);
    tx.insert_record(rec("a", "s", 1, record_status::success), "words");
    throw std::runtime_error("rule failed");
  }),
                    "rule failed");
  CHECK(!s->get_session("s"));
  CHECK(count_rows(dir.db(), "SELECT COUNT(*) FROM records") == 0);
  CHECK(count_rows(dir.db(), "SELECT COUNT(*) FROM records_fts") == 0);
  // The writer is usable again.
  s->write([](storage::write_tx& tx) { tx.insert_session("s", "n", 1000); });
  CHECK(s->get_session("s"));
}
