// write_tx on the SQLite writer connection, inside a transaction the store opened (BEGIN IMMEDIATE: the
// database write lock is held from the start, so nothing else writes and lock_sessions has nothing to do).
// It also keeps the sessions' derived counters: changes are summed per session in memory and written with
// one UPDATE per session in finish(), just before COMMIT; the timeseries rollup (ts_rollup) likewise, one
// read-merge-write per (minute, model) changed. Search text is only queued (fts_pending); the
// store's fts_indexer puts it into the full-text index after the commit.
// Not thread-safe: lives on the writer's thread for one transaction.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>

#include "storage/session_delta.hpp"
#include "storage/sqlite_connection.hpp"
#include "storage/timeseries_rollup.hpp"
#include "storage/write_tx.hpp"

namespace llmtrace::storage::sqlite {

class sqlite_write_tx final : public write_tx {
 public:
  explicit sqlite_write_tx(connection& writer) : c_(writer) {}

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

  // Removes a record and takes it out of its session's counters (the search row goes by trigger).
  void erase_record(const found_record& r);
  // Takes the session's records out of the timeseries rollup: all of them, or the first `limit` by row id;
  // the caller then deletes the same records in this transaction (delete_session: one DELETE, no per-record
  // bookkeeping; delete_session_step: `... WHERE session_id = ? ORDER BY rid LIMIT n`).
  void forget_session_records(const std::string& session_id, int64_t limit = INT64_MAX);
  // Writes the summed counter changes. Call once, before COMMIT.
  void finish();
  // The highest fts_pending.seq this transaction queued (0: none); handed to fts_indexer::notify after
  // COMMIT.
  int64_t last_pending_seq() const { return last_pending_seq_; }

 private:
  bool turn_present(const std::string& session_id, int64_t turn);
  void set_search_text(int64_t rid, const std::string& text, bool existing);

  connection& c_;
  // Also the sessions this transaction knows exist: a second record in one needs no lookup.
  std::unordered_map<std::string, session_delta> deltas_;
  rollup::delta rollup_;
  int64_t last_pending_seq_ = 0;
};

}  // namespace llmtrace::storage::sqlite
