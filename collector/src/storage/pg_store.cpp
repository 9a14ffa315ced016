// The PostgreSQL implementation of storage::store, for several collectors on one database. Writes run in one
// READ COMMITTED transaction each on a pooled connection (pg_write_tx: advisory session locks, FOR UPDATE
// lookups, counters); a transaction the database aborted (serialisation failure, deadlock, an id a concurrent
// writer committed first) is run again whole, a few times, then answered store_busy. Reads run one statement
// each on a pooled connection. A listener thread LISTENs for the changes other collectors commit and hands
// them to on_remote_change. Thread safety: as store.hpp.
#include <poll.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>

#include <spdlog/spdlog.h>

#include "model/ids.hpp"
#include "storage/pg_connection.hpp"
#include "storage/pg_schema.hpp"
#include "storage/pg_search.hpp"
#include "storage/pg_summary.hpp"
#include "storage/pg_write_tx.hpp"
#include "storage/sqlite_search.hpp"
#include "storage/store.hpp"
#include "storage/timeseries_fold.hpp"
#include "storage/timeseries_rollup.hpp"

namespace llmtrace::storage {
namespace {

using pg::connection;
using pg::params;
using pg::transaction;

constexpr int k_write_attempts = 8;

class pg_store final : public store {
 public:
  explicit pg_store(const pg_options& o)
      : pool_(o.url, o.connections, std::chrono::milliseconds(o.wait_ms)),
        instance_(model::new_record_id()),
        listen_(o.listen) {
    try {
      connection c(o.url);
      pg_schema::migrate(c);
    } catch (const pg::pg_error& e) {
      throw std::runtime_error("cannot open PostgreSQL database " + redact_db_url(o.url) + ": " + e.what());
    }
    if (o.summarize) summarizer_ = std::thread([this] { summarize_loop(); });
  }

  ~pg_store() override {
    stop_ = true;
    summarize_stop_ = true;
    if (listener_.joinable()) listener_.join();
    if (summarizer_.joinable()) summarizer_.join();
  }

  void on_remote_change(std::function<void(const remote_change&)> fn) override {
    if (!fn) {
      stop_ = true;
      if (listener_.joinable()) listener_.join();
      return;
    }
    if (!listen_ || listener_.joinable()) return;
    on_change_ = std::move(fn);
    // LISTEN before returning, so that a collector serving requests already hears every change committed
    // from then on (a NOTIFY sent before the LISTEN is never delivered). A server that cannot be reached now
    // is tried again by the listener thread.
    std::unique_ptr<connection> first = open_listener();
    listener_ = std::thread([this, c = std::move(first)]() mutable { listen_loop(std::move(c)); });
  }

  // --- writer ----------------------------------------------------------------------------------------------

  void write(const std::function<void(write_tx&)>& fn) override {
    pool_.with([&](connection& c) {
      for (int attempt = 1;; ++attempt) {
        try {
          transaction tx(c);
          pg::pg_write_tx wtx(c, instance_);
          fn(wtx);
          wtx.finish();
          tx.commit();
          return;
        } catch (const pg::pg_error& e) {
          if (e.lost || !pg::retryable(e) || attempt == k_write_attempts) throw;
        }
      }
    });
  }

  bool rename_session(const std::string& id, const std::string& name, int64_t now_ms) override {
    return pool_.with([&](connection& c) {
      const bool ok =
          c.run("UPDATE sessions SET name = $2, updated_at = GREATEST(updated_at, $3) WHERE id = $1",
                {id, name, std::to_string(now_ms)})
              .affected() > 0;
      if (ok) notify(c, "session", "updated", id);
      return ok;
    });
  }

  bool delete_session(const std::string& id) override {
    return pool_.with([&](connection& c) {
      transaction tx(c);
      c.run("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", {id});
      pg::pg_write_tx wtx(c, instance_);
      wtx.forget_session_records(id);
      c.run("DELETE FROM scores WHERE session_id = $1", {id});
      c.run("DELETE FROM records WHERE session_id = $1", {id});
      const bool ok = c.run("DELETE FROM sessions WHERE id = $1", {id}).affected() > 0;
      wtx.finish();
      if (ok) notify(c, "session", "deleted", id);
      tx.commit();
      return ok;
    });
  }

