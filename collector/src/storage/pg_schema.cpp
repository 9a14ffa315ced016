// Schema v1 of the PostgreSQL store: the same model as SQLite's v1 + v2 (sessions with derived counters,
// records with span and cost columns, scores). Records have a bigserial `rid` for "creation order" (the
// SQLite rowid's role) and a UNIQUE text `id`, so a concurrent insert of one id fails on the key and the
// batch is retried whole. Search keeps the indexed text (search_text) and its tsvector (search_vec, built by
// the store from the same tokens as SQLite's FTS5 table, see pg_search) with a GIN index.
// v2 compresses the large texts with lz4; v3 adds the per-minute timeseries rollup (ts_rollup, as SQLite's
// v4), backfilled from the stored records; v4 moves the tsvector into its own narrow table (record_terms);
// v5 keeps the number of sessions (session_counts).
#include "storage/pg_schema.hpp"

#include <cstdio>
#include <iterator>
#include <stdexcept>
#include <string>

#include "storage/pg_write_tx.hpp"
#include "storage/timeseries_rollup.hpp"

namespace llmtrace::storage::pg_schema {
namespace {

const char* const k_v1 = R"sql(
CREATE TABLE sessions (
  seq               BIGSERIAL UNIQUE,
  id                TEXT PRIMARY KEY,
  name              TEXT NOT NULL,
  created_at        BIGINT NOT NULL,
  updated_at        BIGINT NOT NULL,
  record_count      BIGINT NOT NULL DEFAULT 0,
  turn_count        BIGINT NOT NULL DEFAULT 0,
  error_count       BIGINT NOT NULL DEFAULT 0,
  pending_count     BIGINT NOT NULL DEFAULT 0,
  prompt_tokens     BIGINT NOT NULL DEFAULT 0,
  completion_tokens BIGINT NOT NULL DEFAULT 0,
  total_tokens      BIGINT NOT NULL DEFAULT 0,
  cost_usd          DOUBLE PRECISION NOT NULL DEFAULT 0
);
CREATE INDEX sessions_by_activity ON sessions (updated_at, seq);

CREATE TABLE records (
  rid               BIGSERIAL PRIMARY KEY,
  id                TEXT NOT NULL UNIQUE,
  session_id        TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
  turn_number       BIGINT NOT NULL,
  nested            SMALLINT NOT NULL DEFAULT 0,
  request           TEXT NOT NULL,
  response          TEXT NOT NULL,
  status            TEXT NOT NULL,
  error_message     TEXT NOT NULL DEFAULT '',
  metadata          TEXT NOT NULL,
  created_at        BIGINT NOT NULL,
  updated_at        BIGINT NOT NULL,
  started_at        BIGINT,
  ended_at          BIGINT,
  latency_ms        DOUBLE PRECISION,
  model             TEXT,
  prompt_tokens     BIGINT,
  completion_tokens BIGINT,
  total_tokens      BIGINT,
  replay_of         TEXT,
  parent_id         TEXT,
  trace_id          TEXT,
  name              TEXT,
  kind              TEXT NOT NULL DEFAULT 'llm',
  cost_usd          DOUBLE PRECISION,
  search_text       TEXT,
  search_vec        TSVECTOR
);
CREATE INDEX records_by_turn ON records (session_id, turn_number, nested, rid);
CREATE INDEX records_by_status ON records (status, rid);
CREATE INDEX records_by_model ON records (model, rid) WHERE model IS NOT NULL;
CREATE INDEX records_by_trace ON records (trace_id) WHERE trace_id IS NOT NULL;
CREATE INDEX records_by_created ON records (created_at);
CREATE INDEX records_search ON records USING GIN (search_vec);

CREATE TABLE scores (
  rid        BIGSERIAL PRIMARY KEY,
  id         TEXT NOT NULL UNIQUE,
  target     TEXT NOT NULL,
  target_id  TEXT NOT NULL,
  session_id TEXT NOT NULL,
  name       TEXT NOT NULL,
  value      TEXT NOT NULL,
  comment    TEXT NOT NULL DEFAULT '',
  created_at BIGINT NOT NULL
);
CREATE INDEX scores_by_target ON scores (target_id);
CREATE INDEX scores_by_session ON scores (session_id);
)sql";

// v2, cheaper ingest (issue 12: pglz compression was 17% of the server's CPU per record): the large text
// columns compress with lz4, several times cheaper, where the server has it (PostgreSQL >= 14 built with lz4,
// as Debian's; new values only; elsewhere they stay pglz). Only how values are stored changes: no table
// rewrite, nothing reads differently.
const char* const k_v2 = R"sql(
DO $$
BEGIN
  EXECUTE 'ALTER TABLE records ALTER COLUMN request SET COMPRESSION lz4, '
          'ALTER COLUMN response SET COMPRESSION lz4, ALTER COLUMN metadata SET COMPRESSION lz4, '
          'ALTER COLUMN search_text SET COMPRESSION lz4, ALTER COLUMN search_vec SET COMPRESSION lz4';
EXCEPTION WHEN feature_not_supported OR syntax_error THEN
  NULL;
END
$$;
)sql";

