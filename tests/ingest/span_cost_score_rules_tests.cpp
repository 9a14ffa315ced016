// Schema v2 on every store: span fields (trace_id, name, kind), cost per record and summed per session and in
// stats, latency of the seed's pending-then-final flow, scores on records and sessions, and the timeseries
// query behind the dashboard.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "ingest/record_parser.hpp"
#include "ingest/store_kinds.hpp"

using namespace llmtrace;
using llmtrace::testing::for_each_store;
using llmtrace::testing::report;
using llmtrace::testing::subject;
using model::record_kind;
using model::record_status;

namespace {

model::score make_score(model::score_target target, const std::string& target_id, const std::string& name,
                        const std::string& value) {
  model::score sc;
  sc.id = model::new_record_id();
  sc.target = target;
  sc.target_id = target_id;
  sc.name = name;
  sc.value_json = value;
  sc.created_at_ms = model::now_ms();
  return sc;
}

}  // namespace

TEST_CASE("spans: trace_id, name, kind and cost are stored, kept by an update and summed per session") {
  for_each_store([](subject& s) {
    auto w = report("s1", 0, record_status::pending);
    w.id = "0123456789abcdef";
    w.trace_id = "0123456789abcdef0123456789abcdef";
    w.name = "plan step";
    w.kind = record_kind::agent;
    w.cost_usd = 0.25;
    s.write(w);
    auto got = s.store->get_record("0123456789abcdef");
    REQUIRE(got);
    CHECK(got->trace_id == "0123456789abcdef0123456789abcdef");
    CHECK(got->name == "plan step");
    CHECK(got->kind == record_kind::agent);
    REQUIRE(got->cost_usd);
    CHECK(*got->cost_usd == doctest::Approx(0.25));
    CHECK(s.store->get_session("s1")->cost_usd == doctest::Approx(0.25));

    model::record_write f;  // the final report names none of them: all kept; the cost changes
    f.id = "0123456789abcdef";
    f.status = record_status::success;
    f.cost_usd = 1.5;
    s.write(f);
    got = s.store->get_record("0123456789abcdef");
    CHECK(got->kind == record_kind::agent);
    CHECK(got->name == "plan step");
    CHECK(*got->cost_usd == doctest::Approx(1.5));

    auto other = report("s1");  // no cost: unknown, adds nothing
    s.write(other);
    CHECK(s.store->get_session("s1")->cost_usd == doctest::Approx(1.5));
    CHECK(s.store->stats().cost_usd == doctest::Approx(1.5));
    auto plain = s.store->list_records("s1", {1, 50, {}});
    REQUIRE(plain.items.size() == 2);
    CHECK(plain.items[1].kind == record_kind::llm);
    CHECK(!plain.items[1].cost_usd);
  });
}

TEST_CASE("latency: the seed flow (pending, then final, no timestamps) measures the arrivals") {
  for_each_store([](subject& s) {
    auto p = report("s", 1, record_status::pending);
    p.received_at_ms = 1'700'000'000'000;
    s.write(p);
    auto f = report("s", 1, record_status::success);
    f.received_at_ms = 1'700'000'000'300;
    auto r = s.write(f);
    CHECK(r.outcome == model::write_outcome::updated);
    REQUIRE(r.record.latency_ms);
    CHECK(*r.record.latency_ms == doctest::Approx(300));
    // Timestamps sent by the client still win.
    auto q = report("s", 2, record_status::pending);
    q.received_at_ms = 1'700'000'000'000;
    q.started_at_ms = 1'700'000'000'000;
    s.write(q);
    auto g = report("s", 2, record_status::success);
    g.received_at_ms = 1'700'000'009'000;
    g.ended_at_ms = 1'700'000'000'120;
    CHECK(*s.write(g).record.latency_ms == doctest::Approx(120));
  });
}

