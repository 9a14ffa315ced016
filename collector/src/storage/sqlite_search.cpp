#include "storage/sqlite_search.hpp"

#include <sqlite3.h>

#include <chrono>
#include <string>
#include <string_view>

#include "storage/fts_text.hpp"
#include "storage/sqlite_rows.hpp"

namespace llmtrace::storage::sqlite {

int64_t clamp_page(int64_t p) {
  return p < 1 ? 1 : p;
}
int64_t clamp_size(int64_t s) {
  return s < 1 ? 1 : (s > 10000 ? 10000 : s);
}

namespace {

page<model::record> search_in(connection& c, const search_query& q, bool has_text, const std::string& match) {
  page<model::record> out;
  out.page = clamp_page(q.paging.page);
  out.size = clamp_size(q.paging.size);
  if (has_text && match.empty()) return out;  // only punctuation: nothing can match

  std::string where;
  auto add_cond = [&](const std::string& cond) { where += (where.empty() ? " WHERE " : " AND ") + cond; };
  // Within one session, walk the session's records and probe the FTS index per row (a rowid seek);
  // otherwise walk the FTS matches, which arrive newest first. A prefix term makes each probe merge every
  // doclist of the stem, so then the matches are walked once, limited to the session's rowid window.
  const bool has_prefix = match.find("\"*") != std::string::npos;
  const bool fts_driven = has_text && (q.session_id.empty() || has_prefix);
  if (fts_driven) add_cond("records_fts MATCH ?1");
  if (fts_driven && !q.session_id.empty()) {
    add_cond(
        "records_fts.rowid BETWEEN (SELECT MIN(rid) FROM records WHERE session_id = ?4) "
        "AND (SELECT MAX(rid) FROM records WHERE session_id = ?4)");
  }
  if (has_text && !fts_driven) {
    add_cond("EXISTS (SELECT 1 FROM records_fts WHERE records_fts MATCH ?1 AND records_fts.rowid = r.rid)");
  }
  if (q.status) add_cond("r.status = ?2");
  if (!q.model.empty()) add_cond("r.model = ?3");
  if (!q.session_id.empty()) add_cond("r.session_id = ?4");
  // Scored records are few: the IN list is read from scores first, then each record found by its id.
  if (!q.score_name.empty()) {
    add_cond(
        q.score_value
            ? "r.id IN (SELECT target_id FROM scores WHERE target = 'record' AND name = ?7 AND value = ?8)"
            : "r.id IN (SELECT target_id FROM scores WHERE target = 'record' AND name = ?7)");
  }
  const std::string from =
      fts_driven ? " FROM records_fts JOIN records r ON r.rid = records_fts.rowid" : " FROM records r";
  const std::string status_text = q.status ? std::string(model::to_string(*q.status)) : std::string();
  auto bind_filters = [&](SQLite::Statement& s) {
    if (has_text) s.bindNoCopy(1, match);
    if (q.status) s.bindNoCopy(2, status_text);
    if (!q.model.empty()) s.bindNoCopy(3, q.model);
    if (!q.session_id.empty()) s.bindNoCopy(4, q.session_id);
    if (!q.score_name.empty()) s.bindNoCopy(7, q.score_name);
    if (!q.score_name.empty() && q.score_value) s.bindNoCopy(8, *q.score_value);
  };
  {
    // With text, FTS5 yields matches in rowid order itself, so LIMIT stops early instead of sorting.
    const char* order = fts_driven ? " ORDER BY records_fts.rowid DESC" : " ORDER BY r.rid DESC";
    stmt_use s(c, "SELECT " + k_record_cols_r + from + where + order + " LIMIT ?5 OFFSET ?6");
    bind_filters(*s);
    s->bind(5, out.size);
    s->bind(6, (out.page - 1) * out.size);
    while (s->executeStep()) out.items.push_back(read_record(*s).record);
  }
  if (!has_text && q.model.empty() && q.score_name.empty()) {
    // Status and session filters alone are answered from the session counters.
    std::string sql =
        "SELECT COALESCE(SUM(record_count), 0), COALESCE(SUM(error_count), 0), "
        "COALESCE(SUM(pending_count), 0) FROM sessions";
    if (!q.session_id.empty()) sql += " WHERE id = ?1";
    stmt_use n(c, sql);
    if (!q.session_id.empty()) n->bindNoCopy(1, q.session_id);
    n->executeStep();
    const int64_t all = n->getColumn(0).getInt64();
    const int64_t errors = n->getColumn(1).getInt64();
    const int64_t pending = n->getColumn(2).getInt64();
    if (!q.status) {
      out.total = all;
    } else if (*q.status == model::record_status::error) {
      out.total = errors;
    } else if (*q.status == model::record_status::pending) {
      out.total = pending;
    } else {
      out.total = all - errors - pending;
    }
  } else {
    // Counting every match of a common word costs as much as reading them: count up to a cap.
    // Text alone needs no row of records: count the FTS matches without the join.
    const bool text_only =
        fts_driven && !q.status && q.model.empty() && q.session_id.empty() && q.score_name.empty();
    stmt_use n(c, text_only ? std::string("SELECT COUNT(*) FROM (SELECT 1 FROM records_fts WHERE records_fts "
                                          "MATCH ?1 LIMIT ?5)")
                            : "SELECT COUNT(*) FROM (SELECT 1" + from + where + " LIMIT ?5)");
    bind_filters(*n);
    n->bind(5, k_search_count_cap);
    n->executeStep();
    out.total = n->getColumn(0).getInt64();
  }
  return out;
}

// Stops the connection's statements once the deadline has passed (sqlite3_progress_handler): the statement
// fails with SQLITE_INTERRUPT. Removed again when the search returns, so other reads on the pooled reader run
// unbounded.
class time_budget {
 public:
  time_budget(connection& c, int budget_ms) : db_(c.db().getHandle()) {
    if (budget_ms <= 0) return;
    deadline_ = std::chrono::steady_clock::now() + std::chrono::milliseconds(budget_ms);
    sqlite3_progress_handler(db_, 1000, &time_budget::check, this);
    armed_ = true;
  }
  ~time_budget() {
    if (armed_) sqlite3_progress_handler(db_, 0, nullptr, nullptr);
  }
  time_budget(const time_budget&) = delete;
  time_budget& operator=(const time_budget&) = delete;
  bool expired() const { return expired_; }

