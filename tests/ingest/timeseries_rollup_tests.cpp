// The per-minute timeseries rollup (storage/timeseries_rollup) on every store kind: after a mixed workload
// (inserts over many minutes and models, pending->final merges, updates by id, spans re-homed into their
// root's session, record and session deletes) the rollup's answer equals the scan's (the same records folded
// by timeseries_fold), counts and sums exactly, percentiles within the histogram's documented 1/32; also for
// a partial last minute, and after the schema migration rebuilt the rollup from the records.
#include <doctest/doctest.h>

#include <SQLiteCpp/Database.h>

#include <cmath>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "ingest/store_kinds.hpp"
#include "storage/pg_schema.hpp"
#include "storage/sqlite_schema.hpp"
#include "storage/timeseries_fold.hpp"
#include "storage/timeseries_rollup.hpp"

using namespace llmtrace;
using llmtrace::testing::for_each_store;
using llmtrace::testing::report;
using llmtrace::testing::subject;
using model::record_status;

namespace {

constexpr int64_t k_min = 60000;
constexpr int64_t k_t0 = 1'700'000'040'000;  // a whole minute
static_assert(k_t0 % k_min == 0);

const std::vector<std::string> k_models = {"gpt-4o", "claude-3-5-sonnet", ""};

// Every record of the store, read back through the reader.
std::vector<model::record> all_records(storage::store& st) {
  std::vector<model::record> out;
  for (int64_t page = 1;; ++page) {
    storage::page_request p;
    p.page = page;
    p.size = 100;
    auto sessions = st.list_sessions(p);
    for (const auto& s : sessions.items) {
      st.for_each_record(s.id, [&](const model::record& r) {
        out.push_back(r);
        return true;
      });
    }
    if (sessions.items.size() < 100) break;
  }
  return out;
}

// The scan's answer over these records.
std::vector<storage::timeseries_row> scan_answer(const std::vector<model::record>& records,
                                                 const storage::timeseries_query& q) {
  storage::timeseries_fold fold(q);
  for (const auto& r : records) fold.add(storage::rollup::item_of(r));
  return fold.rows();
}

void check_percentile(const std::optional<double>& got, const std::optional<double>& want) {
  REQUIRE(got.has_value() == want.has_value());
  if (!want) return;
  // Within 1/32 of the exact nearest-rank value (plus the microsecond the histogram rounds to).
  CHECK(std::fabs(*got - *want) <= *want / 32 + 0.001);
}

void check_same(storage::store& st, const storage::timeseries_query& q) {
  CAPTURE(q.from_ms);
  CAPTURE(q.to_ms);
  CAPTURE(q.bucket_ms);
  CAPTURE(q.by_model);
  REQUIRE(storage::rollup::serves(q));
  const auto want = scan_answer(all_records(st), q);
  const auto got = st.timeseries(q);
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    CAPTURE(i);
    CHECK(got[i].bucket_start_ms == want[i].bucket_start_ms);
    CHECK(got[i].model == want[i].model);
    CHECK(got[i].calls == want[i].calls);
    CHECK(got[i].errors == want[i].errors);
    CHECK(got[i].prompt_tokens == want[i].prompt_tokens);
    CHECK(got[i].completion_tokens == want[i].completion_tokens);
    CHECK(got[i].total_tokens == want[i].total_tokens);
    CHECK(got[i].cost_usd == doctest::Approx(want[i].cost_usd).epsilon(1e-9));
    check_percentile(got[i].latency_p50_ms, want[i].latency_p50_ms);
    check_percentile(got[i].latency_p95_ms, want[i].latency_p95_ms);
  }
}

// Every query shape the rollup serves, over the workload's minutes.
void check_all_shapes(storage::store& st) {
  for (bool by_model : {false, true}) {
    for (int64_t bucket : {k_min, 5 * k_min, 60 * k_min}) {
      storage::timeseries_query q;
      q.from_ms = k_t0 - 5 * k_min;
      q.to_ms = k_t0 + 40 * k_min;
      q.bucket_ms = bucket;
      q.by_model = by_model;
      check_same(st, q);
      q.to_ms = k_t0 + 12 * k_min + 30'123;  // a partial last minute, read from the records
      check_same(st, q);
      q.from_ms = k_t0 + 7 * k_min;  // starting in the middle of the data
      check_same(st, q);
    }
  }
}