// v3 (issue 15): the per-minute timeseries rollup (storage/timeseries_rollup.hpp), as SQLite's ts_rollup;
// kept by the write transaction, backfilled here from the records already stored (read in rid order, in
// chunks, so a large table is not one result in memory).
const char* const k_v3 = R"sql(
CREATE TABLE ts_rollup (
  minute            BIGINT NOT NULL,
  model             TEXT NOT NULL,
  calls             BIGINT NOT NULL,
  errors            BIGINT NOT NULL,
  prompt_tokens     BIGINT NOT NULL,
  completion_tokens BIGINT NOT NULL,
  total_tokens      BIGINT NOT NULL,
  cost_usd          DOUBLE PRECISION NOT NULL,
  latency_hist      BYTEA NOT NULL,
  PRIMARY KEY (minute, model)
);
)sql";

void backfill_rollup(pg::connection& c) {
  rollup::delta d;
  int64_t after = 0;
  for (;;) {
    auto r =
        c.run("SELECT rid, " + pg::k_rollup_cols + " FROM records WHERE rid > $1 ORDER BY rid LIMIT 20000",
              {std::to_string(after)});
    if (r.rows() == 0) break;
    for (int i = 0; i < r.rows(); ++i) {
      after = r.i64(i, 0);
      d.add(pg::read_rollup_item(r, i, 1), +1);
    }
  }
  d.drain([&](int64_t minute, const std::string& model, const rollup::cell& cell) {
    if (cell.calls <= 0) return;
    char cost[40];
    std::snprintf(cost, sizeof cost, "%.17g", cell.cost);
    c.run(
        "INSERT INTO ts_rollup (minute, model, calls, errors, prompt_tokens, completion_tokens, "
        "total_tokens, "
        "cost_usd, latency_hist) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::bytea)",
        {std::to_string(minute), model, std::to_string(cell.calls), std::to_string(cell.errors),
         std::to_string(cell.prompt), std::to_string(cell.completion), std::to_string(cell.total),
         std::string(cost), pg::bytea_hex(cell.encode_hist())});
  });
}

// v4 (issue 12, search at 1M records): the tsvector and its GIN index move out of `records` into a narrow
// table keyed by rid. The GIN index names matching rows by heap address, and the server checks each one's
// visibility on its heap page: in `records` (~1.6 KB a row, 5 to a page) proving a common word's capped total
// of 10,000 read ~10,000 pages (55-80 ms at 1M records); with the tsvector stored out of line a row here is
// ~80 bytes, and the same proof reads ~4,000 pages of a table small enough to stay in shared buffers (9-18
// ms). PostgreSQL moves values out of line only from a row over its fixed ~2 KB threshold (toast_tuple_target
// sets how far it then shrinks the row, not when it starts), and a tsvector is ~1 KB: so every row also gets
// `pad`, 2,100 dots by default, which takes it over the threshold; then the tsvector (STORAGE EXTERNAL) goes
// out of line and the pad (STORAGE MAIN, kept inline) is compressed to ~27 bytes. A writer that replaces a
// tsvector sets the pad again (its default), or the new row would stay under the threshold. A record without
// search text has no row here. A statement trigger deletes a record's row with it, on every delete path (the
// session cascade included), without a per-row foreign-key check on ingest; it keeps the migration's
// search_path, so a delete made with another one still finds the table.
const char* const k_v4 = R"sql(
CREATE TABLE record_terms (
  rid        BIGINT PRIMARY KEY,
  search_vec TSVECTOR NOT NULL,
  pad        TEXT NOT NULL DEFAULT repeat('.', 2100)
) WITH (toast_tuple_target = 128);
ALTER TABLE record_terms ALTER COLUMN search_vec SET STORAGE EXTERNAL, ALTER COLUMN pad SET STORAGE MAIN;
DO $$
BEGIN
  EXECUTE 'ALTER TABLE record_terms ALTER COLUMN pad SET COMPRESSION lz4';