 private:
  static int check(void* self) {
    auto* b = static_cast<time_budget*>(self);
    if (std::chrono::steady_clock::now() >= b->deadline_) b->expired_ = true;
    return b->expired_ ? 1 : 0;
  }
  sqlite3* db_;
  std::chrono::steady_clock::time_point deadline_{};
  bool armed_ = false;
  bool expired_ = false;
};

page<model::record> search_bounded(connection& c, const search_query& q) {
  const bool has_text = q.text.find_first_not_of(" \t\r\n") != std::string::npos;
  const std::string exact = has_text ? fts_match_query(q.text) : std::string();
  auto out = search_in(c, q, has_text, exact);
  if (has_text && out.total == 0 && fts_prefix_retry_allowed(q.text)) {
    // Whole words first (one doclist per word, fast on any database); only a query that found nothing
    // is retried as prefixes ("weath" finds "weather"), paying for the doclist merge when it can help.
    const std::string prefixed = fts_match_query(q.text, true);
    if (prefixed != exact) out = search_in(c, q, true, prefixed);
  }
  return out;
}

}  // namespace

page<model::record> search(connection& c, const search_query& q) {
  time_budget budget(c, q.budget_ms);
  try {
    return search_bounded(c, q);
  } catch (const SQLite::Exception& e) {
    if (budget.expired() || e.getErrorCode() == SQLITE_INTERRUPT)
      throw search_too_costly("the search took longer than " + std::to_string(q.budget_ms) +
                              " ms and was stopped; use fewer or longer words");
    throw;
  }
}

}  // namespace llmtrace::storage::sqlite
