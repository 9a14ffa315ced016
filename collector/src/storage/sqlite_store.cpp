// The SQLite implementation of storage::store: the facade that puts the pieces together. Writes run on the
// pool's writer in one IMMEDIATE transaction each (sqlite_write_tx holds the primitives and the session
// counters); reads run on a pooled reader in one read transaction each (sqlite_pool), search through the
// planner (sqlite_search). The full-text index trails the commit by a moment (sqlite_fts_indexer): a text
// search first waits, bounded, for the rows queued before it. Thread safety: as store.hpp; the pool
// serialises the writer.
#include <SQLiteCpp/Transaction.h>

#include <algorithm>
#include <chrono>
#include <limits>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "storage/sqlite_fts_indexer.hpp"
#include "storage/sqlite_pool.hpp"
#include "storage/sqlite_rows.hpp"
#include "storage/sqlite_search.hpp"
#include "storage/sqlite_write_tx.hpp"
#include "storage/store.hpp"
#include "storage/timeseries_fold.hpp"
#include "storage/timeseries_rollup.hpp"

namespace llmtrace::storage {
namespace {

using sqlite::connection;
using sqlite::stmt_use;

class sqlite_store final : public store {
 public:
  explicit sqlite_store(const sqlite_options& options) : pool_(options), indexer_(pool_) {}

  // How long a text search waits for the index to take in what was committed before it; past this it
  // answers from the index as it is and reports the rows it could not see (page::index_lag). Normally the
  // worker is done within milliseconds of a commit and nothing waits; the bound matches the "at most 1 s
  // behind" promise, so a search right after a write finds it even on a machine too busy to run the worker.
  static constexpr std::chrono::milliseconds k_search_index_wait{1000};

  // --- writer ----------------------------------------------------------------------------------------------

  void write(const std::function<void(write_tx&)>& fn) override {
    pool_.with_writer([&](connection& c) {
      SQLite::Transaction tx(c.db(), SQLite::TransactionBehavior::IMMEDIATE);
      sqlite::sqlite_write_tx wtx(c);
      fn(wtx);
      wtx.finish();
      tx.commit();
      if (wtx.last_pending_seq() == 0) return;
      indexer_.notify(wtx.last_pending_seq());
      // Backpressure: if the worker keeps losing the writer to ingest, the writer indexes a batch itself
      // (after the commit, so the batch it just wrote is already acknowledged as stored).
      if (indexer_.lag() > sqlite::fts_indexer::k_inline_lag) {
        try {
          indexer_.index_batch(c);
        } catch (...) {  // the records are committed; the worker retries the index
        }
      }
    });
  }

  bool rename_session(const std::string& id, const std::string& name, int64_t now_ms) override {
    return pool_.with_writer([&](connection& c) {
      static const std::string k_sql =
          "UPDATE sessions SET name = ?2, updated_at = MAX(updated_at, ?3) WHERE id = ?1";
      stmt_use s(c, k_sql);
      s->bindNoCopy(1, id);
      s->bindNoCopy(2, name);
      s->bind(3, now_ms);
      return s->exec() > 0;
    });
  }

  bool delete_session(const std::string& id) override {
    return pool_.with_writer([&](connection& c) {
      SQLite::Transaction tx(c.db(), SQLite::TransactionBehavior::IMMEDIATE);
      sqlite::sqlite_write_tx wtx(c);
      wtx.forget_session_records(id);
      {
        static const std::string k_sql = "DELETE FROM records WHERE session_id = ?1";
        stmt_use d(c, k_sql);
        d->bindNoCopy(1, id);
        d->exec();
      }
      int n = 0;
      {
        static const std::string k_sql = "DELETE FROM sessions WHERE id = ?1";
        stmt_use d(c, k_sql);
        d->bindNoCopy(1, id);
        n = d->exec();
      }
      wtx.finish();
      tx.commit();
      return n > 0;
    });
  }

