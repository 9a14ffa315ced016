// The write_tx of the PostgreSQL store: the primitives for many writers (pg_advisory_xact_lock per session,
// FOR UPDATE lookups, a unique id key) and the derived session counters, accumulated per session and applied
// by finish() in one UPDATE each; the timeseries rollup likewise, one locked read-merge-write per (minute,
// model) in key order (a row two collectors add to at once is taken in turn; a row both insert first fails
// one of them on the key, and write() runs that batch again). Not thread-safe: one transaction on one leased
// connection.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "storage/pg_connection.hpp"
#include "storage/session_delta.hpp"
#include "storage/timeseries_rollup.hpp"
#include "storage/write_tx.hpp"

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

class pg_write_tx final : public write_tx {
 public:
  // notify_as: this store's instance tag for the change notifications sent on COMMIT (empty: none).
  pg_write_tx(connection& c, std::string notify_as) : c_(c), notify_as_(std::move(notify_as)) {}

  void lock_sessions(const std::vector<std::string_view>& sorted_session_ids) override;
  bool session_exists(const std::string& id) override;
  void insert_session(const std::string& id, const std::string& name, int64_t at_ms) override;
  std::optional<found_record> find_record(const std::string& id) override;
  std::optional<found_record> find_pending_top_level(const std::string& session_id, int64_t turn) override;
  int64_t max_top_level_turn(const std::string& session_id) override;
  std::vector<found_record> find_trace_records(const std::string& trace_id) override;
  void insert_record(const model::record& r, const std::string& search_text) override;
  void update_record(const found_record& before, const model::record& after,
                     const std::string& search_text) override;

  // Deletes a record (its scores too), adjusting the counters.
  void erase_record(const found_record& r);
  // Takes the session's records out of the timeseries rollup: all of them, or the first `limit` by rid; the
  // caller then deletes the same records in this transaction (delete_session, delete_session_step with
  // `... ORDER BY rid LIMIT n`).
  void forget_session_records(const std::string& session_id, int64_t limit = INT64_MAX);
  // Applies the accumulated session counters and queues the change notifications (NOTIFY is delivered only
  // when the transaction commits); call once before COMMIT.
  void finish();

 private:
  bool turn_present(const std::string& session_id, int64_t turn);

  void notify(const std::string& kind, const std::string& change, const std::string& id);

  connection& c_;
  std::string notify_as_;
  std::map<std::string, session_delta> deltas_;
  rollup::delta rollup_;
  std::vector<std::pair<std::string, std::string>> changed_;  // (record id, "created" | "updated")
};

}  // namespace llmtrace::storage::pg
