// The SQLite implementation of storage::store. One writer connection behind a mutex (SQLite has one writer
// anyway; serialising in-process avoids busy-waiting), one transaction per batch, plus a pool of read-only
// connections that WAL lets run beside the writer. Every connection caches its prepared statements.
// In ":memory:" mode there is only the writer connection and readers share it under the same mutex.
#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Exception.h>
#include <SQLiteCpp/Statement.h>
#include <SQLiteCpp/Transaction.h>
#include <sqlite3.h>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "model/ids.hpp"
#include "model/time.hpp"
#include "storage/fts_text.hpp"
#include "storage/sqlite_schema.hpp"
#include "storage/store.hpp"

namespace llmtrace::storage {
namespace {

// ---------------------------------------------------------------------------------------------------------
// Connections and cached statements

class connection {
 public:
  connection(const std::string& path, int flags, int busy_timeout_ms) : db_(path, flags, busy_timeout_ms) {}

  SQLite::Database& db() { return db_; }

  // A ready-to-bind statement: reset and with cleared bindings. Keep it only within one use (see stmt_use).
  SQLite::Statement& prepare(const std::string& sql) {
    auto it = stmts_.find(sql);
    if (it == stmts_.end()) {
      it = stmts_.emplace(sql, std::make_unique<SQLite::Statement>(db_, sql)).first;
    } else {
      it->second->tryReset();
      it->second->clearBindings();
    }
    return *it->second;
  }

 private:
  SQLite::Database db_;
  std::unordered_map<std::string, std::unique_ptr<SQLite::Statement>> stmts_;
};

// Resets a cached statement when a use ends, so a half-read SELECT never pins an old WAL snapshot.
class stmt_use {
 public:
  stmt_use(connection& c, const std::string& sql) : s_(c.prepare(sql)) {}
  ~stmt_use() { s_.tryReset(); }
  stmt_use(const stmt_use&) = delete;
  stmt_use& operator=(const stmt_use&) = delete;
  SQLite::Statement* operator->() { return &s_; }
  SQLite::Statement& operator*() { return s_; }

