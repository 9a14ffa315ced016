// Ingest rules, the same call reported twice: pending -> final by id and by (session, turn), a late pending
// never overwrites a final status, retried ids never duplicate, latency from the record's timestamps.
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

TEST_CASE("merge: pending then success by id is one record; unset fields keep, latency spans both") {
  for_each_store([](subject& s) {
    auto p = report("s", 0, record_status::pending);
    p.id = "call-1";
    p.started_at_ms = 1000;
    auto a = s.write(p);
    CHECK(a.outcome == write_outcome::created);
    CHECK(a.record.status == record_status::pending);
    CHECK(!a.record.latency_ms.has_value());

    model::record_write f;
    f.id = "call-1";
    f.status = record_status::success;
    f.response_json = R"({"choices":[{"message":{"content":"hello"}}]})";
    f.ended_at_ms = 1250;
    f.model = "gpt-4o-mini";
    f.usage.prompt_tokens = 10;
    f.usage.completion_tokens = 5;
    f.usage.total_tokens = 15;
    f.received_at_ms = a.record.created_at_ms + 5;
    auto b = s.write(f);
    CHECK(b.outcome == write_outcome::updated);
    CHECK(b.record.id == "call-1");
    CHECK(b.record.turn_number == a.record.turn_number);
    CHECK(b.record.request_json == *p.request_json);
    CHECK(b.record.latency_ms == doctest::Approx(250));
    CHECK(b.record.created_at_ms == a.record.created_at_ms);
    CHECK(b.record.updated_at_ms == f.received_at_ms);

    auto stored = s.store->get_record("call-1");
    REQUIRE(stored);
    CHECK(stored->status == record_status::success);
    CHECK(stored->response_json == *f.response_json);
    CHECK(stored->usage.total_tokens == 15);
    CHECK(stored->model == "gpt-4o-mini");
    CHECK(stored->latency_ms == doctest::Approx(250));
    auto sess = s.store->get_session("s");
    REQUIRE(sess);
    CHECK(sess->record_count == 1);
    CHECK(sess->total_tokens == 15);
    CHECK(sess->updated_at_ms == f.received_at_ms);
    auto st = s.store->stats();
    CHECK(st.records == 1);
    CHECK(st.pending == 0);
    CHECK(st.prompt_tokens == 10);
  });
}

TEST_CASE("merge: a report without id completes the pending record of its (session, turn)") {
  for_each_store([](subject& s) {
    auto a = s.write(report("s", 3, record_status::pending));
    auto f = report("s", 3, record_status::error);
    f.request_json.reset();
    f.error_message = "upstream 500";
    auto b = s.write(f);
    CHECK(b.outcome == write_outcome::updated);
    CHECK(b.record.id == a.record.id);
    CHECK(b.record.status == record_status::error);
    CHECK(b.record.error_message == "upstream 500");
    CHECK(s.store->list_records("s", {}).total == 1);
    CHECK(s.store->get_session("s")->error_count == 1);
    CHECK(s.store->stats().pending == 0);

    // The turn is final now: another report for it is a new record.
    auto c = s.write(report("s", 3));
    CHECK(c.outcome == write_outcome::created);
    CHECK(s.store->list_records("s", {}).total == 2);
    CHECK(s.store->get_session("s")->turn_count == 1);

    // A replay at a pending turn is its own record, never the completion of the original.
    s.write(report("s", 4, record_status::pending));
    auto replay = report("s", 4);
    replay.replay_of = a.record.id;
    CHECK(s.write(replay).outcome == write_outcome::created);
    CHECK(s.store->stats().pending == 1);
  });
}

TEST_CASE("merge: a late pending never overwrites a final status") {
  for_each_store([](subject& s) {
    auto f = report("s", 1, record_status::success);
    f.id = "r1";
    f.response_json = R"({"ok":true})";
    s.write(f);
    const auto before = s.store->get_session("s")->updated_at_ms;
    auto p = report("s", 1, record_status::pending);
    p.id = "r1";
    p.response_json = "null";
    p.received_at_ms = before + 1000;
    auto r = s.write(p);
    CHECK(r.outcome == write_outcome::stale);
    CHECK(r.record.status == record_status::success);
    auto stored = s.store->get_record("r1");
    CHECK(stored->status == record_status::success);
    CHECK(stored->response_json == R"({"ok":true})");
    CHECK(s.store->get_session("s")->updated_at_ms == before);  // nothing was written
    CHECK(s.ingest.counters().stale == 1);
  });
}

TEST_CASE("merge: retrying a batch with the same ids never duplicates") {
  for_each_store([](subject& s) {
    std::vector<model::record_write> batch;
    for (int i = 0; i < 20; ++i) {
      auto w = report("s");
      w.id = "rec-" + std::to_string(i);
      batch.push_back(w);
    }
    auto first = s.write_batch(batch);
    auto second = s.write_batch(batch);
    REQUIRE(first.size() == 20);
    REQUIRE(second.size() == 20);
    for (size_t i = 0; i < 20; ++i) {
      CHECK(first[i].outcome == write_outcome::created);
      CHECK(second[i].outcome == write_outcome::updated);
      CHECK(second[i].record.turn_number == first[i].record.turn_number);
    }
    CHECK(s.store->list_records("s", {1, 100, {}}).total == 20);
    CHECK(s.store->stats().records == 20);
    CHECK(s.store->get_session("s")->turn_count == 20);
  });
}

TEST_CASE("merge: latency derives from started/ended unless given") {
  for_each_store([](subject& s) {
    auto a = report("s", 1);
    a.started_at_ms = 100;
    a.ended_at_ms = 400;
    CHECK(s.write(a).record.latency_ms == doctest::Approx(300));
    auto b = report("s", 2);
    b.started_at_ms = 100;
    b.ended_at_ms = 400;
    b.latency_ms = 12.5;
    CHECK(s.write(b).record.latency_ms == doctest::Approx(12.5));
    CHECK(!s.write(report("s", 3)).record.latency_ms.has_value());
    auto backwards = report("s", 4);  // clocks disagree: no latency rather than a negative one
    backwards.started_at_ms = 400;
    backwards.ended_at_ms = 100;
    CHECK(!s.write(backwards).record.latency_ms.has_value());
    // A final report with no timestamps keeps the latency the record has.
    b.id = s.store->list_records("s", {1, 10, {}}).items[1].id;
    model::record_write done;
    done.id = b.id;
    CHECK(s.write(done).record.latency_ms == doctest::Approx(12.5));
  });
}
