// Ingest rules, batches: one transaction per batch (a failure midway stores nothing of it), items see the
// items before them, the commit listener runs only after COMMIT; and JSON traces in through ingest_one /
// ingest_batch come out of the store's readers and search.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include <stdexcept>
#include <string>
#include <vector>

#include "ingest/store_kinds.hpp"

using namespace llmtrace;
using llmtrace::testing::for_each_store;
using llmtrace::testing::report;
using llmtrace::testing::store_kinds;
using llmtrace::testing::subject;
using model::record_status;
using model::write_outcome;
using json = nlohmann::json;

namespace {

// Passes every primitive through to the real store's transaction, but throws at the n-th insert_record, as
// a full disk or a lost connection would midway through a batch. The real store must roll back.
class failing_tx final : public storage::write_tx {
 public:
  failing_tx(storage::write_tx& inner, int fail_at_insert) : inner_(inner), left_(fail_at_insert) {}
  void lock_sessions(const std::vector<std::string_view>& ids) override { inner_.lock_sessions(ids); }
  bool session_exists(const std::string& id) override { return inner_.session_exists(id); }
  void insert_session(const std::string& id, const std::string& name, int64_t at) override {
    inner_.insert_session(id, name, at);
  }
  std::optional<storage::found_record> find_record(const std::string& id) override {
    return inner_.find_record(id);
  }
  std::optional<storage::found_record> find_pending_top_level(const std::string& sid, int64_t turn) override {
    return inner_.find_pending_top_level(sid, turn);
  }
  int64_t max_top_level_turn(const std::string& sid) override { return inner_.max_top_level_turn(sid); }
  std::vector<storage::found_record> find_trace_records(const std::string& trace_id) override {
    return inner_.find_trace_records(trace_id);
  }
  void insert_record(const model::record& r, const std::string& text) override {
    if (--left_ == 0) throw storage::store_unavailable("injected failure");
    inner_.insert_record(r, text);
  }
  void update_record(const storage::found_record& before, const model::record& after,
                     const std::string& text) override {
    inner_.update_record(before, after, text);
  }

 private:
  storage::write_tx& inner_;
  int left_;
};

// The real store, with its write transactions wrapped in failing_tx.
class faulty_store final : public storage::store {
 public:
  faulty_store(storage::store& inner, int fail_at_insert) : inner_(inner), fail_at_(fail_at_insert) {}
  void write(const std::function<void(storage::write_tx&)>& fn) override {
    inner_.write([&](storage::write_tx& tx) {
      failing_tx f(tx, fail_at_);
      fn(f);
    });
  }
  bool rename_session(const std::string& id, const std::string& name, int64_t now) override {
    return inner_.rename_session(id, name, now);
  }
  bool delete_session(const std::string& id) override { return inner_.delete_session(id); }
  bool delete_record(const std::string& id) override { return inner_.delete_record(id); }
  storage::page<model::session> list_sessions(const storage::page_request& p) override {
    return inner_.list_sessions(p);
  }
  std::optional<model::session> get_session(const std::string& id) override { return inner_.get_session(id); }
  storage::page<model::record> list_records(const std::string& sid, const storage::page_request& p) override {
    return inner_.list_records(sid, p);
  }
  std::optional<model::record> get_record(const std::string& id) override { return inner_.get_record(id); }
  storage::page<model::record> search(const storage::search_query& q) override { return inner_.search(q); }
  storage::store_stats stats() override { return inner_.stats(); }
  void for_each_record(const std::string& sid, const std::function<bool(const model::record&)>& fn) override {
    inner_.for_each_record(sid, fn);
  }
  std::optional<model::score> add_score(const model::score& sc) override { return inner_.add_score(sc); }
  std::vector<model::score> list_scores(model::score_target t, const std::vector<std::string>& ids) override {
    return inner_.list_scores(t, ids);
  }
  std::vector<storage::timeseries_row> timeseries(const storage::timeseries_query& q) override {
    return inner_.timeseries(q);
  }
  std::vector<std::string> oldest_sessions(int64_t older_than_ms, int limit) override {
    return inner_.oldest_sessions(older_than_ms, limit);
  }
  int64_t used_bytes() override { return inner_.used_bytes(); }
  std::vector<model::record> records_after(int64_t& after, int limit) override {
    return inner_.records_after(after, limit);
  }