 private:
  SQLite::Statement& s_;
};

// ---------------------------------------------------------------------------------------------------------
// Errors

[[noreturn]] void rethrow_mapped(const SQLite::Exception& e) {
  switch (e.getErrorCode()) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      throw store_busy(std::string("database is busy: ") + e.what());
    case SQLITE_FULL:
    case SQLITE_READONLY:
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
    case SQLITE_PERM:
    case SQLITE_NOMEM:
      throw store_unavailable(std::string("database unavailable: ") + e.what());
    default:
      throw std::runtime_error(std::string("database error: ") + e.what());
  }
}

template <class F>
auto mapped(F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const SQLite::Exception& e) {
    rethrow_mapped(e);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Rows

const std::string k_record_cols =
    "rid, id, session_id, turn_number, request, response, status, error_message, metadata, created_at, "
    "updated_at, started_at, ended_at, latency_ms, model, prompt_tokens, completion_tokens, total_tokens, "
    "replay_of, parent_id";
// The same list qualified with the table alias r, for joins.
const std::string k_record_cols_r =
    "r.rid, r.id, r.session_id, r.turn_number, r.request, r.response, r.status, r.error_message, r.metadata, "
    "r.created_at, r.updated_at, r.started_at, r.ended_at, r.latency_ms, r.model, r.prompt_tokens, "
    "r.completion_tokens, r.total_tokens, r.replay_of, r.parent_id";

std::optional<int64_t> opt_int(const SQLite::Statement& s, int i) {
  if (s.isColumnNull(i)) return std::nullopt;
  return s.getColumn(i).getInt64();
}

std::string text_or_empty(const SQLite::Statement& s, int i) {
  if (s.isColumnNull(i)) return {};
  return s.getColumn(i).getString();
}

struct stored_record {
  int64_t rid = 0;
  model::record rec;
};

stored_record read_record(const SQLite::Statement& s) {
  stored_record out;
  out.rid = s.getColumn(0).getInt64();
  model::record& r = out.rec;
  r.id = s.getColumn(1).getString();
  r.session_id = s.getColumn(2).getString();
  r.turn_number = s.getColumn(3).getInt64();
  r.request_json = s.getColumn(4).getString();
  r.response_json = s.getColumn(5).getString();
  r.status = model::parse_status(s.getColumn(6).getString()).value_or(model::record_status::pending);
  r.error_message = s.getColumn(7).getString();
  r.metadata_json = s.getColumn(8).getString();
  r.created_at_ms = s.getColumn(9).getInt64();
  r.updated_at_ms = s.getColumn(10).getInt64();
  r.started_at_ms = opt_int(s, 11);
  r.ended_at_ms = opt_int(s, 12);
  if (!s.isColumnNull(13)) r.latency_ms = s.getColumn(13).getDouble();
  r.model = text_or_empty(s, 14);
  r.usage.prompt_tokens = opt_int(s, 15);
  r.usage.completion_tokens = opt_int(s, 16);
  r.usage.total_tokens = opt_int(s, 17);
  r.replay_of = text_or_empty(s, 18);
  r.parent_id = text_or_empty(s, 19);
  return out;
}

void bind_opt(SQLite::Statement& s, int i, const std::optional<int64_t>& v) {
  if (v) {
    s.bind(i, *v);
  } else {
    s.bind(i);
  }
}

void bind_text_or_null(SQLite::Statement& s, int i, const std::string& v) {
  if (v.empty()) {
    s.bind(i);
  } else {
    s.bindNoCopy(i, v);
  }
}

// Binds every column after rid, in k_record_cols order, starting at parameter `first`.
void bind_record(SQLite::Statement& s, const model::record& r, int first) {
  int i = first;
  s.bindNoCopy(i++, r.id);
  s.bindNoCopy(i++, r.session_id);
  s.bind(i++, r.turn_number);
  s.bind(i++, (r.replay_of.empty() && r.parent_id.empty()) ? 0 : 1);
  s.bindNoCopy(i++, r.request_json);
  s.bindNoCopy(i++, r.response_json);
  s.bind(i++, std::string(model::to_string(r.status)));
  s.bindNoCopy(i++, r.error_message);
  s.bindNoCopy(i++, r.metadata_json);
  s.bind(i++, r.created_at_ms);
  s.bind(i++, r.updated_at_ms);
  bind_opt(s, i++, r.started_at_ms);
  bind_opt(s, i++, r.ended_at_ms);
  if (r.latency_ms) {
    s.bind(i++, *r.latency_ms);
  } else {
    s.bind(i++);
  }
  bind_text_or_null(s, i++, r.model);
  bind_opt(s, i++, r.usage.prompt_tokens);
  bind_opt(s, i++, r.usage.completion_tokens);
  bind_opt(s, i++, r.usage.total_tokens);
  bind_text_or_null(s, i++, r.replay_of);
  bind_text_or_null(s, i++, r.parent_id);
}

model::session read_session(const SQLite::Statement& s) {
  model::session out;
  out.id = s.getColumn(0).getString();
  out.name = s.getColumn(1).getString();
  out.created_at_ms = s.getColumn(2).getInt64();
  out.updated_at_ms = s.getColumn(3).getInt64();
  out.record_count = s.getColumn(4).getInt64();
  out.turn_count = s.getColumn(5).getInt64();
  out.error_count = s.getColumn(6).getInt64();
  out.total_tokens = s.getColumn(7).getInt64();
  return out;
}

const char* const k_session_cols =
    "id, name, created_at, updated_at, record_count, turn_count, error_count, total_tokens";

// What one record contributes to its session's counters.
struct contribution {
  int64_t records = 0;
  int64_t errors = 0;
  int64_t pending = 0;
  int64_t prompt = 0;
  int64_t completion = 0;
  int64_t total = 0;
};

contribution contribution_of(const model::record& r) {
  contribution c;
  c.records = 1;
  c.errors = r.status == model::record_status::error ? 1 : 0;
  c.pending = r.status == model::record_status::pending ? 1 : 0;
  c.prompt = r.usage.prompt_tokens.value_or(0);
  c.completion = r.usage.completion_tokens.value_or(0);
  // A report with only the parts still counts towards the session's total.
  c.total = r.usage.total_tokens.value_or(c.prompt + c.completion);
  return c;
}

struct session_delta {
  contribution c;
  int64_t turns = 0;
  int64_t touched_at = 0;
};

void add(session_delta& d, const contribution& c, int sign) {
  d.c.records += sign * c.records;
  d.c.errors += sign * c.errors;
  d.c.pending += sign * c.pending;
  d.c.prompt += sign * c.prompt;
  d.c.completion += sign * c.completion;
  d.c.total += sign * c.total;
}

// Search totals with a text or model filter are exact up to this many matches.
constexpr int64_t k_search_count_cap = 10000;

// An empty string counts as "not sent" for ids, so a client sending "" never creates a record or session
// whose id is empty.
bool has_text(const std::optional<std::string>& v) {
  return v && !v->empty();
}

int64_t clamp_page(int64_t p) {
  return p < 1 ? 1 : p;
}
int64_t clamp_size(int64_t s) {
  return s < 1 ? 1 : (s > 10000 ? 10000 : s);
}

// ---------------------------------------------------------------------------------------------------------
// The store

class sqlite_store final : public store {
 public:
  explicit sqlite_store(const sqlite_options& options) : options_(options) {
    memory_ = options.path == ":memory:" || options.path.empty();
    const int rw_flags = SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE | SQLite::OPEN_NOMUTEX |
                         (options.path.rfind("file:", 0) == 0 ? SQLite::OPEN_URI : 0);
    try {
      writer_ = std::make_unique<connection>(memory_ ? std::string(":memory:") : options.path, rw_flags,
                                             options.busy_timeout_ms);
      auto& db = writer_->db();
      // page_size only takes effect on a new file, before WAL; larger pages suit 2 KB rows.
      db.exec("PRAGMA page_size = 16384");
      if (!memory_) {
        SQLite::Statement jm(db, "PRAGMA journal_mode = WAL");
        jm.executeStep();
      }
      // FULL: a commit is on disk before write_batch returns (the API acks only then). Checkpoints every 4000
      // pages (64 MB) rather than 1000: the checkpoint runs inline in a commit, so fewer, larger ones cost
      // less.
      db.exec(
          "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA cache_size = -65536;"
          "PRAGMA wal_autocheckpoint = 4000; PRAGMA journal_size_limit = 134217728;"
          "PRAGMA secure_delete = FAST; PRAGMA temp_store = MEMORY;");
      sqlite_schema::migrate(db);
      if (options.max_db_bytes > 0) {
        SQLite::Statement ps(db, "PRAGMA page_size");
        ps.executeStep();
        const int64_t page = ps.getColumn(0).getInt64();
        db.exec("PRAGMA max_page_count = " + std::to_string((options.max_db_bytes + page - 1) / page));
      }
      if (!memory_) {
        const int n = options.read_connections < 1 ? 1 : options.read_connections;
        for (int i = 0; i < n; ++i) {
          auto c = std::make_unique<connection>(
              options.path, SQLite::OPEN_READONLY | SQLite::OPEN_NOMUTEX | (rw_flags & SQLite::OPEN_URI),
              options.busy_timeout_ms);
          c->db().exec(
              "PRAGMA cache_size = -16384; PRAGMA mmap_size = 268435456; PRAGMA temp_store = MEMORY;");
          readers_.push_back(std::move(c));
          free_readers_.push_back(readers_.back().get());
        }
      }
    } catch (const std::exception& e) {
      throw std::runtime_error("cannot open database '" + options.path + "': " + e.what());
    }
  }

  // --- writer ----------------------------------------------------------------------------------------------

  std::vector<write_result> write_batch(const std::vector<record_write>& batch) override {
    if (batch.empty()) return {};
    std::lock_guard<std::recursive_mutex> lock(write_mu_);
    return mapped([&] {
      SQLite::Transaction tx(writer_->db(), SQLite::TransactionBehavior::IMMEDIATE);
      std::vector<write_result> out;
      out.reserve(batch.size());
      std::unordered_map<std::string, session_delta> deltas;
      for (const auto& w : batch) out.push_back(apply(w, deltas));
      flush_deltas(deltas);
      tx.commit();
      return out;
    });
  }

  bool rename_session(const std::string& id, const std::string& name, int64_t now_ms) override {
    std::lock_guard<std::recursive_mutex> lock(write_mu_);
    return mapped([&] {
      static const std::string k_sql =
          "UPDATE sessions SET name = ?2, updated_at = MAX(updated_at, ?3) WHERE id = ?1";
      stmt_use s(*writer_, k_sql);
      s->bindNoCopy(1, id);
      s->bindNoCopy(2, name);
      s->bind(3, now_ms);
      return s->exec() > 0;
    });
  }

  bool delete_session(const std::string& id) override {
    std::lock_guard<std::recursive_mutex> lock(write_mu_);
    return mapped([&] {
      SQLite::Transaction tx(writer_->db(), SQLite::TransactionBehavior::IMMEDIATE);
      {
        static const std::string k_sql = "DELETE FROM records WHERE session_id = ?1";
        stmt_use d(*writer_, k_sql);
        d->bindNoCopy(1, id);
        d->exec();
      }
      int n = 0;
      {
        static const std::string k_sql = "DELETE FROM sessions WHERE id = ?1";
        stmt_use d(*writer_, k_sql);
        d->bindNoCopy(1, id);
        n = d->exec();
      }
      tx.commit();
      return n > 0;
    });
  }

  bool delete_record(const std::string& id) override {
    std::lock_guard<std::recursive_mutex> lock(write_mu_);
    return mapped([&] {
      SQLite::Transaction tx(writer_->db(), SQLite::TransactionBehavior::IMMEDIATE);
      auto found = load_by_id(id);
      if (!found) return false;
      {
        static const std::string k_sql = "DELETE FROM records WHERE rid = ?1";
        stmt_use d(*writer_, k_sql);
        d->bind(1, found->rid);
        d->exec();
      }
      std::unordered_map<std::string, session_delta> deltas;
      auto& delta = deltas[found->rec.session_id];
      add(delta, contribution_of(found->rec), -1);
      if (!turn_present(found->rec.session_id, found->rec.turn_number)) delta.turns -= 1;
      flush_deltas(deltas);
      tx.commit();
      return true;
    });
  }

  // --- reader ----------------------------------------------------------------------------------------------

  page<model::session> list_sessions(const page_request& p) override {
    return with_reader([&](connection& c) {
      page<model::session> out;
      out.page = clamp_page(p.page);
      out.size = clamp_size(p.size);
      if (!p.filter.empty()) {
        // The UI's filter box: a substring of the name (ASCII case-insensitive) or of the id. A scan, which
        // at 100k sessions stays in the tens of milliseconds; no index serves substrings.
        static const std::string k_where = " WHERE instr(lower(name), lower(?1)) > 0 OR instr(id, ?1) > 0";
        static const std::string k_sql = "SELECT " + std::string(k_session_cols) + " FROM sessions" +
                                         k_where + " ORDER BY updated_at DESC, rowid DESC LIMIT ?2 OFFSET ?3";
        stmt_use s(c, k_sql);
        s->bindNoCopy(1, p.filter);
        s->bind(2, out.size);
        s->bind(3, (out.page - 1) * out.size);
        while (s->executeStep()) out.items.push_back(read_session(*s));
        static const std::string k_count = "SELECT COUNT(*) FROM sessions" + k_where;
        stmt_use n(c, k_count);
        n->bindNoCopy(1, p.filter);
        n->executeStep();
        out.total = n->getColumn(0).getInt64();
        return out;
      }
      {
        static const std::string k_sql =
            "SELECT " + std::string(k_session_cols) +
            " FROM sessions ORDER BY updated_at DESC, rowid DESC LIMIT ?1 OFFSET ?2";
        stmt_use s(c, k_sql);
        s->bind(1, out.size);
        s->bind(2, (out.page - 1) * out.size);
        while (s->executeStep()) out.items.push_back(read_session(*s));
      }
      static const std::string k_sql = "SELECT COUNT(*) FROM sessions";
      stmt_use n(c, k_sql);
      n->executeStep();
      out.total = n->getColumn(0).getInt64();
      return out;
    });
  }

  std::optional<model::session> get_session(const std::string& id) override {
    return with_reader([&](connection& c) -> std::optional<model::session> {
      static const std::string k_sql =
          "SELECT " + std::string(k_session_cols) + " FROM sessions WHERE id = ?1";
      stmt_use s(c, k_sql);
      s->bindNoCopy(1, id);
      if (!s->executeStep()) return std::nullopt;
      return read_session(*s);
    });
  }

  page<model::record> list_records(const std::string& session_id, const page_request& p) override {
    return with_reader([&](connection& c) {
      page<model::record> out;
      out.page = clamp_page(p.page);
      out.size = clamp_size(p.size);
      {
        static const std::string k_sql =
            "SELECT " + k_record_cols +
            " FROM records WHERE session_id = ?1 ORDER BY turn_number, nested, rid LIMIT ?2 OFFSET ?3";
        stmt_use s(c, k_sql);
        s->bindNoCopy(1, session_id);
        s->bind(2, out.size);
        s->bind(3, (out.page - 1) * out.size);
        while (s->executeStep()) out.items.push_back(read_record(*s).rec);
      }
      static const std::string k_sql = "SELECT record_count FROM sessions WHERE id = ?1";
      stmt_use n(c, k_sql);
      n->bindNoCopy(1, session_id);
      out.total = n->executeStep() ? n->getColumn(0).getInt64() : 0;
      return out;
    });
  }

  std::optional<model::record> get_record(const std::string& id) override {
    return with_reader([&](connection& c) -> std::optional<model::record> {
      static const std::string k_sql = "SELECT " + k_record_cols + " FROM records WHERE id = ?1";
      stmt_use s(c, k_sql);
      s->bindNoCopy(1, id);
      if (!s->executeStep()) return std::nullopt;
      return read_record(*s).rec;
    });
  }

  page<model::record> search(const search_query& q) override {
    return with_reader([&](connection& c) {
      const bool has_text = q.text.find_first_not_of(" \t\r\n") != std::string::npos;
      const std::string exact = has_text ? fts_match_query(q.text) : std::string();
      auto out = search_in(c, q, has_text, exact);
      if (has_text && out.total == 0) {
        // Whole words first (one doclist per word, fast on any database); only a query that found nothing
        // is retried as prefixes ("weath" finds "weather"), paying for the doclist merge when it can help.
        const std::string prefixed = fts_match_query(q.text, true);
        if (prefixed != exact) out = search_in(c, q, true, prefixed);
      }
      return out;
    });
  }

 private:
  page<model::record> search_in(connection& c, const search_query& q, bool has_text,
                                const std::string& match) {
    page<model::record> out;
    out.page = clamp_page(q.paging.page);
    out.size = clamp_size(q.paging.size);
    if (has_text && match.empty()) return out;  // only punctuation: nothing can match

    std::string where;
    auto add_cond = [&](const std::string& cond) { where += (where.empty() ? " WHERE " : " AND ") + cond; };
    // Within one session, walk the session's records and probe the FTS index per row (a rowid seek);
    // otherwise walk the FTS matches, which arrive newest first. A prefix term makes each probe merge every
    // doclist of the stem, so then the matches are walked once, limited to the session's rowid window.
    const bool has_prefix = match.find("\"*") != std::string::npos;
    const bool fts_driven = has_text && (q.session_id.empty() || has_prefix);
    if (fts_driven) add_cond("records_fts MATCH ?1");
    if (fts_driven && !q.session_id.empty()) {
      add_cond(
          "records_fts.rowid BETWEEN (SELECT MIN(rid) FROM records WHERE session_id = ?4) "
          "AND (SELECT MAX(rid) FROM records WHERE session_id = ?4)");
    }
    if (has_text && !fts_driven) {
      add_cond("EXISTS (SELECT 1 FROM records_fts WHERE records_fts MATCH ?1 AND records_fts.rowid = r.rid)");
    }
    if (q.status) add_cond("r.status = ?2");
    if (!q.model.empty()) add_cond("r.model = ?3");
    if (!q.session_id.empty()) add_cond("r.session_id = ?4");
    const std::string from =
        fts_driven ? " FROM records_fts JOIN records r ON r.rid = records_fts.rowid" : " FROM records r";
    const std::string status_text = q.status ? std::string(model::to_string(*q.status)) : std::string();
    auto bind_filters = [&](SQLite::Statement& s) {
      if (has_text) s.bindNoCopy(1, match);
      if (q.status) s.bindNoCopy(2, status_text);
      if (!q.model.empty()) s.bindNoCopy(3, q.model);
      if (!q.session_id.empty()) s.bindNoCopy(4, q.session_id);
    };
    {
      // With text, FTS5 yields matches in rowid order itself, so LIMIT stops early instead of sorting.
      const char* order = fts_driven ? " ORDER BY records_fts.rowid DESC" : " ORDER BY r.rid DESC";
      stmt_use s(c, "SELECT " + k_record_cols_r + from + where + order + " LIMIT ?5 OFFSET ?6");
      bind_filters(*s);
      s->bind(5, out.size);
      s->bind(6, (out.page - 1) * out.size);
      while (s->executeStep()) out.items.push_back(read_record(*s).rec);
    }
    if (!has_text && q.model.empty()) {
      // Status and session filters alone are answered from the session counters.
      std::string sql =
          "SELECT COALESCE(SUM(record_count), 0), COALESCE(SUM(error_count), 0), "
          "COALESCE(SUM(pending_count), 0) FROM sessions";
      if (!q.session_id.empty()) sql += " WHERE id = ?1";
      stmt_use n(c, sql);
      if (!q.session_id.empty()) n->bindNoCopy(1, q.session_id);
      n->executeStep();
      const int64_t all = n->getColumn(0).getInt64();
      const int64_t errors = n->getColumn(1).getInt64();
      const int64_t pending = n->getColumn(2).getInt64();
      if (!q.status) {
        out.total = all;
      } else if (*q.status == model::record_status::error) {
        out.total = errors;
      } else if (*q.status == model::record_status::pending) {
        out.total = pending;
      } else {
        out.total = all - errors - pending;
      }
    } else {
      // Counting every match of a common word costs as much as reading them: count up to a cap.
      // Text alone needs no row of records: count the FTS matches without the join.
      const bool text_only = fts_driven && !q.status && q.model.empty() && q.session_id.empty();
      stmt_use n(c, text_only
                        ? std::string("SELECT COUNT(*) FROM (SELECT 1 FROM records_fts WHERE records_fts "
                                      "MATCH ?1 LIMIT ?5)")
                        : "SELECT COUNT(*) FROM (SELECT 1" + from + where + " LIMIT ?5)");
      bind_filters(*n);
      n->bind(5, k_search_count_cap);
      n->executeStep();
      out.total = n->getColumn(0).getInt64();
    }
    return out;
  }

 public:
  store_stats stats() override {
    return with_reader([&](connection& c) {
      store_stats out;
      {
        static const std::string k_sql =
            "SELECT COUNT(*), COALESCE(SUM(record_count), 0), COALESCE(SUM(error_count), 0), "
            "COALESCE(SUM(pending_count), 0), COALESCE(SUM(prompt_tokens), 0), "
            "COALESCE(SUM(completion_tokens), 0), COALESCE(SUM(total_tokens), 0) FROM sessions";
        stmt_use s(c, k_sql);
        s->executeStep();
        out.sessions = s->getColumn(0).getInt64();
        out.records = s->getColumn(1).getInt64();
        out.errors = s->getColumn(2).getInt64();
        out.pending = s->getColumn(3).getInt64();
        out.prompt_tokens = s->getColumn(4).getInt64();
        out.completion_tokens = s->getColumn(5).getInt64();
        out.total_tokens = s->getColumn(6).getInt64();
      }
      static const std::string k_sql =
          "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()";
      stmt_use p(c, k_sql);
      if (p->executeStep()) out.db_size_bytes = p->getColumn(0).getInt64();
      return out;
    });
  }

  void for_each_record(const std::string& session_id,
                       const std::function<bool(const model::record&)>& fn) override {
    with_reader([&](connection& c) {
      static const std::string k_sql =
          "SELECT " + k_record_cols + " FROM records WHERE session_id = ?1 ORDER BY turn_number, nested, rid";
      stmt_use s(c, k_sql);
      s->bindNoCopy(1, session_id);
      while (s->executeStep()) {
        if (!fn(read_record(*s).rec)) break;
      }
      return 0;
    });
  }

 private:
  // --- write helpers (writer connection, inside the batch transaction) -------------------------------------

  std::optional<stored_record> load_by_id(const std::string& id) {
    static const std::string k_sql = "SELECT " + k_record_cols + " FROM records WHERE id = ?1";
    stmt_use s(*writer_, k_sql);
    s->bindNoCopy(1, id);
    if (!s->executeStep()) return std::nullopt;
    return read_record(*s);
  }

  std::optional<stored_record> load_pending_at(const std::string& session_id, int64_t turn) {
    static const std::string k_sql =
        "SELECT " + k_record_cols +
        " FROM records WHERE session_id = ?1 AND turn_number = ?2 AND nested = 0 AND "
        "status = 'pending' AND replay_of IS NULL AND parent_id IS NULL ORDER BY rid LIMIT 1";
    stmt_use s(*writer_, k_sql);
    s->bindNoCopy(1, session_id);
    s->bind(2, turn);
    if (!s->executeStep()) return std::nullopt;
    return read_record(*s);
  }

  bool turn_present(const std::string& session_id, int64_t turn) {
    static const std::string k_sql =
        "SELECT 1 FROM records WHERE session_id = ?1 AND turn_number = ?2 LIMIT 1";
    stmt_use s(*writer_, k_sql);
    s->bindNoCopy(1, session_id);
    s->bind(2, turn);
    return s->executeStep();
  }

  int64_t next_turn(const std::string& session_id) {
    // Top-level originals only (nested = 0 is "no replay_of, no parent"): replays and children share a turn.
    static const std::string k_sql =
        "SELECT turn_number FROM records WHERE session_id = ?1 AND nested = 0 "
        "ORDER BY turn_number DESC LIMIT 1";
    stmt_use s(*writer_, k_sql);
    s->bindNoCopy(1, session_id);
    return s->executeStep() ? s->getColumn(0).getInt64() + 1 : 1;
  }

  bool session_exists(const std::string& id) {
    static const std::string k_sql = "SELECT 1 FROM sessions WHERE id = ?1";
    stmt_use s(*writer_, k_sql);
    s->bindNoCopy(1, id);
    return s->executeStep();
  }

  void insert_session(const std::string& id, const std::string& name, int64_t at) {
    static const std::string k_sql =
        "INSERT INTO sessions (id, name, created_at, updated_at) VALUES (?1, ?2, ?3, ?3)";
    stmt_use s(*writer_, k_sql);
    s->bindNoCopy(1, id);
    s->bindNoCopy(2, name);
    s->bind(3, at);
    s->exec();
  }

  // Indexes a record's message text. An update may carry only part of the conversation (e.g. just the
  // response), so new text replaces the old only when it contains it; otherwise both are kept.
  void set_search_text(int64_t rid, const std::string& text, bool existing) {
    std::string indexed = fts_index_text(text);
    if (existing) {
      std::string old;
      {
        static const std::string k_sql = "SELECT text FROM records_fts WHERE rowid = ?1";
        stmt_use q(*writer_, k_sql);
        q->bind(1, rid);
        if (q->executeStep()) old = q->getColumn(0).getString();
      }
      if (!old.empty()) {
        if (old.find(indexed) != std::string::npos) return;
        if (indexed.find(old) == std::string::npos) indexed = old + "\n" + indexed;
        static const std::string k_sql = "DELETE FROM records_fts WHERE rowid = ?1";
        stmt_use d(*writer_, k_sql);
        d->bind(1, rid);
        d->exec();
      }
    }
    static const std::string k_sql = "INSERT INTO records_fts (rowid, text) VALUES (?1, ?2)";
    stmt_use s(*writer_, k_sql);
    s->bind(1, rid);
    s->bindNoCopy(2, indexed);
    s->exec();
  }

  static void fill_latency(model::record& r, const record_write& w) {
    if (w.latency_ms) return;
    if (!r.started_at_ms || !r.ended_at_ms) return;
    if (r.latency_ms && !w.started_at_ms && !w.ended_at_ms) return;  // nothing new to derive from
    r.latency_ms = static_cast<double>(*r.ended_at_ms - *r.started_at_ms);
  }

  // Overlays the fields a write sets.
  static void merge_into(model::record& r, const record_write& w) {
    if (w.request_json) r.request_json = *w.request_json;
    if (w.response_json) r.response_json = *w.response_json;
    r.status = w.status;
    if (w.error_message) r.error_message = *w.error_message;
    if (w.metadata_json) r.metadata_json = *w.metadata_json;
    if (w.started_at_ms) r.started_at_ms = w.started_at_ms;
    if (w.ended_at_ms) r.ended_at_ms = w.ended_at_ms;
    if (w.latency_ms) r.latency_ms = w.latency_ms;
    if (w.model) r.model = *w.model;
    if (w.usage.prompt_tokens) r.usage.prompt_tokens = w.usage.prompt_tokens;
    if (w.usage.completion_tokens) r.usage.completion_tokens = w.usage.completion_tokens;
    if (w.usage.total_tokens) r.usage.total_tokens = w.usage.total_tokens;
    if (w.replay_of) r.replay_of = *w.replay_of;
    if (w.parent_id) r.parent_id = *w.parent_id;
    fill_latency(r, w);
  }

  write_result apply(const record_write& w, std::unordered_map<std::string, session_delta>& deltas) {
    const int64_t at = w.received_at_ms > 0 ? w.received_at_ms : model::now_ms();
    std::optional<stored_record> existing;
    if (has_text(w.id)) {
      existing = load_by_id(*w.id);
    } else if (has_text(w.session_id) && w.turn_number > 0 && !has_text(w.replay_of) &&
               !has_text(w.parent_id)) {
      existing = load_pending_at(*w.session_id, w.turn_number);
    }
    if (existing) return update(std::move(*existing), w, at, deltas);
    return create(w, at, deltas);
  }

  write_result update(stored_record old, const record_write& w, int64_t at,
                      std::unordered_map<std::string, session_delta>& deltas) {
    write_result out;
    if (w.status == model::record_status::pending && old.rec.status != model::record_status::pending) {
      out.outcome = write_outcome::stale;
      out.record = std::move(old.rec);
      return out;
    }
    model::record r = old.rec;
    merge_into(r, w);
    // A record stays in its session; an explicit different turn moves it within the session.
    if (w.turn_number > 0) r.turn_number = w.turn_number;
    r.updated_at_ms = at;
    {
      static const std::string k_sql =
          "UPDATE records SET id = ?1, session_id = ?2, turn_number = ?3, nested = ?4, request = ?5, "
          "response = ?6, status = ?7, error_message = ?8, metadata = ?9, created_at = ?10, "
          "updated_at = ?11, started_at = ?12, ended_at = ?13, latency_ms = ?14, model = ?15, "
          "prompt_tokens = ?16, completion_tokens = ?17, total_tokens = ?18, replay_of = ?19, "
          "parent_id = ?20 WHERE rid = ?21";
      stmt_use s(*writer_, k_sql);
      bind_record(*s, r, 1);
      s->bind(21, old.rid);
      s->exec();
    }
    if (!w.search_text.empty()) set_search_text(old.rid, w.search_text, true);
    auto& d = deltas[r.session_id];
    add(d, contribution_of(old.rec), -1);
    add(d, contribution_of(r), +1);
    if (r.turn_number != old.rec.turn_number) {
      if (!turn_present(r.session_id, old.rec.turn_number)) d.turns -= 1;
      // The moved record itself is now at the new turn; count it if it is alone there.
      static const std::string k_sql =
          "SELECT COUNT(*) FROM (SELECT 1 FROM records WHERE session_id = ?1 AND turn_number = ?2 LIMIT 2)";
      stmt_use s(*writer_, k_sql);
      s->bindNoCopy(1, r.session_id);
      s->bind(2, r.turn_number);
      s->executeStep();
      if (s->getColumn(0).getInt64() == 1) d.turns += 1;
    }
    d.touched_at = std::max(d.touched_at, at);
    out.outcome = write_outcome::updated;
    out.record = std::move(r);
    return out;
  }

  write_result create(const record_write& w, int64_t at,
                      std::unordered_map<std::string, session_delta>& deltas) {
    write_result out;
    model::record r;
    // A replay or child span without a session or turn joins the record it belongs to, so it lists under
    // that record's turn instead of opening a turn (or a session) of its own.
    std::optional<stored_record> anchor;
    if (w.turn_number == 0 || !has_text(w.session_id)) {
      if (has_text(w.parent_id)) {
        anchor = load_by_id(*w.parent_id);
      } else if (has_text(w.replay_of)) {
        anchor = load_by_id(*w.replay_of);
      }
    }
    if (anchor && !has_text(w.session_id)) {
      r.session_id = anchor->rec.session_id;
    } else if (has_text(w.session_id)) {
      r.session_id = *w.session_id;
      // A session already touched by this batch exists; skip the lookup.
      if (deltas.find(r.session_id) == deltas.end() && !session_exists(r.session_id)) {
        insert_session(r.session_id, session_name(w, at), at);
        out.session_created = true;
      }
    } else {
      r.session_id = model::new_session_id();
      insert_session(r.session_id, session_name(w, at), at);
      out.session_created = true;
    }
    r.id = has_text(w.id) ? *w.id : model::new_record_id();
    if (w.turn_number > 0) {
      r.turn_number = w.turn_number;
    } else if (anchor && anchor->rec.session_id == r.session_id) {
      r.turn_number = anchor->rec.turn_number;
    } else {
      r.turn_number = next_turn(r.session_id);
    }
    merge_into(r, w);
    r.created_at_ms = at;
    r.updated_at_ms = at;
    auto& d = deltas[r.session_id];
    if (!turn_present(r.session_id, r.turn_number)) d.turns += 1;
    int64_t rid = 0;
    {
      static const std::string k_sql =
          "INSERT INTO records (rid, id, session_id, turn_number, nested, request, response, status, "
          "error_message, metadata, created_at, updated_at, started_at, ended_at, latency_ms, model, "
          "prompt_tokens, completion_tokens, total_tokens, replay_of, parent_id) VALUES (NULL, ?1, ?2, ?3, "
          "?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, "
          "?15, ?16, ?17, ?18, ?19, ?20)";
      stmt_use s(*writer_, k_sql);
      bind_record(*s, r, 1);
      s->exec();
      rid = writer_->db().getLastInsertRowid();
    }
    if (!w.search_text.empty()) set_search_text(rid, w.search_text, false);
    add(d, contribution_of(r), +1);
    d.touched_at = std::max(d.touched_at, at);
    out.outcome = write_outcome::created;
    out.record = std::move(r);
    return out;
  }

  static std::string session_name(const record_write& w, int64_t at) {
    return w.new_session_name.empty() ? model::format_local_session_name(at) : w.new_session_name;
  }

  void flush_deltas(const std::unordered_map<std::string, session_delta>& deltas) {
    for (const auto& [id, d] : deltas) {
      static const std::string k_sql =
          "UPDATE sessions SET record_count = record_count + ?2, turn_count = turn_count + ?3, "
          "error_count = error_count + ?4, pending_count = pending_count + ?5, "
          "prompt_tokens = prompt_tokens + ?6, completion_tokens = completion_tokens + ?7, "
          "total_tokens = total_tokens + ?8, updated_at = MAX(updated_at, ?9) WHERE id = ?1";
      stmt_use s(*writer_, k_sql);
      s->bindNoCopy(1, id);
      s->bind(2, d.c.records);
      s->bind(3, d.turns);
      s->bind(4, d.c.errors);
      s->bind(5, d.c.pending);
      s->bind(6, d.c.prompt);
      s->bind(7, d.c.completion);
      s->bind(8, d.c.total);
      s->bind(9, d.touched_at);
      s->exec();
    }
  }

  // --- reader pool -----------------------------------------------------------------------------------------

  template <class F>
  auto with_reader(F&& f) -> decltype(f(std::declval<connection&>())) {
    if (memory_) {
      std::lock_guard<std::recursive_mutex> lock(write_mu_);
      return mapped([&] { return f(*writer_); });
    }
    connection* c = nullptr;
    {
      std::unique_lock<std::mutex> lock(pool_mu_);
      pool_cv_.wait(lock, [&] { return !free_readers_.empty(); });
      c = free_readers_.back();
      free_readers_.pop_back();
    }
    struct give_back {
      sqlite_store* self;
      connection* c;
      ~give_back() {
        {
          std::lock_guard<std::mutex> lock(self->pool_mu_);
          self->free_readers_.push_back(c);
        }
        self->pool_cv_.notify_one();
      }
    } guard{this, c};
    // One read transaction per call, so a page and its total come from the same snapshot.
    return mapped([&] {
      static const std::string k_begin = "BEGIN";
      static const std::string k_end = "COMMIT";
      {
        stmt_use b(*c, k_begin);
        b->exec();
      }
      struct end_read {
        connection* c;
        ~end_read() {
          // COMMIT of a read-only transaction cannot fail for want of disk; if anything is left open,
          // ROLLBACK makes sure the connection goes back to the pool clean.
          stmt_use e(*c, k_end);
          if (e->tryExecuteStep() != SQLITE_DONE) c->db().tryExec("ROLLBACK");
        }
      } ender{c};
      return f(*c);
    });
  }

  sqlite_options options_;
  bool memory_ = false;
  // Recursive so that a for_each_record callback in ":memory:" mode (reads share the writer) may still call
  // back into the store instead of deadlocking.
  std::recursive_mutex write_mu_;
  std::unique_ptr<connection> writer_;
  std::mutex pool_mu_;
  std::condition_variable pool_cv_;
  std::vector<std::unique_ptr<connection>> readers_;
  std::vector<connection*> free_readers_;
};

}  // namespace

std::unique_ptr<store> open_sqlite_store(const sqlite_options& options) {
  return std::make_unique<sqlite_store>(options);
}

}  // namespace llmtrace::storage