  delete_step delete_session_step(const std::string& id, int max_records) override {
    return pool_.with([&](connection& c) {
      transaction tx(c);
      c.run("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", {id});
      pg::pg_write_tx wtx(c, instance_);
      wtx.forget_session_records(id, max_records);
      const auto n = c.run(
                          "DELETE FROM records WHERE rid IN (SELECT rid FROM records WHERE session_id = $1 "
                          "ORDER BY rid LIMIT $2)",
                          {id, std::to_string(max_records)})
                         .affected();
      delete_step out;
      if (n < max_records) {
        c.run("DELETE FROM scores WHERE session_id = $1", {id});
        out.deleted = c.run("DELETE FROM sessions WHERE id = $1", {id}).affected() > 0;
        out.finished = true;
        if (out.deleted) notify(c, "session", "deleted", id);
      }
      wtx.finish();
      tx.commit();
      return out;
    });
  }

  bool delete_record(const std::string& id) override {
    return pool_.with([&](connection& c) {
      transaction tx(c);
      pg::pg_write_tx wtx(c, instance_);
      auto found = wtx.find_record(id);
      if (!found) return false;
      wtx.lock_sessions({found->record.session_id});
      found = wtx.find_record(id);
      if (!found) return false;
      wtx.erase_record(*found);
      wtx.finish();
      tx.commit();
      return true;
    });
  }

  std::optional<model::score> add_score(const model::score& in) override {
    return pool_.with([&](connection& c) -> std::optional<model::score> {
      model::score sc = in;
      const bool rec = sc.target == model::score_target::record;
      // One statement: the target's lookup and the insert, so a concurrent delete cannot slip between them.
      auto r =
          c.run(rec ? "INSERT INTO scores (id, target, target_id, session_id, name, value, comment, "
                      "created_at) SELECT $1, 'record', $2, session_id, $3, $4, $5, $6 FROM records "
                      "WHERE id = $2 RETURNING session_id"
                    : "INSERT INTO scores (id, target, target_id, session_id, name, value, comment, "
                      "created_at) SELECT $1, 'session', $2, id, $3, $4, $5, $6 FROM sessions "
                      "WHERE id = $2 RETURNING session_id",
                {sc.id, sc.target_id, sc.name, sc.value_json, sc.comment, std::to_string(sc.created_at_ms)});
      if (r.rows() == 0) return std::nullopt;
      sc.session_id = r.text(0, 0);
      return sc;
    });
  }

  // --- reader ----------------------------------------------------------------------------------------------

  page<model::session> list_sessions(const page_request& p) override {
    return pool_.with([&](connection& c) {
      page<model::session> out;
      out.page = sqlite::clamp_page(p.page);
      out.size = sqlite::clamp_size(p.size);
      const std::string limit = std::to_string(out.size);
      const std::string offset = std::to_string((out.page - 1) * out.size);
      if (!p.filter.empty()) {
        // As SQLite: a substring of the name (ASCII case-insensitive) or of the id; a scan.
        static const std::string k_where =
            " WHERE strpos(lower(name COLLATE \"C\"), lower($1 COLLATE \"C\")) > 0 OR strpos(id, $1) > 0";
        auto r = c.run("SELECT " + pg::k_session_cols + " FROM sessions" + k_where +
                           " ORDER BY updated_at DESC, seq DESC LIMIT $2 OFFSET $3",
                       {p.filter, limit, offset});
        for (int i = 0; i < r.rows(); ++i) out.items.push_back(pg::read_session(r, i));
        out.total = c.run("SELECT COUNT(*) FROM sessions" + k_where, {p.filter}).i64(0, 0);
        return out;
      }
      // The page's sessions are found in the activity index alone (an index-only scan skips the OFFSET's
      // rows without reading them from the table: at page 50, 1,000 heap rows at ~4 us each from the OS
      // cache), then read by seq; the total in the same statement and snapshot, from the count the schema
      // keeps (v5: session_counts, 16 rows, instead of counting every session).
      static const std::string k_count = "(SELECT COALESCE(SUM(n), 0)::bigint FROM session_counts)";
      static const std::string k_page =
          "SELECT " + pg::k_session_cols + ", " + k_count +
          " FROM sessions WHERE seq IN (SELECT seq FROM sessions ORDER BY updated_at DESC, seq DESC LIMIT $1 "
          "OFFSET $2) ORDER BY updated_at DESC, seq DESC";
      // (Counted here, not at namespace scope: k_session_cols lives in another translation unit.)
      static const int count_col =
          static_cast<int>(std::count(pg::k_session_cols.begin(), pg::k_session_cols.end(), ',')) + 1;
      auto r = c.run(k_page, {limit, offset});
      for (int i = 0; i < r.rows(); ++i) out.items.push_back(pg::read_session(r, i));
      out.total =
          r.rows() ? r.i64(0, count_col) : c.run("SELECT " + k_count).i64(0, 0);  // past the last page
      return out;
    });
  }