  delete_step delete_session_step(const std::string& id, int max_records) override {
    return pool_.with_writer([&](connection& c) {
      SQLite::Transaction tx(c.db(), SQLite::TransactionBehavior::IMMEDIATE);
      sqlite::sqlite_write_tx wtx(c);
      wtx.forget_session_records(id, max_records);
      int n = 0;
      {
        static const std::string k_sql =
            "DELETE FROM records WHERE rid IN (SELECT rid FROM records WHERE session_id = ?1 ORDER BY rid "
            "LIMIT ?2)";
        stmt_use d(c, k_sql);
        d->bindNoCopy(1, id);
        d->bind(2, max_records);
        n = d->exec();
      }
      delete_step out;
      if (n < max_records) {
        static const std::string k_sql = "DELETE FROM sessions WHERE id = ?1";
        stmt_use d(c, k_sql);
        d->bindNoCopy(1, id);
        out.deleted = d->exec() > 0;
        out.finished = true;
      }
      wtx.finish();
      tx.commit();
      return out;
    });
  }

  bool delete_record(const std::string& id) override {
    return pool_.with_writer([&](connection& c) {
      SQLite::Transaction tx(c.db(), SQLite::TransactionBehavior::IMMEDIATE);
      sqlite::sqlite_write_tx wtx(c);
      auto found = wtx.find_record(id);
      if (!found) return false;
      wtx.erase_record(*found);
      wtx.finish();
      tx.commit();
      return true;
    });
  }

  std::optional<model::score> add_score(const model::score& in) override {
    return pool_.with_writer([&](connection& c) -> std::optional<model::score> {
      SQLite::Transaction tx(c.db(), SQLite::TransactionBehavior::IMMEDIATE);
      model::score sc = in;
      {
        static const std::string k_record = "SELECT session_id FROM records WHERE id = ?1";
        static const std::string k_session = "SELECT id FROM sessions WHERE id = ?1";
        stmt_use q(c, sc.target == model::score_target::record ? k_record : k_session);
        q->bindNoCopy(1, sc.target_id);
        if (!q->executeStep()) return std::nullopt;
        sc.session_id = q->getColumn(0).getString();
      }
      static const std::string k_sql =
          "INSERT INTO scores (id, target, target_id, session_id, name, value, comment, created_at) "
          "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
      stmt_use s(c, k_sql);
      s->bindNoCopy(1, sc.id);
      s->bind(2, sc.target == model::score_target::record ? "record" : "session");
      s->bindNoCopy(3, sc.target_id);
      s->bindNoCopy(4, sc.session_id);
      s->bindNoCopy(5, sc.name);
      s->bindNoCopy(6, sc.value_json);
      s->bindNoCopy(7, sc.comment);
      s->bind(8, sc.created_at_ms);
      s->exec();
      tx.commit();
      return sc;
    });
  }

  // --- reader ----------------------------------------------------------------------------------------------

  page<model::session> list_sessions(const page_request& p) override {
    return pool_.with_reader([&](connection& c) {
      page<model::session> out;
      out.page = sqlite::clamp_page(p.page);
      out.size = sqlite::clamp_size(p.size);
      if (!p.filter.empty()) {
        // The UI's filter box: a substring of the name (ASCII case-insensitive) or of the id. A scan, which
        // at 100k sessions stays in the tens of milliseconds; no index serves substrings.
        static const std::string k_where = " WHERE instr(lower(name), lower(?1)) > 0 OR instr(id, ?1) > 0";
        static const std::string k_sql = "SELECT " + sqlite::k_session_cols + " FROM sessions" + k_where +
                                         " ORDER BY updated_at DESC, rowid DESC LIMIT ?2 OFFSET ?3";
        stmt_use s(c, k_sql);
        s->bindNoCopy(1, p.filter);
        s->bind(2, out.size);
        s->bind(3, (out.page - 1) * out.size);
        while (s->executeStep()) out.items.push_back(sqlite::read_session(*s));
        static const std::string k_count = "SELECT COUNT(*) FROM sessions" + k_where;
        stmt_use n(c, k_count);
        n->bindNoCopy(1, p.filter);
        n->executeStep();
        out.total = n->getColumn(0).getInt64();
        return out;
      }
      {
        static const std::string k_sql =
            "SELECT " + sqlite::k_session_cols +
            " FROM sessions ORDER BY updated_at DESC, rowid DESC LIMIT ?1 OFFSET ?2";
        stmt_use s(c, k_sql);
        s->bind(1, out.size);
        s->bind(2, (out.page - 1) * out.size);
        while (s->executeStep()) out.items.push_back(sqlite::read_session(*s));
      }
      static const std::string k_sql = "SELECT COUNT(*) FROM sessions";
      stmt_use n(c, k_sql);
      n->executeStep();
      out.total = n->getColumn(0).getInt64();
      return out;
    });
  }