 private:
  storage::store& inner_;
  int fail_at_;
};

}  // namespace

TEST_CASE("batch: a failure midway through a batch stores nothing of it and publishes nothing") {
  for_each_store([](subject& s) {
    s.write(report("a"));
    const auto before = s.store->stats();
    int published = 0;
    faulty_store faulty(*s.store, 3);
    ingest::ingest_service failing(faulty, [&](const std::vector<model::write_result>&) { ++published; });
    auto first = report("a", 0, record_status::pending);
    first.id = "first";
    // Item 1 takes turn 2 of "a", item 2 creates a session, then the third insert fails.
    std::vector<model::record_write> batch{first, report("new-session"), report("a")};
    CHECK_THROWS_AS(failing.write(batch), storage::store_unavailable);
    CHECK(published == 0);
    CHECK(failing.counters().batches == 0);
    const auto after = s.store->stats();
    CHECK(after.records == before.records);
    CHECK(after.sessions == before.sessions);
    CHECK(after.pending == 0);
    CHECK(!s.store->get_record("first"));
    CHECK(!s.store->get_session("new-session"));
    CHECK(s.store->get_session("a")->record_count == 1);
    // Nothing half-done is left behind: the same batch then goes through whole, with the turns it would
    // have had.
    auto ok = s.write_batch(batch);
    REQUIRE(ok.size() == 3);
    CHECK(ok[0].record.turn_number == 2);
    CHECK(ok[1].session_created);
    CHECK(ok[2].record.turn_number == 3);
  });
}

TEST_CASE("batch: items in one batch see each other (same session, pending then final)") {
  for_each_store([](subject& s) {
    auto p = report("s", 0, record_status::pending);
    p.id = "same";
    auto f = report("s", 0, record_status::success);
    f.id = "same";
    auto late = report("s", 0, record_status::pending);
    late.id = "same";
    auto r = s.write_batch({p, f, report("s"), late});
    REQUIRE(r.size() == 4);
    CHECK(r[0].outcome == write_outcome::created);
    CHECK(r[0].session_created);
    CHECK(r[1].outcome == write_outcome::updated);
    CHECK(!r[1].session_created);
    CHECK(r[2].record.turn_number == 2);
    CHECK(r[3].outcome == write_outcome::stale);
    auto sess = s.store->get_session("s");
    CHECK(sess->record_count == 2);
    CHECK(sess->turn_count == 2);
    CHECK(s.store->stats().pending == 0);
  });
}

TEST_CASE("batch: the commit listener gets every result in order, after COMMIT") {
  for (const auto& kind : store_kinds()) {
    SUBCASE(kind.name) {
      std::vector<model::write_result> seen;
      int readable = 0;
      storage::store* store = nullptr;
      subject s(kind, [&](const std::vector<model::write_result>& results) {
        seen.insert(seen.end(), results.begin(), results.end());
        // The listener runs after COMMIT: every record is already visible to any reader.
        for (const auto& r : results) readable += store->get_record(r.record.id).has_value() ? 1 : 0;
      });
      store = s.store.get();
      auto w = report("s", 0, record_status::pending);
      w.id = "x";
      auto done = report("s");
      done.id = "x";
      s.write_batch({w, report("s"), done});
      REQUIRE(seen.size() == 3);
      CHECK(seen[0].outcome == write_outcome::created);
      CHECK(seen[1].record.turn_number == 2);
      CHECK(seen[2].outcome == write_outcome::updated);
      CHECK(readable == 3);
      CHECK(s.ingest.counters().created == 2);
      CHECK(s.ingest.counters().updated == 1);
      CHECK(s.ingest.counters().batches == 1);
    }
  }
}