  std::optional<model::session> get_session(const std::string& id) override {
    return pool_.with([&](connection& c) -> std::optional<model::session> {
      auto r = c.run("SELECT " + pg::k_session_cols + " FROM sessions WHERE id = $1", {id});
      if (r.rows() == 0) return std::nullopt;
      return pg::read_session(r, 0);
    });
  }

  page<model::record> list_records(const std::string& session_id, const page_request& p) override {
    return pool_.with([&](connection& c) {
      page<model::record> out;
      out.page = sqlite::clamp_page(p.page);
      out.size = sqlite::clamp_size(p.size);
      // As list_sessions: the page's rows are found in records_by_turn alone (an index-only scan: the
      // OFFSET's rows are skipped without reading each from its own heap page), then read by rid.
      static const std::string k_page =
          "SELECT " + pg::k_record_cols +
          " FROM records WHERE rid IN (SELECT rid FROM records WHERE session_id = $1 ORDER BY turn_number, "
          "nested, rid LIMIT $2 OFFSET $3) ORDER BY turn_number, nested, rid";
      auto r =
          c.run(k_page, {session_id, std::to_string(out.size), std::to_string((out.page - 1) * out.size)});
      for (int i = 0; i < r.rows(); ++i) out.items.push_back(pg::read_record(r, i).record);
      auto n = c.run("SELECT record_count FROM sessions WHERE id = $1", {session_id});
      out.total = n.rows() ? n.i64(0, 0) : 0;
      return out;
    });
  }

  std::optional<model::record> get_record(const std::string& id) override {
    return pool_.with([&](connection& c) -> std::optional<model::record> {
      auto r = c.run("SELECT " + pg::k_record_cols + " FROM records WHERE id = $1", {id});
      if (r.rows() == 0) return std::nullopt;
      return pg::read_record(r, 0).record;
    });
  }

  page<model::record> search(const search_query& q) override {
    return pool_.with([&](connection& c) { return pg::search(c, q); });
  }

  store_stats stats() override {
    return pool_.with([&](connection& c) {
      store_stats out;
      auto r = c.run(
          "SELECT COUNT(*), COALESCE(SUM(record_count), 0), COALESCE(SUM(error_count), 0), "
          "COALESCE(SUM(pending_count), 0), COALESCE(SUM(prompt_tokens), 0), "
          "COALESCE(SUM(completion_tokens), 0), COALESCE(SUM(total_tokens), 0), "
          "COALESCE(SUM(cost_usd), 0), pg_database_size(current_database()) FROM sessions");
      out.sessions = r.i64(0, 0);
      out.records = r.i64(0, 1);
      out.errors = r.i64(0, 2);
      out.pending = r.i64(0, 3);
      out.prompt_tokens = r.i64(0, 4);
      out.completion_tokens = r.i64(0, 5);
      out.total_tokens = r.i64(0, 6);
      out.cost_usd = r.f64(0, 7);
      out.db_size_bytes = r.i64(0, 8);
      out.search_summaries_pending = pg::summaries_pending(c);
      return out;
    });
  }

  std::vector<model::record> records_after(int64_t& after, int limit) override {
    return pool_.with([&](connection& c) {
      auto r =
          c.run("SELECT " + pg::k_record_cols + " FROM records WHERE rid > $1::bigint ORDER BY rid LIMIT $2",
                {std::to_string(after), std::to_string(limit)});
      std::vector<model::record> out;
      for (int i = 0; i < r.rows(); ++i) {
        auto f = pg::read_record(r, i);
        after = f.row;
        out.push_back(std::move(f.record));
      }
      return out;
    });
  }

  std::vector<std::string> oldest_sessions(int64_t older_than_ms, int limit) override {
    return pool_.with([&](connection& c) {
      auto r = c.run("SELECT id FROM sessions WHERE updated_at < $1 ORDER BY updated_at, id LIMIT $2",
                     {std::to_string(older_than_ms), std::to_string(limit)});
      std::vector<std::string> out;
      for (int i = 0; i < r.rows(); ++i) out.push_back(r.text(i, 0));
      return out;
    });
  }

