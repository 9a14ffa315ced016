// Ingest rules inside one batch that writes, finds and changes its own new records: a store may defer new
// rows to the end of the transaction (the PostgreSQL store writes them with one COPY in finish()), and every
// lookup of the rules must see them all the same. Runs on every store kind.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "ingest/store_kinds.hpp"

using namespace llmtrace;
using llmtrace::testing::for_each_store;
using llmtrace::testing::report;
using llmtrace::testing::subject;
using model::record_status;
using model::write_outcome;

namespace {

model::record_write with_id(model::record_write w, const std::string& id, const std::string& text = {}) {
  w.id = id;
  w.search_text = text;
  return w;
}

model::record_write span(const std::string& trace, const std::string& id, const std::string& parent,
                         const std::string& hint) {
  model::record_write w;
  w.trace_turn = true;
  w.trace_id = trace;
  w.id = id;
  if (!parent.empty()) w.parent_id = parent;
  if (!hint.empty()) w.session_id = hint;
  w.kind = parent.empty() ? model::record_kind::agent : model::record_kind::llm;
  w.status = record_status::success;
  w.usage.total_tokens = 7;
  w.request_json = R"({"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]})";
  w.received_at_ms = model::now_ms();
  return w;
}

int64_t hits(subject& s, const std::string& text) {
  storage::search_query q;
  q.text = text;
  return s.store->search(q).total;
}

}  // namespace

TEST_CASE("batch: one batch finds, completes and re-homes the records it wrote itself") {
  for_each_store([](subject& s) {
    const std::string trace = "5bf92f3577b34da6a3ce929d0e0e4736";
    auto child = report("", 0);
    child.parent_id = "p1";
    auto final_p1 = with_id(report("s", 0, record_status::success), "p1", "the answer is marmalade");
    auto r = s.write_batch({
        with_id(report("s", 0, record_status::pending), "p1", "question about zeppelins"),  // turn 1
        child,                                                    // joins p1: session s, turn 1
        report("s", 0, record_status::pending),                   // no id: turn 2, pending
        report("s", 2, record_status::success),                   // no id: completes turn 2's pending
        final_p1,                                                 // same id: updates p1
        span(trace, "00000000000000c1", "00000000000000a1", {}),  // no hint: the trace id's session
        span(trace, "00000000000000a1", {}, "s"),                 // root: moves c1 into s, turn 3
        report("s", 0),                                           // turn 4
    });
    REQUIRE(r.size() == 8);
    CHECK(r[0].outcome == write_outcome::created);
    CHECK(r[1].record.session_id == "s");
    CHECK(r[1].record.turn_number == 1);
    CHECK(r[2].record.turn_number == 2);
    CHECK(r[3].outcome == write_outcome::updated);
    CHECK(r[3].record.status == record_status::success);
    CHECK(r[4].outcome == write_outcome::updated);
    CHECK(r[5].record.session_id == trace);
    CHECK(r[6].record.session_id == "s");
    CHECK(r[6].record.turn_number == 3);
    REQUIRE(r[6].moved.size() == 1);
    CHECK(r[6].moved[0].turn_number == 3);
    CHECK(r[7].record.turn_number == 4);

    auto sess = s.store->get_session("s");
    REQUIRE(sess);
    CHECK(sess->record_count == 6);  // p1, child, turn 2, c1, a1, turn 4
    CHECK(sess->turn_count == 4);
    CHECK(sess->error_count == 0);
    CHECK(sess->total_tokens == 14);
    CHECK(s.store->stats().records == 6);
    CHECK(s.store->stats().pending == 0);
    auto p1 = s.store->get_record("p1");
    REQUIRE(p1);
    CHECK(p1->status == record_status::success);
    CHECK(s.store->get_record("00000000000000c1")->session_id == "s");
    auto left = s.store->get_session(trace);
    CHECK((!left || left->record_count == 0));
    // The update's text joined the text p1 was indexed with: both find it.
    CHECK(hits(s, "zeppelins") == 1);
    CHECK(hits(s, "marmalade") == 1);
  });
}

TEST_CASE("batch: a second batch sees the first one's rows and turns (read ahead by id and by turn)") {
  for_each_store([](subject& s) {
    s.write_batch({with_id(report("a", 1, record_status::pending), "x1"), report("a", 2), report("b", 1)});
    auto r = s.write_batch({with_id(report("a", 1, record_status::success), "x1"),  // found by id: update
                            report("a", 2),                                         // turn 2 exists
                            report("a", 3),                                         // a new turn
                            report("b", 0),                                         // b's next turn: 2
                            with_id(report("c", 5), "x2")});
    REQUIRE(r.size() == 5);
    CHECK(r[0].outcome == write_outcome::updated);
    CHECK(r[3].record.turn_number == 2);
    CHECK(s.store->get_session("a")->record_count == 4);
    CHECK(s.store->get_session("a")->turn_count == 3);
    CHECK(s.store->get_session("b")->turn_count == 2);
    CHECK(s.store->get_session("c")->turn_count == 1);
    CHECK(s.store->stats().records == 7);
    CHECK(s.store->stats().pending == 0);
  });
}