EXCEPTION WHEN feature_not_supported OR syntax_error THEN
  NULL;
END
$$;
INSERT INTO record_terms (rid, search_vec) SELECT rid, search_vec FROM records WHERE search_vec IS NOT NULL;
CREATE INDEX record_terms_search ON record_terms USING GIN (search_vec);
DROP INDEX records_search;
ALTER TABLE records DROP COLUMN search_vec;
CREATE FUNCTION llmtrace_forget_terms() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
  DELETE FROM record_terms WHERE rid IN (SELECT rid FROM gone);
  RETURN NULL;
END
$$;
CREATE TRIGGER records_forget_terms AFTER DELETE ON records REFERENCING OLD TABLE AS gone
  FOR EACH STATEMENT EXECUTE FUNCTION llmtrace_forget_terms();
ANALYZE record_terms;
)sql";

// v5 (issue 12, the sessions page at 1M records): the number of sessions, kept by statement triggers, so that
// a page's exact total is a sum of 16 rows instead of a COUNT(*) over every session (~1.1 ms of the page's
// ~2.4 at 10,000 sessions). The count is split over 16 rows, each transaction adding to the one of its
// backend (pg_backend_pid() % 16), so that collectors creating sessions at once rarely wait on the same row
// (a row is held from a transaction's INSERT or DELETE of sessions to its COMMIT). Sessions are locked
// against writers while the count starts, so none is missed by a collector still running the old schema.
const char* const k_v5 = R"sql(
CREATE TABLE session_counts (
  shard INTEGER PRIMARY KEY,
  n     BIGINT NOT NULL
);
LOCK TABLE sessions IN SHARE MODE;
INSERT INTO session_counts (shard, n) SELECT g, CASE WHEN g = 0 THEN (SELECT COUNT(*) FROM sessions) ELSE 0 END
  FROM generate_series(0, 15) g;
CREATE FUNCTION llmtrace_count_sessions() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
  delta BIGINT;
BEGIN
  IF TG_OP = 'INSERT' THEN
    SELECT COUNT(*) INTO delta FROM added;
  ELSE
    SELECT -COUNT(*) INTO delta FROM gone;
  END IF;
  IF delta <> 0 THEN
    UPDATE session_counts SET n = n + delta WHERE shard = pg_backend_pid() % 16;
  END IF;
  RETURN NULL;
END
$$;
CREATE TRIGGER sessions_count_added AFTER INSERT ON sessions REFERENCING NEW TABLE AS added
  FOR EACH STATEMENT EXECUTE FUNCTION llmtrace_count_sessions();
CREATE TRIGGER sessions_count_gone AFTER DELETE ON sessions REFERENCING OLD TABLE AS gone
  FOR EACH STATEMENT EXECUTE FUNCTION llmtrace_count_sessions();
)sql";

// v6 (issue 12, search at 1M records): record_terms partitioned by rid, 131,072 rids a partition, each with
// its own GIN index. A capped count stops in the first partitions it scans, each sampled on its own, so its
// matches lie on a few hundred heap pages instead of thousands; a page is read from the newest partition
// first. The write path makes the partitions of the rids it takes, and of the next half partition's, before
// it writes them (llmtrace_terms_partitions, which looks them up and makes a missing one: CREATE TABLE ...
// LIKE and ATTACH PARTITION, which locks the parent in SHARE UPDATE EXCLUSIVE mode, so reads and inserts go
// on, where CREATE TABLE ... PARTITION OF would take it in ACCESS EXCLUSIVE mode); collectors that need the
// same partition take turns under an advisory lock, and the later ones find it made.
// The parent, like each partition, takes v4's columns with their storage and compression as v4 made them.
const char* const k_v6 = R"sql(
ALTER TABLE record_terms RENAME TO record_terms_v5;
ALTER TABLE record_terms_v5 RENAME CONSTRAINT record_terms_pkey TO record_terms_v5_pkey;
ALTER INDEX record_terms_search RENAME TO record_terms_v5_search;
CREATE TABLE record_terms (
  LIKE record_terms_v5 INCLUDING DEFAULTS INCLUDING STORAGE INCLUDING COMPRESSION,
  PRIMARY KEY (rid)
) PARTITION BY RANGE (rid);
CREATE INDEX record_terms_search ON record_terms USING GIN (search_vec);
CREATE FUNCTION llmtrace_terms_partitions(since BIGINT, upto BIGINT) RETURNS VOID LANGUAGE plpgsql
  SET search_path FROM CURRENT AS $$
