// The persistence primitives of one write transaction: what the ingest rules (ingest/write_rules) need to
// read and change, and nothing of the rules themselves. A store hands a write_tx to the function given to
// store_writer::write and commits only when that function returns.
// Contract for implementations, written for many writers (several collectors on one PostgreSQL database):
// - lock_sessions serialises every transaction that touches the same session until it ends (PostgreSQL:
//   pg_advisory_xact_lock on a hash of the id; SQLite: nothing, its one writer already holds the database
//   lock). The rules take it before they read the session's turns, so max + 1 cannot be handed out twice.
// - find_* return rows this transaction may change without losing a concurrent update (PostgreSQL: FOR
// UPDATE).
// - insert_record of an id that exists (a concurrent writer committed it first) fails the transaction as
//   store_busy, at once or when the store writes its deferred rows before COMMIT: the batch is retried whole
//   and then finds the record (ids are a unique key).
// - A store may defer writing new rows to the end of the transaction (PostgreSQL: one COPY); every find_*
//   and the counters see them all the same, and update_record of such a record changes the deferred row.
// - Derived session counters (records, turns, errors, pending, tokens, last activity) are the store's
//   business: insert_record / update_record keep them right, the rules never compute them.
// Not thread-safe: one write_tx belongs to one transaction on one thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "model/record.hpp"

namespace llmtrace::storage {

// A stored record and the store's own key for its row (handed back to update_record; opaque to the rules).
struct found_record {
  model::record record;
  int64_t row = 0;
};

// What a batch will look up (write_tx::expect_records): views into the batch, valid during the call only.
struct expected_lookups {
  std::vector<std::string_view> record_ids;                 // the ids its reports carry
  std::vector<std::pair<std::string_view, int64_t>> turns;  // (session, turn) pairs it names
  std::vector<std::string_view> trace_ids;  // traces whose records it reads (one trace = one turn)
};

class write_tx {
 public:
  virtual ~write_tx() = default;

  // Holds these sessions (sorted, unique; possibly not yet existing) until the transaction ends. Called once
  // with every session a batch names before any other call, then for sessions learnt later (an anchor's).
  virtual void lock_sessions(const std::vector<std::string_view>& sorted_session_ids) = 0;

  // A hint, given by the rules once after the first lock_sessions and before any lookup: what the batch will
  // look up. A store may read it ahead in one go (PostgreSQL: one FOR UPDATE read per kind); every find_*
  // must still answer exactly as without the hint. Default: nothing.
  virtual void expect_records(const expected_lookups& /*batch*/) {}

  virtual bool session_exists(const std::string& id) = 0;
  // A new session with zeroed counters; created_at = updated_at = at_ms.
  virtual void insert_session(const std::string& id, const std::string& name, int64_t at_ms) = 0;

  virtual std::optional<found_record> find_record(const std::string& id) = 0;
  // The oldest record of (session, turn) that is still pending and is top level (no replay_of, no parent_id).
  virtual std::optional<found_record> find_pending_top_level(const std::string& session_id, int64_t turn) = 0;
  // The highest turn of a top-level record in the session; 0 when it has none. Replays and children share
  // their original's turn, so they never count.
  virtual int64_t max_top_level_turn(const std::string& session_id) = 0;
  // Every record of a trace (records.trace_id), in creation order; empty when none. The rules use it to keep
  // a trace in one session and turn, whichever of its spans arrives first.
  virtual std::vector<found_record> find_trace_records(const std::string& trace_id) = 0;

  // Stores a new record (its session exists) and indexes search_text (empty: nothing to index).
  virtual void insert_record(const model::record& r, const std::string& search_text) = 0;
  // Replaces a stored record with `after` (same id). `after` may be in another (existing) session or turn:
  // both sessions' counters follow (records, turns, errors, pending, tokens, cost), as when one trace's
  // spans move into their root's session. search_text is added to what the record is
  // found by: it replaces the indexed text when it contains it, else both are kept (an update may carry only
  // the response); empty: the index is left alone.
  virtual void update_record(const found_record& before, const model::record& after,
                             const std::string& search_text) = 0;
};

}  // namespace llmtrace::storage