  std::optional<model::session> get_session(const std::string& id) override {
    return pool_.with_reader([&](connection& c) -> std::optional<model::session> {
      static const std::string k_sql = "SELECT " + sqlite::k_session_cols + " FROM sessions WHERE id = ?1";
      stmt_use s(c, k_sql);
      s->bindNoCopy(1, id);
      if (!s->executeStep()) return std::nullopt;
      return sqlite::read_session(*s);
    });
  }

  page<model::record> list_records(const std::string& session_id, const page_request& p) override {
    return pool_.with_reader([&](connection& c) {
      page<model::record> out;
      out.page = sqlite::clamp_page(p.page);
      out.size = sqlite::clamp_size(p.size);
      {
        static const std::string k_sql =
            "SELECT " + sqlite::k_record_cols +
            " FROM records WHERE session_id = ?1 ORDER BY turn_number, nested, rid LIMIT ?2 OFFSET ?3";
        stmt_use s(c, k_sql);
        s->bindNoCopy(1, session_id);
        s->bind(2, out.size);
        s->bind(3, (out.page - 1) * out.size);
        while (s->executeStep()) out.items.push_back(sqlite::read_record(*s).record);
      }
      static const std::string k_sql = "SELECT record_count FROM sessions WHERE id = ?1";
      stmt_use n(c, k_sql);
      n->bindNoCopy(1, session_id);
      out.total = n->executeStep() ? n->getColumn(0).getInt64() : 0;
      return out;
    });
  }

  std::optional<model::record> get_record(const std::string& id) override {
    return pool_.with_reader([&](connection& c) -> std::optional<model::record> {
      static const std::string k_sql = "SELECT " + sqlite::k_record_cols + " FROM records WHERE id = ?1";
      stmt_use s(c, k_sql);
      s->bindNoCopy(1, id);
      if (!s->executeStep()) return std::nullopt;
      return sqlite::read_record(*s).record;
    });
  }

  page<model::record> search(const search_query& q) override {
    const bool has_text = q.text.find_first_not_of(" \t\r\n") != std::string::npos;
    const int64_t committed = indexer_.queued();  // every record committed before this search
    if (has_text) indexer_.wait_indexed(committed, k_search_index_wait);
    const int64_t indexed =
        indexer_.indexed();  // read before the snapshot opens: the lag is never understated
    auto out = pool_.with_reader([&](connection& c) { return sqlite::search(c, q); });
    if (has_text) out.index_lag = std::max<int64_t>(0, committed - indexed);
    return out;
  }

