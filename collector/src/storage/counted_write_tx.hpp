// The part of a write transaction every store shares: the derived counters. As records are inserted,
// replaced (possibly into another session or turn) and deleted, it sums what they count for per session
// (session_delta, turns included) and per (minute, model) of the timeseries rollup (rollup::delta), and
// finish() writes both before COMMIT: the session counters at once, then each changed rollup row by a
// read-merge-write in key order (PostgreSQL locks them in that order). A store derives from it and supplies
// only its SQL, through the small primitives below; the bookkeeping exists once, so the counters mean the
// same on every store. Not thread-safe: one write_tx belongs to one transaction on one thread.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "storage/session_delta.hpp"
#include "storage/timeseries_fold.hpp"
#include "storage/timeseries_rollup.hpp"
#include "storage/write_tx.hpp"

namespace llmtrace::storage {

class counted_write_tx : public write_tx {
 public:
  bool session_exists(const std::string& id) final;
  void insert_session(const std::string& id, const std::string& name, int64_t at_ms) final;
  void insert_record(const model::record& r, const std::string& search_text) final;
  void update_record(const found_record& before, const model::record& after,
                     const std::string& search_text) final;

  // Deletes a record (and what hangs off it: search row, scores), taking it out of the counters.
  void erase_record(const found_record& r);
  // Takes the session's records out of the timeseries rollup: all of them, or the first `limit` by row id;
  // the caller then deletes the same records in this transaction (delete_session: one DELETE, no
  // per-record bookkeeping; delete_session_step: `... WHERE session_id = ? ORDER BY rid LIMIT n`).
  void forget_session_records(const std::string& session_id, int64_t limit = INT64_MAX);
  // Writes the summed counter changes. Call once, just before COMMIT.
  virtual void finish();

 protected:
  // The kinds of change a store may announce once the transaction commits (record_changed).
  enum class change { created, updated, deleted };

  // --- the store's primitives (its SQL; none of them keeps a counter) ---
  virtual bool stored_session_exists(const std::string& id) = 0;
  virtual void store_session(const std::string& id, const std::string& name, int64_t at_ms) = 0;
  // Stores a new record row; search_text as write_tx::insert_record.
  virtual void store_record(const model::record& r, const std::string& search_text) = 0;
  // Overwrites the row before.row with `after`; search_text as write_tx::update_record.
  virtual void replace_record(const found_record& before, const model::record& after,
                              const std::string& search_text) = 0;
  // Deletes the row r.row and what hangs off the record.
  virtual void delete_record_row(const found_record& r) = 0;
  // How many records are at (session, turn), this transaction's writes included, counted up to `limit`.
  virtual int64_t count_at_turn(const std::string& session_id, int64_t turn, int64_t limit) = 0;
  // The rollup's view of the session's first `limit` records by row id.
  virtual std::vector<timeseries_fold::item> session_rollup_items(const std::string& session_id,
                                                                  int64_t limit) = 0;
  // Adds each delta to its (existing) session's counters; updated_at becomes the larger of the stored one
  // and touched_at, cost stays >= 0.
  virtual void apply_session_deltas(const std::map<std::string, session_delta>& deltas) = 0;
  // Reads the stored rollup row of (minute, model) into `row` (histogram decoded into row.hist), locked
  // against concurrent writers until the transaction ends; false: there is none.
  virtual bool load_rollup_row(int64_t minute, const std::string& model, rollup::cell& row) = 0;
  // Stores `row` (calls > 0) as (minute, model)'s rollup row; `exists`: load_rollup_row found one.
  virtual void save_rollup_row(int64_t minute, const std::string& model, const rollup::cell& row,
                               bool exists) = 0;
  virtual void delete_rollup_row(int64_t minute, const std::string& model) = 0;
  // A record was written; called after the primitive that wrote it. Default: nothing.
  virtual void record_changed(change, const std::string& /*record_id*/) {}

 private:
  bool turn_present(const std::string& session_id, int64_t turn) {
    return count_at_turn(session_id, turn, 1) > 0;
  }

  // Also the sessions this transaction knows exist: a second record in one needs no lookup. Sorted, so
  // the counter updates touch sessions in one order in every transaction.
  std::map<std::string, session_delta> deltas_;
  rollup::delta rollup_;
};

}  // namespace llmtrace::storage