// Inserts, merges, updates, re-homed spans and deletes, at fixed times over ~20 minutes.
void mixed_workload(subject& s) {
  std::mt19937_64 rng(15);
  auto pick = [&](int64_t n) { return static_cast<int64_t>(rng() % static_cast<uint64_t>(n)); };
  auto latency = [&] { return std::exp(std::uniform_real_distribution<double>(-1, 10.5)(rng)); };
  std::vector<std::string> ids;
  for (int i = 0; i < 240; ++i) {
    auto w = report("s" + std::to_string(pick(5)));
    w.id = "rec-" + std::to_string(i);
    w.received_at_ms = k_t0 + pick(20 * k_min);
    w.model = k_models[static_cast<std::size_t>(pick(3))];
    if (pick(5) != 0) w.latency_ms = latency();
    if (i % 7 == 3) w.latency_ms = 500;  // many equal values: one bin, exact
    w.usage.prompt_tokens = pick(2000);
    w.usage.completion_tokens = pick(500);
    if (pick(2)) w.usage.total_tokens = *w.usage.prompt_tokens + *w.usage.completion_tokens + pick(3);
    if (pick(3)) w.cost_usd = static_cast<double>(pick(100000)) / 1e6;
    w.status = pick(10) == 0 ? record_status::error : record_status::success;
    s.write(w);
    ids.push_back(*w.id);
  }
  // Pending, then the final report 300 ms to 5 s later (some cross a minute boundary).
  for (int i = 0; i < 30; ++i) {
    auto p = report("s" + std::to_string(pick(5)), 0, record_status::pending);
    p.id = "pend-" + std::to_string(i);
    p.received_at_ms = k_t0 + pick(20 * k_min);
    p.model = k_models[static_cast<std::size_t>(pick(3))];
    const auto a = s.write(p);
    if (i % 5 == 4) continue;  // left pending
    model::record_write f;
    f.id = p.id;
    f.status = i % 3 == 0 ? record_status::error : record_status::success;
    f.model = k_models[static_cast<std::size_t>(pick(3))];
    f.usage.prompt_tokens = pick(900);
    f.usage.completion_tokens = pick(300);
    f.cost_usd = 0.001 * static_cast<double>(i);
    f.received_at_ms = a.record.created_at_ms + 300 + pick(4700);
    s.write(f);
  }
  // Updates by id: new tokens, cost, status, model, latency.
  for (int i = 0; i < 40; ++i) {
    model::record_write u;
    u.id = ids[static_cast<std::size_t>(pick(static_cast<int64_t>(ids.size())))];
    u.status = pick(4) == 0 ? record_status::error : record_status::success;
    u.model = k_models[static_cast<std::size_t>(pick(3))];
    u.latency_ms = latency();
    u.usage.prompt_tokens = pick(50);
    u.cost_usd = 0.5;
    u.received_at_ms = k_t0 + 25 * k_min;
    s.write(u);
  }
  // Spans whose children arrive before their root and are then moved into the root's session.
  const std::string trace = "0af7651916cd43dd8448eb211c80319c";
  for (const char* id : {"00000000000000c1", "00000000000000c2", "00000000000000a1"}) {
    model::record_write w;
    w.trace_turn = true;
    w.trace_id = trace;
    w.id = id;
    if (std::string(id) != "00000000000000a1") {
      w.parent_id = "00000000000000a1";
    } else {
      w.session_id = "conv-1";
    }
    w.status = record_status::success;
    w.started_at_ms = k_t0 + 3 * k_min;
    w.ended_at_ms = k_t0 + 3 * k_min + 250;
    w.model = "gpt-4o";
    w.usage.prompt_tokens = 10;
    w.usage.completion_tokens = 5;
    w.request_json = R"({"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]})";
    w.received_at_ms = k_t0 + 3 * k_min + 1000;
    s.write(w);
  }
  // Deletes: single records, then a whole session (as retention does).
  for (int i = 0; i < 25; ++i) s.store->delete_record(ids[static_cast<std::size_t>(pick(240))]);
  CHECK(s.store->delete_session("s4"));
  // And one in bounded steps, as retention deletes a large session: each step takes its records out too.
  const auto first_step = s.store->delete_session_step("s3", 7);
  CHECK(!first_step.finished);
  check_all_shapes(*s.store);
  for (int i = 0; i < 100 && !s.store->delete_session_step("s3", 7).finished; ++i) {
  }
  CHECK(!s.store->get_session("s3").has_value());
}

}  // namespace