  store_stats stats() override {
    return pool_.with_reader([&](connection& c) {
      store_stats out;
      {
        static const std::string k_sql =
            "SELECT COUNT(*), COALESCE(SUM(record_count), 0), COALESCE(SUM(error_count), 0), "
            "COALESCE(SUM(pending_count), 0), COALESCE(SUM(prompt_tokens), 0), "
            "COALESCE(SUM(completion_tokens), 0), COALESCE(SUM(total_tokens), 0), "
            "COALESCE(SUM(cost_usd), 0.0) FROM sessions";
        stmt_use s(c, k_sql);
        s->executeStep();
        out.sessions = s->getColumn(0).getInt64();
        out.records = s->getColumn(1).getInt64();
        out.errors = s->getColumn(2).getInt64();
        out.pending = s->getColumn(3).getInt64();
        out.prompt_tokens = s->getColumn(4).getInt64();
        out.completion_tokens = s->getColumn(5).getInt64();
        out.total_tokens = s->getColumn(6).getInt64();
        out.cost_usd = s->getColumn(7).getDouble();
      }
      static const std::string k_sql =
          "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()";
      stmt_use p(c, k_sql);
      if (p->executeStep()) out.db_size_bytes = p->getColumn(0).getInt64();
      out.search_index_lag = indexer_.lag();
      return out;
    });
  }

  void for_each_record(const std::string& session_id,
                       const std::function<bool(const model::record&)>& fn) override {
    // Pages of k_export_page records, each read under its own short reader lease: a slow client of an export
    // holds no reader (and no snapshot) while it drains a page, so it cannot stall the UI's reads. Keyset
    // paging on (turn_number, nested, rid), the export's order, so rows added meanwhile do not shift pages.
    constexpr int k_export_page = 200;
    int64_t turn = std::numeric_limits<int64_t>::min(), nested = std::numeric_limits<int64_t>::min(),
            rid = std::numeric_limits<int64_t>::min();
    for (;;) {
      std::vector<model::record> rows;
      pool_.with_reader([&](connection& c) {
        static const std::string k_sql = "SELECT " + sqlite::k_record_cols +
                                         ", turn_number, nested, rid FROM records WHERE session_id = ?1 AND "
                                         "(turn_number, nested, rid) > (?2, ?3, ?4) "
                                         "ORDER BY turn_number, nested, rid LIMIT ?5";
        stmt_use s(c, k_sql);
        s->bindNoCopy(1, session_id);
        s->bind(2, turn);
        s->bind(3, nested);
        s->bind(4, rid);
        s->bind(5, k_export_page);
        const int n = s->getColumnCount();
        while (s->executeStep()) {
          rows.push_back(sqlite::read_record(*s).record);
          turn = s->getColumn(n - 3).getInt64();
          nested = s->getColumn(n - 2).getInt64();
          rid = s->getColumn(n - 1).getInt64();
        }
        return 0;
      });
      for (const auto& r : rows)
        if (!fn(r)) return;
      if (rows.size() < static_cast<std::size_t>(k_export_page)) return;
    }
  }

  std::vector<model::score> list_scores(model::score_target target,
                                        const std::vector<std::string>& target_ids) override {
    std::vector<model::score> out;
    if (target_ids.empty()) return out;
    return pool_.with_reader([&](connection& c) {
      // One statement per distinct list length would thrash the cache: bind the ids as a JSON array instead.
      static const std::string k_sql =
          "SELECT id, target, target_id, session_id, name, value, comment, created_at FROM scores "
          "WHERE target = ?1 AND target_id IN (SELECT value FROM json_each(?2)) ORDER BY rid";
      std::string ids = "[";
      for (std::size_t i = 0; i < target_ids.size(); ++i) {
        if (i) ids += ',';
        ids += nlohmann::json(target_ids[i]).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      }
      ids += ']';
      stmt_use s(c, k_sql);
      s->bind(1, target == model::score_target::record ? "record" : "session");
      s->bindNoCopy(2, ids);
      while (s->executeStep()) {
        model::score sc;
        sc.id = s->getColumn(0).getString();
        sc.target = s->getColumn(1).getString() == "session" ? model::score_target::session
                                                             : model::score_target::record;
        sc.target_id = s->getColumn(2).getString();
        sc.session_id = s->getColumn(3).getString();
        sc.name = s->getColumn(4).getString();
        sc.value_json = s->getColumn(5).getString();
        sc.comment = s->getColumn(6).getString();
        sc.created_at_ms = s->getColumn(7).getInt64();
        out.push_back(std::move(sc));
      }
      return out;
    });
  }