TEST_CASE("batch: JSON traces are validated per item and the valid ones stored in one transaction") {
  for_each_store([](subject& s) {
    json traces = json::array(
        {{{"session_id", "j"},
          {"request",
           {{"model", "gpt-4o"}, {"messages", {{{"role", "user"}, {"content", "the zebra question"}}}}}},
          {"response",
           {{"choices", {{{"message", {{"role", "assistant"}, {"content", "stripes"}}}}}},
            {"usage", {{"prompt_tokens", 3}, {"completion_tokens", 2}}}}},
          {"started_at", 1000},
          {"ended_at", 1600}},
         {{"session_id", "j"}, {"turn_number", -1}},
         {{"session_id", "j"}, {"status", "pending"}}});
    auto out = s.ingest.ingest_batch(traces);
    REQUIRE(out.size() == 3);
    REQUIRE(out[0].result);
    CHECK(out[0].result->record.turn_number == 1);
    CHECK(out[0].result->record.model == "gpt-4o");
    CHECK(out[0].result->record.latency_ms == doctest::Approx(600));
    CHECK(!out[1].result);
    CHECK(out[1].error.field == "turn_number");
    REQUIRE(out[2].result);
    CHECK(out[2].result->record.turn_number == 2);
    CHECK(s.ingest.rejected_by_reason().size() == 1);
    auto sess = s.store->get_session("j");
    REQUIRE(sess);
    CHECK(sess->name.rfind("对话-", 0) == 0);  // the default name
    CHECK(sess->total_tokens == 5);

    auto one = s.ingest.ingest_one(json{{"session_id", "j"}, {"request", {{"input", "a platypus"}}}});
    REQUIRE(one.result);
    CHECK(one.result->record.turn_number == 3);

    storage::search_query q;
    q.text = "zebra";
    auto found = s.store->search(q);
    REQUIRE(found.total == 1);
    CHECK(found.items[0].id == out[0].result->record.id);
    q.text = "stripes";
    CHECK(s.store->search(q).total == 1);
    q.text = "platypus";
    CHECK(s.store->search(q).total == 1);
    q.text = "giraffe";
    CHECK(s.store->search(q).total == 0);
  });
}

TEST_CASE("store: records_after reads every record once, in creation order, in keyset pages") {
  for_each_store([](subject& s) {
    std::vector<std::string> made;
    for (int i = 0; i < 7; ++i) {
      auto w = report(i % 2 ? "odd" : "even", 0, i == 3 ? record_status::pending : record_status::success);
      w.id = "r" + std::to_string(i);
      made.push_back(s.write(w).record.id);
    }
    // Completing the pending record keeps its place; a deleted record is skipped.
    auto done = report("odd");
    done.id = "r3";
    s.write(done);
    REQUIRE(s.store->delete_record("r5"));
    made.erase(made.begin() + 5);

    int64_t after = 0;
    std::vector<std::string> seen;
    int calls = 0;
    for (;;) {
      const int64_t before = after;
      auto page = s.store->records_after(after, 2);
      ++calls;
      CHECK(page.size() <= 2);
      if (page.empty()) {
        CHECK(after == before);  // the cursor stays put at the end
        break;
      }
      CHECK(after > before);
      for (const auto& r : page) seen.push_back(r.id);
      if (page.size() < 2) break;
    }
    CHECK(seen == made);
    CHECK(calls == 4);  // 2 + 2 + 2 + 0
    CHECK(s.store->get_record("r3")->status == record_status::success);
    // A record added after the end comes next; a cursor past it reads nothing.
    auto late = report("even");
    late.id = "late";
    s.write(late);
    auto next = s.store->records_after(after, 10);
    REQUIRE(next.size() == 1);
    CHECK(next[0].id == "late");
    CHECK(next[0].session_id == "even");
    CHECK(s.store->records_after(after, 10).empty());
  });
}