TEST_CASE("scores: on records and sessions, unknown targets refused, removed with their target") {
  for_each_store([](subject& s) {
    auto a = s.write(report("s")).record;
    auto b = s.write(report("s")).record;
    CHECK(s.store->add_score(make_score(model::score_target::record, a.id, "thumbs", "false")));
    CHECK(s.store->add_score(make_score(model::score_target::record, b.id, "quality", "0.5")));
    auto on_session = s.store->add_score(make_score(model::score_target::session, "s", "thumbs", "true"));
    REQUIRE(on_session);
    CHECK(on_session->session_id == "s");
    CHECK(!s.store->add_score(make_score(model::score_target::record, "nope", "thumbs", "true")));
    CHECK(!s.store->add_score(make_score(model::score_target::session, "nope", "thumbs", "true")));

    auto both = s.store->list_scores(model::score_target::record, {a.id, b.id});
    REQUIRE(both.size() == 2);
    CHECK(both[0].target_id == a.id);
    CHECK(both[0].session_id == "s");
    CHECK(both[0].value_json == "false");
    CHECK(both[1].name == "quality");
    CHECK(s.store->list_scores(model::score_target::session, {"s"}).size() == 1);
    CHECK(s.store->list_scores(model::score_target::record, {}).empty());

    CHECK(s.store->delete_record(a.id));
    CHECK(s.store->list_scores(model::score_target::record, {a.id, b.id}).size() == 1);
    CHECK(s.store->delete_session("s"));
    CHECK(s.store->list_scores(model::score_target::record, {b.id}).empty());
    CHECK(s.store->list_scores(model::score_target::session, {"s"}).empty());
  });
}

TEST_CASE("timeseries: buckets by creation time, by model, with latency percentiles") {
  for_each_store([](subject& s) {
    const int64_t t0 = 1'700'000'040'000;  // inside the minute starting at from
    const int64_t from = 1'700'000'000'000;
    for (int i = 0; i < 10; ++i) {
      auto w = report("s");
      w.received_at_ms = t0 + i;
      w.model = i < 6 ? "gpt-4o" : "claude-3-5-sonnet";
      w.latency_ms = 100.0 * (i + 1);
      w.usage.prompt_tokens = 10;
      w.usage.completion_tokens = 2;
      w.status = i == 9 ? record_status::error : record_status::success;
      if (i == 0) w.cost_usd = 0.5;
      s.write(w);
    }
    auto late = report("s");
    late.received_at_ms = from + 3 * 60000 + 5;
    s.write(late);
    auto outside = report("s");
    outside.received_at_ms = from - 1;
    s.write(outside);

    storage::timeseries_query q;
    q.from_ms = from;
    q.to_ms = from + 10 * 60000;
    q.bucket_ms = 60000;
    auto rows = s.store->timeseries(q);
    REQUIRE(rows.size() == 2);
    CHECK(rows[0].bucket_start_ms == from);
    CHECK(rows[0].calls == 10);
    CHECK(rows[0].errors == 1);
    CHECK(rows[0].total_tokens == 120);
    CHECK(rows[0].cost_usd == doctest::Approx(0.5));
    REQUIRE(rows[0].latency_p50_ms);
    CHECK(*rows[0].latency_p50_ms == doctest::Approx(500));
    CHECK(*rows[0].latency_p95_ms == doctest::Approx(1000));
    CHECK(rows[1].bucket_start_ms == from + 3 * 60000);
    CHECK(rows[1].calls == 1);
    CHECK(!rows[1].latency_p50_ms);

    q.by_model = true;
    q.to_ms = from + 60000;
    rows = s.store->timeseries(q);
    REQUIRE(rows.size() == 2);
    CHECK(rows[0].model == "claude-3-5-sonnet");
    CHECK(rows[0].calls == 4);
    CHECK(rows[1].model == "gpt-4o");
    CHECK(rows[1].calls == 6);
  });
}

TEST_CASE("parse: kind, name, trace_id and cost_usd are validated fields, not metadata") {
  nlohmann::json t = {{"session_id", "s"}, {"kind", "tool"},   {"name", "search"},
                      {"trace_id", "abc"}, {"cost_usd", 0.01}, {"request", {{"q", 1}}}};
  model::record_write w;
  ingest::field_error err;
  REQUIRE(ingest::parse_trace(t, 1, w, err));
  CHECK(w.kind == record_kind::tool);
  CHECK(*w.name == "search");
  CHECK(*w.trace_id == "abc");
  CHECK(*w.cost_usd == doctest::Approx(0.01));
  CHECK(!w.metadata_json);

  for (auto [field, value] :
       std::vector<std::pair<std::string, nlohmann::json>>{{"kind", "robot"},
                                                           {"kind", 3},
                                                           {"cost_usd", -1},
                                                           {"cost_usd", "1"},
                                                           {"name", 5},
                                                           {"name", std::string(2000, 'x')},
                                                           {"trace_id", "a/b"}}) {
    nlohmann::json bad = {{"session_id", "s"}, {field, value}};
    CHECK_MESSAGE(!ingest::parse_trace(bad, 1, w, err), field);
    CHECK(err.field == field);
  }
}