  std::vector<timeseries_row> timeseries(const timeseries_query& q) override {
    return pool_.with_reader([&](connection& c) {
      static const std::string k_scan =
          "SELECT " + sqlite::k_rollup_cols + " FROM records WHERE created_at >= ?1 AND created_at < ?2";
      if (!rollup::serves(q)) {
        // A scan of the records in range, folded in memory (percentiles need the latencies themselves).
        stmt_use s(c, k_scan);
        s->bind(1, q.from_ms);
        s->bind(2, q.to_ms);
        timeseries_fold fold(q);
        while (s->executeStep()) fold.add(sqlite::read_rollup_item(*s));
        return fold.rows();
      }
      // Whole minutes from the rollup, a partial last minute from its records; one read transaction.
      rollup::reader_fold fold(q);
      {
        static const std::string k_sql = "SELECT minute, model, " + sqlite::k_rollup_row_cols +
                                         " FROM ts_rollup WHERE minute >= ?1 AND minute < ?2";
        stmt_use s(c, k_sql);
        s->bind(1, q.from_ms);
        s->bind(2, fold.rollup_end());
        rollup::cell row;
        std::string model;
        while (s->executeStep()) {
          const std::string_view hist = sqlite::read_rollup_row(*s, 2, row);
          if (q.by_model) model = s->getColumn(1).getString();
          fold.add_row(s->getColumn(0).getInt64(), model, row, hist);
        }
      }
      if (fold.scan_from() < fold.scan_to()) {  // `to`'s partial minute: the records on one side of `to`
        stmt_use s(c, k_scan);
        s->bind(1, fold.scan_from());
        s->bind(2, fold.scan_to());
        while (s->executeStep()) fold.add_item(sqlite::read_rollup_item(*s));
      }
      return fold.rows();
    });
  }

  std::vector<std::string> oldest_sessions(int64_t older_than_ms, int limit) override {
    return pool_.with_reader([&](connection& c) {
      static const std::string k_sql =
          "SELECT id FROM sessions WHERE updated_at < ?1 ORDER BY updated_at, id LIMIT ?2";
      stmt_use s(c, k_sql);
      s->bind(1, older_than_ms);
      s->bind(2, limit);
      std::vector<std::string> out;
      while (s->executeStep()) out.push_back(s->getColumn(0).getString());
      return out;
    });
  }

  int64_t used_bytes() override {
    return pool_.with_reader([&](connection& c) {
      static const std::string k_sql =
          "SELECT (page_count - freelist_count) * page_size FROM pragma_page_count(), "
          "pragma_freelist_count(), pragma_page_size()";
      stmt_use s(c, k_sql);
      return s->executeStep() ? s->getColumn(0).getInt64() : int64_t{0};
    });
  }

  std::vector<model::record> records_after(int64_t& after, int limit) override {
    return pool_.with_reader([&](connection& c) {
      static const std::string k_sql =
          "SELECT " + sqlite::k_record_cols + " FROM records WHERE rid > ?1 ORDER BY rid LIMIT ?2";
      stmt_use s(c, k_sql);
      s->bind(1, after);
      s->bind(2, limit);
      std::vector<model::record> out;
      while (s->executeStep()) {
        auto f = sqlite::read_record(*s);
        after = f.row;
        out.push_back(std::move(f.record));
      }
      return out;
    });
  }

 private:
  sqlite::pool pool_;
  sqlite::fts_indexer indexer_;  // after pool_: stopped (and drained) before the connections close
};

}  // namespace

std::unique_ptr<store> open_sqlite_store(const sqlite_options& options) {
  return std::make_unique<sqlite_store>(options);
}

}  // namespace llmtrace::storage
