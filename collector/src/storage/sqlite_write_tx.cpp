#include "storage/sqlite_write_tx.hpp"

#include <algorithm>

#include "storage/sqlite_rows.hpp"

namespace llmtrace::storage::sqlite {

void sqlite_write_tx::lock_sessions(const std::vector<std::string_view>&) {
  // The transaction began IMMEDIATE: it holds the database's one write lock until it ends.
}

bool sqlite_write_tx::stored_session_exists(const std::string& id) {
  static const std::string k_sql = "SELECT 1 FROM sessions WHERE id = ?1";
  stmt_use s(c_, k_sql);
  s->bindNoCopy(1, id);
  return s->executeStep();
}

void sqlite_write_tx::store_session(const std::string& id, const std::string& name, int64_t at_ms) {
  static const std::string k_sql =
      "INSERT INTO sessions (id, name, created_at, updated_at) VALUES (?1, ?2, ?3, ?3)";
  stmt_use s(c_, k_sql);
  s->bindNoCopy(1, id);
  s->bindNoCopy(2, name);
  s->bind(3, at_ms);
  s->exec();
}

std::optional<found_record> sqlite_write_tx::find_record(const std::string& id) {
  static const std::string k_sql = "SELECT " + k_record_cols + " FROM records WHERE id = ?1";
  stmt_use s(c_, k_sql);
  s->bindNoCopy(1, id);
  if (!s->executeStep()) return std::nullopt;
  return read_record(*s);
}

std::optional<found_record> sqlite_write_tx::find_pending_top_level(const std::string& session_id,
                                                                    int64_t turn) {
  static const std::string k_sql =
      "SELECT " + k_record_cols +
      " FROM records WHERE session_id = ?1 AND turn_number = ?2 AND nested = 0 AND "
      "status = 'pending' AND replay_of IS NULL AND parent_id IS NULL ORDER BY rid LIMIT 1";
  stmt_use s(c_, k_sql);
  s->bindNoCopy(1, session_id);
  s->bind(2, turn);
  if (!s->executeStep()) return std::nullopt;
  return read_record(*s);
}

int64_t sqlite_write_tx::max_top_level_turn(const std::string& session_id) {
  // nested = 0 is "no replay_of, no parent": the (session_id, turn_number, nested) index answers this.
  static const std::string k_sql =
      "SELECT turn_number FROM records WHERE session_id = ?1 AND nested = 0 "
      "ORDER BY turn_number DESC LIMIT 1";
  stmt_use s(c_, k_sql);
  s->bindNoCopy(1, session_id);
  return s->executeStep() ? s->getColumn(0).getInt64() : 0;
}

std::vector<found_record> sqlite_write_tx::find_trace_records(const std::string& trace_id) {
  static const std::string k_sql =
      "SELECT " + k_record_cols + " FROM records WHERE trace_id = ?1 ORDER BY rid";
  stmt_use s(c_, k_sql);
  s->bindNoCopy(1, trace_id);
  std::vector<found_record> out;
  while (s->executeStep()) out.push_back(read_record(*s));
  return out;
}

void sqlite_write_tx::store_record(const model::record& r, const std::string& search_text) {
  static const std::string k_sql =
      "INSERT INTO records (rid, id, session_id, turn_number, nested, request, response, status, "
      "error_message, metadata, created_at, updated_at, started_at, ended_at, latency_ms, model, "
      "prompt_tokens, completion_tokens, total_tokens, replay_of, parent_id, trace_id, name, kind, "
      "cost_usd) VALUES (NULL, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, "
      "?18, ?19, ?20, ?21, ?22, ?23, ?24)";
  int64_t rid = 0;
  {
    stmt_use s(c_, k_sql);
    bind_record(*s, r, 1);
    s->exec();
    rid = c_.db().getLastInsertRowid();
  }
  if (!search_text.empty()) set_search_text(rid, search_text, false);
}

void sqlite_write_tx::replace_record(const found_record& before, const model::record& after,
                                     const std::string& search_text) {
  static const std::string k_sql =
      "UPDATE records SET id = ?1, session_id = ?2, turn_number = ?3, nested = ?4, request = ?5, "
      "response = ?6, status = ?7, error_message = ?8, metadata = ?9, created_at = ?10, "
      "updated_at = ?11, started_at = ?12, ended_at = ?13, latency_ms = ?14, model = ?15, "
      "prompt_tokens = ?16, completion_tokens = ?17, total_tokens = ?18, replay_of = ?19, "
      "parent_id = ?20, trace_id = ?21, name = ?22, kind = ?23, cost_usd = ?24 WHERE rid = ?25";
  {
    stmt_use s(c_, k_sql);
    bind_record(*s, after, 1);
    s->bind(25, before.row);
    s->exec();
  }
  if (!search_text.empty()) set_search_text(before.row, search_text, true);
}

void sqlite_write_tx::delete_record_row(const found_record& r) {
  static const std::string k_sql = "DELETE FROM records WHERE rid = ?1";
  stmt_use s(c_, k_sql);
  s->bind(1, r.row);
  s->exec();
}

int64_t sqlite_write_tx::count_at_turn(const std::string& session_id, int64_t turn, int64_t limit) {
  static const std::string k_sql =
      "SELECT COUNT(*) FROM (SELECT 1 FROM records WHERE session_id = ?1 AND turn_number = ?2 LIMIT ?3)";
  stmt_use s(c_, k_sql);
  s->bindNoCopy(1, session_id);
  s->bind(2, turn);
  s->bind(3, limit);
  s->executeStep();
  return s->getColumn(0).getInt64();
}

std::vector<timeseries_fold::item> sqlite_write_tx::session_rollup_items(const std::string& session_id,
                                                                         int64_t limit) {
  static const std::string k_sql =
      "SELECT " + k_rollup_cols + " FROM records WHERE session_id = ?1 ORDER BY rid LIMIT ?2";
  stmt_use s(c_, k_sql);
  s->bindNoCopy(1, session_id);
  s->bind(2, limit);
  std::vector<timeseries_fold::item> out;
  while (s->executeStep()) out.push_back(read_rollup_item(*s));
  return out;
}

// Queues a record's message text for the full-text index (sqlite_fts_indexer moves it into records_fts after
// the commit). `existing`: an update, whose text is merged with what is indexed already.
void sqlite_write_tx::set_search_text(int64_t rid, const std::string& text, bool existing) {
  static const std::string k_sql = "INSERT INTO fts_pending (rid, text, merge) VALUES (?1, ?2, ?3)";
  stmt_use s(c_, k_sql);
  s->bind(1, rid);
  s->bindNoCopy(2, text);
  s->bind(3, existing ? 1 : 0);
  s->exec();
  last_pending_seq_ = c_.db().getLastInsertRowid();
}

void sqlite_write_tx::apply_session_deltas(const std::map<std::string, session_delta>& deltas) {
  static const std::string k_sql =
      "UPDATE sessions SET record_count = record_count + ?2, turn_count = turn_count + ?3, "
      "error_count = error_count + ?4, pending_count = pending_count + ?5, "
      "prompt_tokens = prompt_tokens + ?6, completion_tokens = completion_tokens + ?7, "
      "total_tokens = total_tokens + ?8, updated_at = MAX(updated_at, ?9), "
      "cost_usd = MAX(cost_usd + ?10, 0) WHERE id = ?1";
  for (const auto& [id, d] : deltas) {
    stmt_use s(c_, k_sql);
    s->bindNoCopy(1, id);
    s->bind(2, d.records);
    s->bind(3, d.turns);
    s->bind(4, d.errors);
    s->bind(5, d.pending);
    s->bind(6, d.prompt);
    s->bind(7, d.completion);
    s->bind(8, d.total);
    s->bind(9, d.touched_at);
    s->bind(10, d.cost);
    s->exec();
  }
}

bool sqlite_write_tx::load_rollup_row(int64_t minute, const std::string& model, rollup::cell& row) {
  static const std::string k_sql =
      "SELECT " + k_rollup_row_cols + " FROM ts_rollup WHERE minute = ?1 AND model = ?2";
  stmt_use s(c_, k_sql);
  s->bind(1, minute);
  s->bindNoCopy(2, model);
  if (!s->executeStep()) return false;
  row.add_encoded_hist(read_rollup_row(*s, 0, row));
  return true;
}

void sqlite_write_tx::save_rollup_row(int64_t minute, const std::string& model, const rollup::cell& row,
                                      bool) {
  static const std::string k_sql =
      "INSERT OR REPLACE INTO ts_rollup (minute, model, calls, errors, prompt_tokens, completion_tokens, "
      "total_tokens, cost_usd, latency_hist) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";
  const std::string hist = row.encode_hist();
  stmt_use s(c_, k_sql);
  s->bind(1, minute);
  s->bindNoCopy(2, model);
  s->bind(3, row.calls);
  s->bind(4, row.errors);
  s->bind(5, row.prompt);
  s->bind(6, row.completion);
  s->bind(7, row.total);
  s->bind(8, row.cost);
  s->bindNoCopy(9, hist.data(), static_cast<int>(hist.size()));
  s->exec();
}

void sqlite_write_tx::delete_rollup_row(int64_t minute, const std::string& model) {
  static const std::string k_sql = "DELETE FROM ts_rollup WHERE minute = ?1 AND model = ?2";
  stmt_use s(c_, k_sql);
  s->bind(1, minute);
  s->bindNoCopy(2, model);
  s->exec();
}

}  // namespace llmtrace::storage::sqlite