  int64_t used_bytes() override {
    // What the data takes (tables, their indexes and TOAST), not the whole database's files.
    return pool_.with([&](connection& c) {
      return c
          .run(
              "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
              "JOIN pg_namespace n ON n.oid = c.relnamespace "
              "WHERE n.nspname = current_schema() AND c.relkind = 'r'")
          .i64(0, 0);
    });
  }

  void for_each_record(const std::string& session_id,
                       const std::function<bool(const model::record&)>& fn) override {
    // Pages by (turn, nested, rid), so a huge session never sits in memory at once and fn may call back
    // into the store without holding this connection.
    int64_t turn = -1, nested = -1, rid = -1;
    for (;;) {
      auto rows = pool_.with([&](connection& c) {
        auto r = c.run(
            "SELECT " + pg::k_record_cols +
                ", nested FROM records WHERE session_id = $1 AND (turn_number, nested, rid) > ($2::bigint, "
                "$3::smallint, $4::bigint) ORDER BY turn_number, nested, rid LIMIT 500",
            {session_id, std::to_string(turn), std::to_string(nested), std::to_string(rid)});
        std::vector<std::pair<found_record, int64_t>> out;
        for (int i = 0; i < r.rows(); ++i) out.emplace_back(pg::read_record(r, i), r.i64(i, 24));
        return out;
      });
      if (rows.empty()) return;
      for (auto& [f, n] : rows) {
        if (!fn(f.record)) return;
        turn = f.record.turn_number;
        nested = n;
        rid = f.row;
      }
    }
  }

  std::vector<model::score> list_scores(model::score_target target,
                                        const std::vector<std::string>& target_ids) override {
    std::vector<model::score> out;
    if (target_ids.empty()) return out;
    return pool_.with([&](connection& c) {
      auto r = c.run(
          "SELECT id, target, target_id, session_id, name, value, comment, created_at FROM scores "
          "WHERE target = $1 AND target_id = ANY($2::text[]) ORDER BY rid",
          {target == model::score_target::record ? "record" : "session", pg::text_array(target_ids)});
      for (int i = 0; i < r.rows(); ++i) {
        model::score sc;
        sc.id = r.text(i, 0);
        sc.target = r.text(i, 1) == "session" ? model::score_target::session : model::score_target::record;
        sc.target_id = r.text(i, 2);
        sc.session_id = r.text(i, 3);
        sc.name = r.text(i, 4);
        sc.value_json = r.text(i, 5);
        sc.comment = r.text(i, 6);
        sc.created_at_ms = r.i64(i, 7);
        out.push_back(std::move(sc));
      }
      return out;
    });
  }

  std::vector<timeseries_row> timeseries(const timeseries_query& q) override {
    return pool_.with([&](connection& c) {
      const std::string k_scan =
          "SELECT " + pg::k_rollup_cols + " FROM records WHERE created_at >= $1 AND created_at < $2";
      if (!rollup::serves(q)) {
        auto r = c.run(k_scan, {std::to_string(q.from_ms), std::to_string(q.to_ms)});
        timeseries_fold fold(q);
        for (int i = 0; i < r.rows(); ++i) fold.add(pg::read_rollup_item(r, i));
        return fold.rows();
      }
      // Whole minutes from the rollup, a partial last minute from its records, in one snapshot.
      rollup::reader_fold fold(q);
      transaction tx(c);
      c.exec("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY");
      auto r = c.run("SELECT minute, model, " + pg::k_rollup_row_cols +
                         " FROM ts_rollup WHERE minute >= $1 AND minute < $2",
                     {std::to_string(q.from_ms), std::to_string(fold.rollup_end())});
      rollup::cell row;
      std::string bytes;
      const std::string none;
      for (int i = 0; i < r.rows(); ++i) {
        pg::read_rollup_row(r, i, 2, row, bytes);
        fold.add_row(r.i64(i, 0), q.by_model ? r.text(i, 1) : none, row, bytes);
      }
      if (fold.scan_from() < fold.scan_to()) {  // `to`'s partial minute: the records on one side of `to`
        auto t = c.run(k_scan, {std::to_string(fold.scan_from()), std::to_string(fold.scan_to())});
        for (int i = 0; i < t.rows(); ++i) fold.add_item(pg::read_rollup_item(t, i));
      }
      tx.commit();
      return fold.rows();
    });
  }

 private:
  void notify(connection& c, const std::string& kind, const std::string& change, const std::string& id) {
    if (!listen_) return;
    c.run("SELECT pg_notify('llmtrace_changes', $1)", {instance_ + "\t" + kind + "\t" + change + "\t" + id});
  }

