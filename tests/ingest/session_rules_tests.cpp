// Ingest rules, sessions: auto session, unknown session created, default name, "" as not sent, a record
// staying in its session. Every case runs on every store kind (store_kinds.hpp).
#include <doctest/doctest.h>

#include "ingest/store_kinds.hpp"

using namespace llmtrace;
using llmtrace::testing::for_each_store;
using llmtrace::testing::report;
using llmtrace::testing::subject;
using model::record_status;
using model::write_outcome;

TEST_CASE("session: a report without a session id creates a session with the name it brings") {
  for_each_store([](subject& s) {
    auto w = report("");
    w.new_session_name = "对话-2026-11-26 06:32:05";
    auto r = s.write(w);
    CHECK(r.outcome == write_outcome::created);
    CHECK(r.session_created);
    CHECK(!r.record.session_id.empty());
    CHECK(r.record.turn_number == 1);
    auto sess = s.store->get_session(r.record.session_id);
    REQUIRE(sess.has_value());
    CHECK(sess->name == "对话-2026-11-26 06:32:05");
    CHECK(sess->record_count == 1);
    CHECK(sess->turn_count == 1);
    // The next report without a session opens another one.
    auto again = s.write(report(""));
    CHECK(again.session_created);
    CHECK(again.record.session_id != r.record.session_id);
    CHECK(s.store->stats().sessions == 2);
  });
}

TEST_CASE("session: an unknown session id is created with that id, a known one is reused") {
  for_each_store([](subject& s) {
    auto w = report("client-chosen");
    w.new_session_name = "named";
    auto a = s.write(w);
    CHECK(a.session_created);
    CHECK(a.record.session_id == "client-chosen");
    w.new_session_name = "other";
    auto b = s.write(w);
    CHECK(!b.session_created);
    auto sess = s.store->get_session("client-chosen");
    REQUIRE(sess);
    CHECK(sess->name == "named");  // a name only names a session the report creates
    CHECK(sess->record_count == 2);
    CHECK(s.store->list_sessions({}).total == 1);
  });
}

TEST_CASE("session: a session created without a name gets the default local name of its first report") {
  for_each_store([](subject& s) {
    auto w = report("x");
    w.received_at_ms = model::parse_rfc3339_ms("2026-01-02T12:00:00Z").value();
    s.write(w);
    auto sess = s.store->get_session("x");
    REQUIRE(sess);
    CHECK(sess->name == model::format_local_session_name(w.received_at_ms));
    CHECK(sess->name.rfind("对话-2026-01-0", 0) == 0);
    CHECK(sess->created_at_ms == w.received_at_ms);
  });
}

TEST_CASE("session: empty id and session strings count as not sent") {
  for_each_store([](subject& s) {
    auto w = report("");
    w.session_id = "";
    w.id = "";
    auto r = s.write(w);
    CHECK(r.session_created);
    CHECK(!r.record.session_id.empty());
    CHECK(!r.record.id.empty());
    CHECK(!s.store->get_session("").has_value());
    CHECK(!s.store->get_record("").has_value());
  });
}

TEST_CASE("session: an update by id keeps the record in its session") {
  for_each_store([](subject& s) {
    auto a = report("home", 0, record_status::pending);
    a.id = "k";
    s.write(a);
    auto b = report("elsewhere", 0, record_status::success);
    b.id = "k";
    auto r = s.write(b);
    CHECK(r.outcome == write_outcome::updated);
    CHECK(r.record.session_id == "home");
    CHECK(!r.session_created);
    CHECK(!s.store->get_session("elsewhere").has_value());
    CHECK(s.store->get_session("home")->record_count == 1);
    CHECK(s.store->get_session("home")->turn_count == 1);
  });
}

TEST_CASE("session: delete_session_step deletes a session in bounded transactions (retention)") {
  for_each_store([](subject& s) {
    std::vector<model::record_write> batch;
    for (int i = 0; i < 25; ++i) batch.push_back(report("big"));
    s.write_batch(batch);
    s.write(report("other"));
    // 25 records, 10 per step: two steps leave the session with 5 records, the third deletes the rest and
    // the session.
    auto step = s.store->delete_session_step("big", 10);
    CHECK(!step.finished);
    // (A page's items: its total is the session's counter, which still counts the deleted records.)
    CHECK(s.store->list_records("big", {1, 50, {}}).items.size() == 15);
    // Other writers get in between two steps (nothing is held across them).
    s.write(report("other"));
    step = s.store->delete_session_step("big", 10);
    CHECK(!step.finished);
    CHECK(s.store->list_records("big", {1, 50, {}}).items.size() == 5);
    CHECK(s.store->get_session("big").has_value());
    step = s.store->delete_session_step("big", 10);
    CHECK(step.finished);
    CHECK(step.deleted);
    CHECK(!s.store->get_session("big").has_value());
    CHECK(s.store->list_records("big", {1, 50, {}}).items.empty());
    CHECK(s.store->get_session("other")->record_count == 2);
    // Unknown (or already deleted): finished, nothing deleted.
    step = s.store->delete_session_step("big", 10);
    CHECK(step.finished);
    CHECK(!step.deleted);
  });
}

TEST_CASE("session: rename, deleting a record and deleting a session keep the counters right") {
  for_each_store([](subject& s) {
    auto a = report("s", 0, record_status::error);
    a.usage.total_tokens = 7;
    auto ra = s.write(a).record;
    auto rb = s.write(report("s")).record;
    CHECK(s.store->rename_session("s", "renamed", model::now_ms()));
    CHECK(s.store->get_session("s")->name == "renamed");
    CHECK(!s.store->rename_session("missing", "x", model::now_ms()));

    CHECK(s.store->delete_record(ra.id));
    CHECK(!s.store->delete_record(ra.id));
    CHECK(!s.store->get_record(ra.id));
    auto sess = s.store->get_session("s");
    REQUIRE(sess);
    CHECK(sess->record_count == 1);
    CHECK(sess->turn_count == 1);
    CHECK(sess->error_count == 0);
    CHECK(sess->total_tokens == 0);
    // The freed turn is not reused: the next turn still follows the highest one left.
    CHECK(s.write(report("s")).record.turn_number == rb.turn_number + 1);

    s.write(report("kept"));
    CHECK(s.store->delete_session("s"));
    CHECK(!s.store->delete_session("s"));
    CHECK(!s.store->get_session("s"));
    CHECK(!s.store->get_record(rb.id));
    CHECK(s.store->list_records("s", {}).total == 0);
    auto st = s.store->stats();
    CHECK(st.sessions == 1);
    CHECK(st.records == 1);
    // A deleted session id is unknown again: a report for it creates it afresh, from turn 1.
    auto back = s.write(report("s"));
    CHECK(back.session_created);
    CHECK(back.record.turn_number == 1);
  });
}
