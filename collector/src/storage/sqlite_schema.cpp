// Schema v1 (v2 below adds span, cost and score columns). Records live in a rowid table (rid) whose
// time-ordered UUIDv7 `id` is UNIQUE, so both the table and the id index grow at the end. Every secondary
// index carries rid implicitly, which gives "creation order" for free (ORDER BY rid) without indexing
// created_at. Sessions keep derived counters that the write transaction maintains, so the sessions page never
// aggregates over records. The FTS5 table holds only message text (search_text), keyed by rid; triggers
// remove its rows with the record.
#include "storage/sqlite_schema.hpp"

#include <SQLiteCpp/Statement.h>
#include <SQLiteCpp/Transaction.h>

#include <stdexcept>
#include <string>

#include "storage/sqlite_rows.hpp"
#include "storage/timeseries_rollup.hpp"

namespace llmtrace::storage::sqlite_schema {
namespace {

void migrate_v1(SQLite::Database& db) {
  db.exec(R"sql(
CREATE TABLE sessions (
  id                TEXT PRIMARY KEY,
  name              TEXT NOT NULL,
  created_at        INTEGER NOT NULL,
  updated_at        INTEGER NOT NULL,
  record_count      INTEGER NOT NULL DEFAULT 0,
  turn_count        INTEGER NOT NULL DEFAULT 0,
  error_count       INTEGER NOT NULL DEFAULT 0,
  pending_count     INTEGER NOT NULL DEFAULT 0,
  prompt_tokens     INTEGER NOT NULL DEFAULT 0,
  completion_tokens INTEGER NOT NULL DEFAULT 0,
  total_tokens      INTEGER NOT NULL DEFAULT 0
);
-- Scanned backwards for "newest activity first" (ties: newest session first, by rowid).
CREATE INDEX sessions_by_activity ON sessions (updated_at);

CREATE TABLE records (
  rid               INTEGER PRIMARY KEY,
  id                TEXT NOT NULL UNIQUE,
  session_id        TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
  turn_number       INTEGER NOT NULL,
  nested            INTEGER NOT NULL DEFAULT 0, -- 1: a replay or a child span, listed after the turn's original
  request           TEXT NOT NULL,
  response          TEXT NOT NULL,
  status            TEXT NOT NULL,
  error_message     TEXT NOT NULL DEFAULT '',
  metadata          TEXT NOT NULL,
  created_at        INTEGER NOT NULL,
  updated_at        INTEGER NOT NULL,
  started_at        INTEGER,
  ended_at          INTEGER,
  latency_ms        REAL,
  model             TEXT,
  prompt_tokens     INTEGER,
  completion_tokens INTEGER,
  total_tokens      INTEGER,
  replay_of         TEXT,
  parent_id         TEXT
);
CREATE INDEX records_by_turn ON records (session_id, turn_number, nested);
CREATE INDEX records_by_status ON records (status);
CREATE INDEX records_by_model ON records (model) WHERE model IS NOT NULL;
CREATE INDEX records_by_replay_of ON records (replay_of) WHERE replay_of IS NOT NULL;
CREATE INDEX records_by_parent ON records (parent_id) WHERE parent_id IS NOT NULL;

CREATE VIRTUAL TABLE records_fts USING fts5 (text, tokenize = 'unicode61 remove_diacritics 2');
-- Merge FTS segments less eagerly than the default (4/16): ingest rewrites less, queries see a few more segments.
INSERT INTO records_fts (records_fts, rank) VALUES ('automerge', 16);
INSERT INTO records_fts (records_fts, rank) VALUES ('crisismerge', 64);
CREATE TRIGGER records_fts_delete AFTER DELETE ON records BEGIN
  DELETE FROM records_fts WHERE rowid = old.rid;
END;
)sql");
}

// v2: spans (trace_id, name, kind), cost (per record, summed per session) and scores.
void migrate_v2(SQLite::Database& db) {
  db.exec(R"sql(
ALTER TABLE records ADD COLUMN trace_id TEXT;
ALTER TABLE records ADD COLUMN name TEXT;
ALTER TABLE records ADD COLUMN kind TEXT NOT NULL DEFAULT 'llm';
ALTER TABLE records ADD COLUMN cost_usd REAL;
CREATE INDEX records_by_trace ON records (trace_id) WHERE trace_id IS NOT NULL;
ALTER TABLE sessions ADD COLUMN cost_usd REAL NOT NULL DEFAULT 0;

CREATE TABLE scores (
  rid        INTEGER PRIMARY KEY,
  id         TEXT NOT NULL UNIQUE,
  target     TEXT NOT NULL,          -- 'record' | 'session'
  target_id  TEXT NOT NULL,
  session_id TEXT NOT NULL,
  name       TEXT NOT NULL,
  value      TEXT NOT NULL,          -- JSON text: a number, true/false or a string
  comment    TEXT NOT NULL DEFAULT '',
  created_at INTEGER NOT NULL
);
CREATE INDEX scores_by_target ON scores (target_id);
CREATE INDEX scores_by_session ON scores (session_id);
CREATE TRIGGER scores_record_delete AFTER DELETE ON records BEGIN
  DELETE FROM scores WHERE target = 'record' AND target_id = old.id;
END;
CREATE TRIGGER scores_session_delete AFTER DELETE ON sessions BEGIN
  DELETE FROM scores WHERE session_id = old.id;
END;
)sql");
}

// v3 (issue 14): the full-text index off the write path. The write transaction queues (rid, search text) here
// and sqlite_fts_indexer moves the rows into records_fts after the commit. AUTOINCREMENT keeps seq increasing
// when the queue empties (the indexer compares seqs across batches); deleting a record drops its queued text,
// so a reused rid can never be indexed with a deleted record's words.
void migrate_fts_queue(SQLite::Database& db) {
  db.exec(R"sql(
CREATE TABLE fts_pending (
  seq   INTEGER PRIMARY KEY AUTOINCREMENT,
  rid   INTEGER NOT NULL,
  text  TEXT NOT NULL,
  merge INTEGER NOT NULL DEFAULT 0 -- 1: an update's text, merged with what the record is indexed by
);
CREATE INDEX fts_pending_by_rid ON fts_pending (rid);
CREATE TRIGGER fts_pending_delete AFTER DELETE ON records BEGIN
  DELETE FROM fts_pending WHERE rid = old.rid;
END;
)sql");
}

// v4 (issue 15): the per-minute timeseries rollup (storage/timeseries_rollup.hpp), one row per (minute of
// created_at, model; '' for none), kept by the write transaction; backfilled here from the records already
// stored. created_at gets an index for the records of a query's partial last minute (and for the record scan
// of queries the rollup cannot serve).
void migrate_timeseries_rollup(SQLite::Database& db) {
  db.exec(R"sql(
CREATE TABLE ts_rollup (
  minute            INTEGER NOT NULL, -- epoch ms of the minute's start
  model             TEXT NOT NULL,
  calls             INTEGER NOT NULL,
  errors            INTEGER NOT NULL,
  prompt_tokens     INTEGER NOT NULL,
  completion_tokens INTEGER NOT NULL,
  total_tokens      INTEGER NOT NULL,
  cost_usd          REAL NOT NULL,
  latency_hist      BLOB NOT NULL,    -- timeseries_rollup's encoding: (bin step, count, sum us) varints
  PRIMARY KEY (minute, model)
) WITHOUT ROWID;
CREATE INDEX records_by_created ON records (created_at);
)sql");
  rollup::delta d;
  {
    SQLite::Statement s(db, "SELECT " + sqlite::k_rollup_cols + " FROM records");
    while (s.executeStep()) d.add(sqlite::read_rollup_item(s), +1);
  }
  SQLite::Statement ins(
      db,
      "INSERT INTO ts_rollup (minute, model, calls, errors, prompt_tokens, completion_tokens, "
      "total_tokens, cost_usd, latency_hist) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)");
  d.drain([&](int64_t minute, const std::string& model, const rollup::cell& c) {
    if (c.calls <= 0) return;
    ins.reset();
    ins.bind(1, minute);
    ins.bind(2, model);
    ins.bind(3, c.calls);
    ins.bind(4, c.errors);
    ins.bind(5, c.prompt);
    ins.bind(6, c.completion);
    ins.bind(7, c.total);
    ins.bind(8, c.cost);
    const std::string hist = c.encode_hist();
    ins.bind(9, hist.data(), static_cast<int>(hist.size()));
    ins.exec();
  });
}

using migration = void (*)(SQLite::Database&);
// Append v2, v3... here; never edit a released step.
constexpr migration k_migrations[] = {migrate_v1, migrate_v2, migrate_fts_queue, migrate_timeseries_rollup};

int user_version(SQLite::Database& db) {
  SQLite::Statement q(db, "PRAGMA user_version");
  q.executeStep();
  return q.getColumn(0).getInt();
}

}  // namespace

int current_version() {
  return static_cast<int>(std::size(k_migrations));
}

void migrate(SQLite::Database& db) {
  for (;;) {
    // The version is re-read inside the write lock so two processes opening a new file do not both migrate.
    SQLite::Transaction tx(db, SQLite::TransactionBehavior::IMMEDIATE);
    const int version = user_version(db);
    if (version > current_version()) {
      throw std::runtime_error("database schema version " + std::to_string(version) +
                               " is newer than this collector understands (" +
                               std::to_string(current_version()) + ")");
    }
    if (version == current_version()) {
      tx.commit();
      return;
    }
    k_migrations[version](db);
    db.exec("PRAGMA user_version = " + std::to_string(version + 1));
    tx.commit();
  }
}

}  // namespace llmtrace::storage::sqlite_schema