  // The search summaries (pg_summary.hpp): every sealed partition without a ready one is summarized, the
  // newest first, on a pooled connection; then again every k_summarize_period.
  void summarize_loop() {
    constexpr auto k_summarize_period = std::chrono::seconds(5);
    while (!summarize_stop_) {
      try {
        pool_.with([&](connection& c) {
          while (!summarize_stop_) {
            const auto start = std::chrono::steady_clock::now();
            const int64_t part = pg::summarize_next(c, summarize_stop_);
            if (part < 0) return;
            spdlog::info("search: summarized record_terms partition {} in {} ms", part,
                         std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::steady_clock::now() - start)
                             .count());
          }
        });
      } catch (const std::exception& e) {
        spdlog::warn("search: summarizing record_terms failed, tried again later: {}", e.what());
      }
      const auto until = std::chrono::steady_clock::now() + k_summarize_period;
      while (!summarize_stop_ && std::chrono::steady_clock::now() < until)
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }

  // A connection that LISTENs, or null (logged) when the server cannot be reached.
  std::unique_ptr<connection> open_listener() {
    try {
      auto c = std::make_unique<connection>(pool_.conninfo());
      c->exec("LISTEN llmtrace_changes");
      return c;
    } catch (const pg::pg_error& e) {
      spdlog::warn("live events from other collectors paused: {}", e.what());
      return nullptr;
    }
  }

  // Delivers the changes heard on c, a connection of its own; lost (or null), it is opened again (every
  // second) until the store closes.
  void listen_loop(std::unique_ptr<connection> c) {
    while (!stop_) {
      if (!c || !c->ok()) {
        c.reset();
        c = open_listener();
        if (!c) {
          for (int i = 0; i < 10 && !stop_; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
          continue;
        }
      }
      pollfd pfd{PQsocket(c->raw()), POLLIN, 0};
      if (::poll(&pfd, 1, 200) <= 0) continue;
      if (!PQconsumeInput(c->raw())) {
        c.reset();
        continue;
      }
      while (PGnotify* n = PQnotifies(c->raw())) {
        std::string payload = n->extra ? n->extra : "";
        PQfreemem(n);
        deliver(payload);
      }
    }
  }

  void deliver(const std::string& payload) {
    // "<instance>\t<kind>\t<change>\t<id>"; our own changes were published by our own listener already.
    const auto a = payload.find('\t');
    const auto b = a == std::string::npos ? a : payload.find('\t', a + 1);
    const auto d = b == std::string::npos ? b : payload.find('\t', b + 1);
    if (d == std::string::npos || payload.compare(0, a, instance_) == 0) return;
    remote_change ch;
    ch.kind = payload.substr(a + 1, b - a - 1);
    ch.change = payload.substr(b + 1, d - b - 1);
    ch.id = payload.substr(d + 1);
    try {
      if (on_change_) on_change_(ch);
    } catch (const std::exception& e) {
      spdlog::warn("live event from another collector skipped: {}", e.what());
    }
  }

  pg::pool pool_;
  std::string instance_;
  bool listen_ = true;
  std::function<void(const remote_change&)> on_change_;
  std::atomic<bool> stop_{false};
  std::thread listener_;
  std::atomic<bool> summarize_stop_{false};
  std::thread summarizer_;
};

}  // namespace

bool is_pg_url(std::string_view db) {
  return db.rfind("postgresql://", 0) == 0 || db.rfind("postgres://", 0) == 0;
}

std::string redact_db_url(std::string_view db) {
  std::string s(db);
  if (is_pg_url(s)) {
    // scheme://user:password@host... -> scheme://user:***@host...
    const auto start = s.find("://") + 3;
    const auto at = s.find('@', start);
    const auto slash = s.find('/', start);
    if (at != std::string::npos && (slash == std::string::npos || at < slash)) {
      const auto colon = s.find(':', start);
      if (colon != std::string::npos && colon < at) s.replace(colon + 1, at - colon - 1, "***");
    }
  }
  // password=... as a URL query parameter or a key=value pair.
  for (size_t p = s.find("password="); p != std::string::npos; p = s.find("password=", p + 1)) {
    const size_t v = p + 9;
    size_t e = v;
    while (e < s.size() && s[e] != '&' && s[e] != ' ') ++e;
    s.replace(v, e - v, "***");
  }
  return s;
}

std::unique_ptr<store> open_pg_store(const pg_options& options) {
  return std::make_unique<pg_store>(options);
}

}  // namespace llmtrace::storage
