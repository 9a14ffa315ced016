// write_tx on the SQLite writer connection, inside a transaction the store opened (BEGIN IMMEDIATE: the
// database write lock is held from the start, so nothing else writes and lock_sessions has nothing to do).
// The derived counters (sessions, timeseries rollup) are counted_write_tx's; this class is their SQL. Search
// text is only queued (fts_pending); the store's fts_indexer puts it into the full-text index after the
// commit. Not thread-safe: lives on the writer's thread for one transaction.
#pragma once

#include <cstdint>
#include <string>

#include "storage/counted_write_tx.hpp"
#include "storage/sqlite_connection.hpp"

namespace llmtrace::storage::sqlite {

class sqlite_write_tx final : public counted_write_tx {
 public:
  explicit sqlite_write_tx(connection& writer) : c_(writer) {}

  void lock_sessions(const std::vector<std::string_view>& sorted_session_ids) override;
  std::optional<found_record> find_record(const std::string& id) override;
  std::optional<found_record> find_pending_top_level(const std::string& session_id, int64_t turn) override;
  int64_t max_top_level_turn(const std::string& session_id) override;
  std::vector<found_record> find_trace_records(const std::string& trace_id) override;

  // The highest fts_pending.seq this transaction queued (0: none); handed to fts_indexer::notify after
  // COMMIT.
  int64_t last_pending_seq() const { return last_pending_seq_; }

 private:
  bool stored_session_exists(const std::string& id) override;
  void store_session(const std::string& id, const std::string& name, int64_t at_ms) override;
  // The search text of both is queued in fts_pending (set_search_text), indexed after the commit.
  void store_record(const model::record& r, const std::string& search_text) override;
  void replace_record(const found_record& before, const model::record& after,
                      const std::string& search_text) override;
  // Queues text for the full-text index of row rid; `existing`: merged with what is indexed already.
  void set_search_text(int64_t rid, const std::string& text, bool existing);
  // Its search row, queued text and scores go by trigger.
  void delete_record_row(const found_record& r) override;
  int64_t count_at_turn(const std::string& session_id, int64_t turn, int64_t limit) override;
  std::vector<timeseries_fold::item> session_rollup_items(const std::string& session_id,
                                                          int64_t limit) override;
  void apply_session_deltas(const std::map<std::string, session_delta>& deltas) override;
  bool load_rollup_row(int64_t minute, const std::string& model, rollup::cell& row) override;
  // INSERT OR REPLACE: the writer lock makes `exists` moot.
  void save_rollup_row(int64_t minute, const std::string& model, const rollup::cell& row,
                       bool exists) override;
  void delete_rollup_row(int64_t minute, const std::string& model) override;

  connection& c_;
  int64_t last_pending_seq_ = 0;
};

}  // namespace llmtrace::storage::sqlite
