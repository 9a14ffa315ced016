// The write_tx of the PostgreSQL store: the primitives for many writers (pg_advisory_xact_lock per session,
// FOR UPDATE lookups, a unique id key) under counted_write_tx's counters, batch-shaped: a batch's lookups
// are read ahead in a few statements (expect_records), its new sessions and records wait in memory and are
// written by finish() with one INSERT and binary COPYs (records, then their record_terms rows), and every
// lookup sees them (stored rows, then the deferred ones). So a 512-record batch costs ~10 statements instead
// of ~4 a record. Not thread-safe: one transaction on one leased connection.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "storage/counted_write_tx.hpp"
#include "storage/pg_connection.hpp"

namespace llmtrace::storage::pg {

// The record columns in read order (rid first) and their reader.
extern const std::string k_record_cols;
found_record read_record(const result& r, int row);
extern const std::string k_session_cols;
model::session read_session(const result& r, int row);
// What the timeseries rollup reads of a record (created_at, model, status, latency, tokens, cost), in
// read_rollup_item's order.
extern const std::string k_rollup_cols;
// first: the column k_rollup_cols starts at.
timeseries_fold::item read_rollup_item(const result& r, int row, int first = 0);
// calls, errors, prompt_tokens, completion_tokens, total_tokens, cost_usd, latency_hist: a stored ts_rollup
// row, in read_rollup_row's order.
extern const std::string k_rollup_row_cols;
// Reads result row `i`'s counters (selected with k_rollup_row_cols from column `first` on) into `row`
// (row.hist is not touched) and its encoded histogram into `hist` (empty when not a hex bytea).
void read_rollup_row(const result& r, int i, int first, rollup::cell& row, std::string& hist);
// The rollup's histogram bytes as a bytea literal ('\x...') and back (false: not a hex bytea).
std::string bytea_hex(std::string_view bytes);
bool from_bytea_hex(std::string_view text, std::string& out);

class pg_write_tx final : public counted_write_tx {
 public:
  // notify_as: this store's instance tag for the change notifications sent on COMMIT (empty: none).
  pg_write_tx(connection& c, std::string notify_as) : c_(c), notify_as_(std::move(notify_as)) {}

  // One statement for all the ids not locked yet; then one that reads which of them exist (a locked
  // session's existence cannot change until the transaction ends).
  void lock_sessions(const std::vector<std::string_view>& sorted_session_ids) override;
  // One FOR UPDATE read of the stored records with the ids, one of the traces' records, one read of the
  // stored turns present.
  void expect_records(const expected_lookups& batch) override;
  std::optional<found_record> find_record(const std::string& id) override;
  std::optional<found_record> find_pending_top_level(const std::string& session_id, int64_t turn) override;
  int64_t max_top_level_turn(const std::string& session_id) override;
  std::vector<found_record> find_trace_records(const std::string& trace_id) override;

  // Writes the deferred sessions and records, applies the counters (counted_write_tx::finish) and queues
  // the change notifications (NOTIFY is delivered only when the transaction commits); call once before
  // COMMIT. A record id a concurrent writer committed first fails the COPY on the unique key (23505):
  // write() runs the batch again, which then finds the record.
  void finish() override;

 private:
  // A record this transaction inserted, kept here until finish() writes them all with one COPY; its
  // found_record.row is -(index + 1) (stored rows have rids from 1). Its rid comes later than any stored
  // row's, as the readers' "ORDER BY rid" expects.
  struct new_row {
    model::record record;
    std::string indexed;  // fts_index_text of its search text; empty: not indexed
    bool erased = false;
  };
  using turn_key = std::pair<std::string, int64_t>;

  bool stored_session_exists(const std::string& id) override;
  // Deferred: written by flush_sessions before anything could refer to it.
  void store_session(const std::string& id, const std::string& name, int64_t at_ms) override;
  void store_record(const model::record& r, const std::string& search_text) override;
  // New search text is merged with the indexed text (as SQLite's index merge) and its record_terms row
  // rebuilt. A deferred record is changed where it waits.
  void replace_record(const found_record& before, const model::record& after,
                      const std::string& search_text) override;
  // The record's scores go too (no triggers for them; schema v4's trigger removes its record_terms row).
  void delete_record_row(const found_record& r) override;
  int64_t count_at_turn(const std::string& session_id, int64_t turn, int64_t limit) override;
  // Writes the deferred rows first, so the session's records are all stored.
  std::vector<timeseries_fold::item> session_rollup_items(const std::string& session_id,
                                                          int64_t limit) override;
  // One UPDATE for all the sessions.
  void apply_session_deltas(const std::map<std::string, session_delta>& deltas) override;
  // FOR UPDATE: a row two collectors add to at once is taken in turn.
  bool load_rollup_row(int64_t minute, const std::string& model, rollup::cell& row) override;
  // A row two collectors both insert first fails one of them on the key: write() runs that batch again.
  void save_rollup_row(int64_t minute, const std::string& model, const rollup::cell& row,
                       bool exists) override;
  void delete_rollup_row(int64_t minute, const std::string& model) override;
  // Queued; finish() sends them as NOTIFYs, which PostgreSQL delivers on COMMIT.
  void record_changed(change what, const std::string& record_id) override;

  new_row* deferred(const found_record& r);
  // A stored row changed (moved, deleted): what was read ahead of it no longer holds.
  void forget_read_ahead(const model::record& r);
  void flush_sessions();
  // Writes the deferred records (their rids taken first, then one COPY of the records and one of their
  // record_terms rows); found_records of them handed out before are void afterwards.
  void flush_records();

  connection& c_;
  std::string notify_as_;
  std::vector<std::pair<std::string, change>> changed_;  // in the order written

  std::vector<new_row> new_rows_;
  std::unordered_map<std::string, std::size_t> new_by_id_;
  std::map<turn_key, int64_t> new_at_turn_;  // deferred records per (session, turn)
  // Deferred session rows (id, name, created_at) and the sessions this transaction created: no stored
  // record is in those, so their turns need no lookup.
  std::vector<std::tuple<std::string, std::string, int64_t>> new_sessions_;
  std::unordered_set<std::string> fresh_sessions_;
  // Read ahead: locked sessions' existence (its keys: the sessions locked), hinted ids' stored records
  // (nullopt: none), hinted traces' stored records, whether a stored record is at (session, turn).
  std::unordered_map<std::string, bool> session_stored_;
  std::unordered_map<std::string, std::optional<found_record>> expected_;
  std::unordered_map<std::string, std::vector<found_record>> expected_traces_;  // stored records, by rid
  std::map<turn_key, bool> stored_turn_;
};

}  // namespace llmtrace::storage::pg