TEST_CASE("timeseries rollup: equals the record scan after inserts, merges, updates, moves and deletes") {
  for_each_store([](subject& s) {
    mixed_workload(s);
    const auto records = all_records(*s.store);
    REQUIRE(records.size() > 100);
    check_all_shapes(*s.store);
    // The default API shape: a `to` inside the current minute (its row read whole, less any record after
    // `to`).
    auto w = report("s0");
    w.model = "gpt-4o";
    w.latency_ms = 42;
    s.write(w);
    storage::timeseries_query q;
    q.to_ms = model::now_ms() + 1;
    q.from_ms = storage::rollup::minute_of(q.to_ms - 24 * 60 * k_min);
    q.bucket_ms = 5 * k_min;
    check_same(*s.store, q);
    // A `to` inside a past minute of the workload: near its start (the records before `to` are added) and
    // near its end (the minute's row is read whole and the records from `to` on are taken out).
    for (int64_t into : {int64_t{10000}, int64_t{50000}}) {
      q.from_ms = k_t0 - 5 * k_min;
      q.to_ms = k_t0 + 7 * k_min + into;
      for (bool by_model : {false, true}) {
        q.by_model = by_model;
        check_same(*s.store, q);
      }
    }
    q.by_model = false;
    q.to_ms = model::now_ms() + 1;
    // Everything deleted: no rows left behind.
    for (const auto& r : all_records(*s.store)) s.store->delete_session(r.session_id);
    q.from_ms = k_t0 - 60 * k_min;
    q.bucket_ms = 60 * k_min;
    CHECK(s.store->timeseries(q).empty());
  });
}

TEST_CASE("timeseries rollup: the SQLite migration rebuilds it from the records already stored") {
  testing::temp_dir dir;
  const std::string path = (dir.path / "old.db").string();
  // A store written by this collector, then taken back to schema v3 (no rollup, no created_at index).
  {
    testing::subject s(
        {"sqlite-file", [&](const std::filesystem::path&) { return testing::open_sqlite(path); }});
    mixed_workload(s);
  }
  {
    SQLite::Database db(path, SQLite::OPEN_READWRITE);
    // The rollup step is the last one: the file goes back to the version before it.
    db.exec("DROP TABLE ts_rollup; DROP INDEX records_by_created; PRAGMA user_version = " +
            std::to_string(storage::sqlite_schema::current_version() - 1));
  }
  auto st = testing::open_sqlite(path);
  check_all_shapes(*st);
}

TEST_CASE("timeseries rollup: the PostgreSQL migration rebuilds it from the records already stored") {
  if (testing::test_pg_server().base_url.empty()) {
    MESSAGE("PostgreSQL skipped: " << testing::test_pg_server().problem);
    return;
  }
  const std::string url = testing::fresh_pg_url();
  const std::string schema = url.substr(url.find("%3D") + 3);
  auto open = [&] {
    storage::pg_options o;
    o.url = url;
    o.connections = 2;
    o.listen = false;
    return storage::open_pg_store(o);
  };
  {
    testing::subject s({"postgresql", [&](const std::filesystem::path&) { return open(); }});
    mixed_workload(s);
  }
  // Back to schema v2: v4 (record_terms) undone, then v3's rollup dropped.
  testing::pg_admin_exec(testing::pg_schema_back_to_v3(schema) + "; DROP TABLE " + schema +
                         ".ts_rollup; UPDATE " + schema + ".llmtrace_schema SET version = 2");
  auto st = open();
  check_all_shapes(*st);
}
