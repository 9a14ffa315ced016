// Storage interface (Jaeger-style writer/reader): persistence only. It knows nothing of HTTP, JSON parsing or
// the ingest rules (auto session, next turn, pending->final merge...): those live once in ingest/write_rules
// and run on any store through write(fn), one transaction per batch, with the primitives of write_tx.hpp.
// Thread safety: every method may be called from any thread concurrently; implementations serialise writes.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "model/record.hpp"
#include "model/record_write.hpp"
#include "storage/write_tx.hpp"

namespace llmtrace::storage {

// The database is locked or overloaded: retry later (the API answers 503 + Retry-After).
struct store_busy : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// The database cannot take writes (disk full, read-only, I/O error). The API answers 503; nothing is acked.
struct store_unavailable : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A search ran past its time budget (search_query::budget_ms) and was stopped. The API answers 422: the same
// query would cost as much again, so the caller should narrow it (fewer, longer words).
struct search_too_costly : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The ingest layer's input and output types, now in model/record_write.hpp; these names stay so that code
// written against storage:: keeps compiling. New code says model::.
using record_write = model::record_write;
using write_outcome = model::write_outcome;
using write_result = model::write_result;

struct page_request {
  int64_t page = 1;  // >= 1
  int64_t size = 20;
  std::string filter;  // list_sessions only: case-insensitive substring of the name or the id ("" = all)
};

template <class T>
struct page {
  std::vector<T> items;
  int64_t page = 1;
  int64_t size = 20;
  int64_t total = 0;
  // search only: records committed before the query that the full-text index did not hold yet when it ran
  // (the index trails ingest by a moment; 0 almost always). Stores that index synchronously leave it 0.
  int64_t index_lag = 0;
};

struct search_query {
  // Full-text query over message content; empty: no text filter. Whitespace-separated words must all match
  // (whole words, case-insensitive; a query with no hit is retried as prefixes; `word*` asks for a prefix;
  // Chinese/Japanese match by substring). Any punctuation is safe. With text or model set, `total` is exact
  // up to 10,000 and then capped there.
  std::string text;
  std::optional<model::record_status> status;
  std::string model;
  std::string session_id;
  // Records that have a score (target record, not their session's) with this name; empty: no score filter.
  // With score_value, only a score whose stored value text (model::score::value_json) equals it exactly: the
  // API canonicalises both sides (api/score_routes.hpp), so a store compares text, e.g. in SQL
  //   r.id IN (SELECT target_id FROM scores WHERE target = 'record' AND name = ? [AND value = ?])
  // With a score filter, `total` is counted as with text (exact up to 10,000).
  std::string score_name;
  std::optional<std::string> score_value;
  page_request paging;
  // Work bound: past this much time the store stops the query and throws search_too_costly (0: no bound).
  int budget_ms = 2000;
};

struct store_stats {
  int64_t sessions = 0;
  int64_t records = 0;
  int64_t errors = 0;
  int64_t pending = 0;
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  int64_t total_tokens = 0;
  double cost_usd = 0;  // sum over the records whose cost is known
  int64_t db_size_bytes = 0;
  // Records committed but not yet in the full-text index (SQLite: fts_indexer::lag; 0 for a store that
  // indexes in the write transaction).
  int64_t search_index_lag = 0;
  // PostgreSQL: sealed record_terms partitions whose search summary is not ready (not built yet, or stale
  // after a change and not rebuilt yet; pg_summary.hpp). 0 on SQLite.
  int64_t search_summaries_pending = 0;
};

// GET /api/stats/timeseries: records by creation time in [from_ms, to_ms), in buckets of bucket_ms.
struct timeseries_query {
  int64_t from_ms = 0;
  int64_t to_ms = 0;
  int64_t bucket_ms = 60000;  // > 0; the caller bounds the number of buckets
  bool by_model = false;      // one row per (bucket, model) instead of per bucket
};

struct timeseries_row {
  int64_t bucket_start_ms = 0;
  std::string model;  // by_model only; empty: unknown model
  int64_t calls = 0;
  int64_t errors = 0;
  std::optional<double> latency_p50_ms;  // none: no record of the bucket has a latency
  std::optional<double> latency_p95_ms;
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  int64_t total_tokens = 0;
  double cost_usd = 0;
};

class store_writer {
 public:
  virtual ~store_writer() = default;
  // Runs fn inside ONE transaction and returns only after COMMIT. Anything fn throws rolls the whole
  // transaction back and propagates; so do store_busy / store_unavailable, and then nothing of it is stored.
  // A store may run fn again when the database aborted the transaction (a serialisation failure), so fn
  // must only change tx and outputs it resets itself.
  virtual void write(const std::function<void(write_tx&)>& fn) = 0;
  // false: no such session / record.
  virtual bool rename_session(const std::string& id, const std::string& name, int64_t now_ms) = 0;
  virtual bool delete_session(const std::string& id) = 0;  // and its records
  virtual bool delete_record(const std::string& id) = 0;
  // A session deleted in bounded transactions (retention), so that a huge one never holds the write lock for
  // long: one call deletes at most max_records of its records in ONE transaction, and the session itself
  // (with the rest, as delete_session) once fewer than max_records were left. Call again until `finished`.
  // Between calls the session's counters still count the records already deleted (it is on its way out).
  struct delete_step {
    bool finished = false;  // the session is gone (or never existed)
    bool deleted = false;   // this call deleted the session row (false: there was none)
  };
  virtual delete_step delete_session_step(const std::string& id, int max_records) {
    (void)max_records;  // a store without bounded steps deletes the session at once
    return {true, delete_session(id)};
  }
  // Stores a score on an existing record or session (score.target / target_id); the store fills
  // score.session_id. nullopt: no such target. The score's id and created_at are the caller's.
  virtual std::optional<model::score> add_score(const model::score& s) = 0;
};

class store_reader {
 public:
  virtual ~store_reader() = default;
  virtual page<model::session> list_sessions(const page_request& p) = 0;  // newest activity first
  virtual std::optional<model::session> get_session(const std::string& id) = 0;
  // Turn order; within a turn the original first, then its replays and children by creation time.
  virtual page<model::record> list_records(const std::string& session_id, const page_request& p) = 0;
  virtual std::optional<model::record> get_record(const std::string& id) = 0;
  virtual page<model::record> search(const search_query& q) = 0;
  virtual store_stats stats() = 0;
  // Every record of a session in turn order, for export; stops when fn returns false. fn may be slow (it
  // writes to a client): implementations read in pages and hold no reader/snapshot while fn runs, so the
  // whole is not one snapshot (a record changed meanwhile may appear in its old or new state).
  virtual void for_each_record(const std::string& session_id,
                               const std::function<bool(const model::record&)>& fn) = 0;
  // The scores of these records or sessions, oldest first (several targets at once for a page of records).
  virtual std::vector<model::score> list_scores(model::score_target target,
                                                const std::vector<std::string>& target_ids) = 0;
  // Buckets in time order (and by model name within a bucket); buckets without records are left out.
  // A from_ms on a whole minute with a bucket_ms of whole minutes is answered from the per-minute rollup
  // (storage/timeseries_rollup.hpp): counts and sums exact, latency percentiles within 1/32 of the exact
  // nearest-rank value; any other query scans the records in range (exact).
  virtual std::vector<timeseries_row> timeseries(const timeseries_query& q) = 0;
  // Retention (server/retention): ids of at most `limit` sessions whose last activity (updated_at) is
  // strictly before older_than_ms, oldest activity first (ties by id). INT64_MAX: the oldest sessions of all.
  // A plain read (no transaction held after it returns); the caller deletes each with delete_session.
  virtual std::vector<std::string> oldest_sessions(int64_t older_than_ms, int limit) = 0;
  // Bytes the stored data occupies now, the figure --max-db-mb bounds. Unlike stats().db_size_bytes it drops
  // when data is deleted (SQLite: (page_count - freelist_count) * page_size; PostgreSQL: the size of the
  // store's tables and indexes). Cheap: no table scan.
  virtual int64_t used_bytes() = 0;
  // A bulk read in creation order, for `llmtrace-collector copy`: at most `limit` records whose store row id
  // (SQLite rowid, PostgreSQL rid: an opaque, increasing position) is strictly greater than `after`, row id
  // ascending, with `after` set to the row id of the last one returned (unchanged when none is). Start with
  // after = 0; fewer than `limit` records means the end. Keyset paging on the primary key: each call costs
  // O(limit) whatever the position, so reading N records is linear (an OFFSET search is quadratic). A plain
  // read (no snapshot held between calls): records added meanwhile come later, deleted ones are skipped.
  virtual std::vector<model::record> records_after(int64_t& after, int limit) = 0;
};

// A change another process committed to a shared database (PostgreSQL: LISTEN/NOTIFY), for the live feed.
struct remote_change {
  std::string kind;  // "record" | "session"
  std::string id;
  std::string change;  // record: "created" | "updated"; either kind: "deleted"
};

class store : public store_writer, public store_reader {
 public:
  ~store() override = default;
  // Calls fn (on a thread of the store's own) for every change other collectors commit to the same database;
  // changes this store made itself are not reported. Set once, before serving; an empty fn stops the calls
  // (and waits for one in progress). fn must not throw. Stores that no other process writes to (SQLite) never
  // call it.
  virtual void on_remote_change(std::function<void(const remote_change&)> fn) { (void)fn; }
};

struct sqlite_options {
  std::string path = "./llmtrace.db";  // ":memory:" for tests
  int busy_timeout_ms = 2000;
  int read_connections = 4;
  // 0: unlimited. Otherwise the file may not grow past this (PRAGMA max_page_count): writes beyond it fail
  // with store_unavailable, as on a full disk.
  int64_t max_db_bytes = 0;
};

// Opens (creating and migrating as needed) a SQLite store. Throws std::runtime_error with a clear message
// when the file cannot be opened or migrated.
std::unique_ptr<store> open_sqlite_store(const sqlite_options& options);

struct pg_options {
  std::string url;      // postgresql://user:password@host:port/db?... or a libpq key=value string
  int connections = 8;  // the pool: concurrent statements of this collector
  int wait_ms = 2000;   // a request waits this long for a free connection, then store_busy (503)
  bool listen = true;   // LISTEN for other collectors' changes (on_remote_change)
  // Build the search summaries of sealed record_terms partitions in a background thread (pg_summary.hpp);
  // one collector of a database builds at a time.
  bool summarize = true;
};

// true for postgresql:// and postgres:// URLs (--db selects the PostgreSQL store with them).
bool is_pg_url(std::string_view db);
// The URL with its password (and any password= parameter) replaced by "***", for logs and messages.
std::string redact_db_url(std::string_view db);

// Opens a PostgreSQL store, migrating the schema (safe when several collectors start at once). Throws
// std::runtime_error with a clear message (never the password) when the server cannot be reached or migrated.
std::unique_ptr<store> open_pg_store(const pg_options& options);

}  // namespace llmtrace::storage