DECLARE
  width CONSTANT BIGINT := 131072;
  locked BOOLEAN := false;
  name  TEXT;
BEGIN
  FOR k IN since / width .. upto / width LOOP
    name := 'record_terms_p' || k;
    IF to_regclass(name) IS NULL THEN
      IF NOT locked THEN
        PERFORM pg_advisory_xact_lock(7364920118);
        locked := true;
        CONTINUE WHEN to_regclass(name) IS NOT NULL;
      END IF;
      EXECUTE format('CREATE TABLE %I (LIKE record_terms INCLUDING DEFAULTS INCLUDING STORAGE '
                     'INCLUDING COMPRESSION) WITH (toast_tuple_target = 128)', name);
      EXECUTE format('ALTER TABLE record_terms ATTACH PARTITION %I FOR VALUES FROM (%s) TO (%s)', name,
                     k * width, (k + 1) * width);
    END IF;
  END LOOP;
END
$$;
SELECT llmtrace_terms_partitions(0, GREATEST((SELECT last_value FROM records_rid_seq),
                                          (SELECT COALESCE(MAX(rid), 0) FROM record_terms_v5)) + 131072);
INSERT INTO record_terms (rid, search_vec) SELECT rid, search_vec FROM record_terms_v5 ORDER BY rid;
DROP TABLE record_terms_v5;
ANALYZE record_terms;
)sql";

// v7 (issue 12, search at 1M records): search summaries of sealed record_terms partitions (pg_summary.hpp),
// built by the collectors in the background. The postings are stored uncompressed (a bitmap or ascending
// offsets compress poorly, and a search reads a few of them). A summarized partition gets a row trigger that
// marks its summary stale in the transaction of any change to it (a late write, a delete, a replaced text);
// with the partition's number as its argument, and the migration's search_path.
const char* const k_v7 = R"sql(
CREATE TABLE record_terms_summary (
  part     BIGINT NOT NULL,
  lexeme   TEXT COLLATE "C" NOT NULL,
  postings BYTEA NOT NULL,
  PRIMARY KEY (part, lexeme)
);
ALTER TABLE record_terms_summary ALTER COLUMN postings SET STORAGE EXTERNAL;
CREATE TABLE record_terms_summary_state (
  part  BIGINT PRIMARY KEY,
  ready BOOLEAN NOT NULL
);
CREATE FUNCTION llmtrace_terms_summary_stale() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
  UPDATE record_terms_summary_state SET ready = false WHERE part = TG_ARGV[0]::bigint AND ready;
  RETURN NULL;
END
$$;
)sql";

// A step: SQL, then (optionally) C++ in the same transaction.
struct migration {
  const char* sql;
  void (*then)(pg::connection&);
};

// Append v4... here; never edit a released step.
const migration k_migrations[] = {{k_v1, nullptr}, {k_v2, nullptr}, {k_v3, backfill_rollup}, {k_v4, nullptr},
                                  {k_v5, nullptr}, {k_v6, nullptr}, {k_v7, nullptr}};

}  // namespace

int current_version() {
  return static_cast<int>(std::size(k_migrations));
}

void migrate(pg::connection& c) {
  for (;;) {
    c.exec("BEGIN");
    try {
      // Even the version table is created under the lock: two concurrent CREATE ... IF NOT EXISTS race.
      c.run("SELECT pg_advisory_xact_lock($1::bigint)", {std::to_string(k_migration_lock)});
      c.exec("CREATE TABLE IF NOT EXISTS llmtrace_schema (version INTEGER NOT NULL)");
      auto r = c.run("SELECT COALESCE(MAX(version), 0) FROM llmtrace_schema");
      const int version = static_cast<int>(r.i64(0, 0));
      if (version > current_version()) {
        throw std::runtime_error("database schema version " + std::to_string(version) +
                                 " is newer than this collector understands (" +
                                 std::to_string(current_version()) + ")");
      }
      if (version == current_version()) {
        c.exec("COMMIT");
        return;
      }
      c.exec(k_migrations[version].sql);
      if (k_migrations[version].then) k_migrations[version].then(c);
      c.run("DELETE FROM llmtrace_schema");
      c.run("INSERT INTO llmtrace_schema (version) VALUES ($1::integer)", {std::to_string(version + 1)});
      c.exec("COMMIT");
    } catch (...) {
      if (c.ok()) c.exec("ROLLBACK");
      throw;
    }
  }
}

}  // namespace llmtrace::storage::pg_schema
