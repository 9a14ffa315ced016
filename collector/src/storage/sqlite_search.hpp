// The search planner of the SQLite store: builds the FTS5 query (fts_text.hpp), picks the plan (walk the
// FTS matches, or walk one session's records and probe the index), counts the total (from the session
// counters when no text or model filter is set, else up to a cap), and retries a query that found nothing
// as prefixes. Thread safety: runs on the connection it is given, inside the caller's read transaction.
#pragma once

#include "storage/sqlite_connection.hpp"
#include "storage/store.hpp"

namespace llmtrace::storage::sqlite {

// Search totals with a text or model filter are exact up to this many matches.
inline constexpr int64_t k_search_count_cap = 10000;

// Runs q within q.budget_ms (throws search_too_costly past it).
page<model::record> search(connection& c, const search_query& q);

int64_t clamp_page(int64_t p);
int64_t clamp_size(int64_t s);  // 1..10000

}  // namespace llmtrace::storage::sqlite
