// Search text for the PostgreSQL store. The tokens are those SQLite's FTS5 table gets (unicode61 over
// fts_index_text: words of letters and digits, case folded, Latin diacritics removed, one token per CJK
// character), built here and handed to PostgreSQL as a tsvector / tsquery literal, so no text search
// configuration or server locale changes what matches: the same query finds the same records on both stores.
// Thread safety: pure functions; search() runs on the connection it is given.
#pragma once

#include <string>
#include <string_view>

#include "storage/pg_connection.hpp"
#include "storage/store.hpp"

namespace llmtrace::storage::pg {

// The tsvector literal of an indexed text (fts_index_text's output).
std::string tsvector_literal(std::string_view indexed);
// The tsquery literal of a user's query with fts_match_query's rules (words ANDed, a word of several tokens
// is a phrase, `word*` a prefix; all_prefix: every word is a prefix). Empty: nothing can match.
std::string tsquery_literal(std::string_view text, bool all_prefix = false);

// The store's search (as store.hpp's contract, same answers as SQLite's), over record_terms (the tsvector and
// its GIN index, beside each record's rid). A query of plain words takes the matches of the partitions that
// have a ready summary from their postings (pg_summary.hpp), and only the others' from the index. Otherwise
// the plan follows the planner's estimate of the matches: a common word's capped total from a GIN sample,
// otherwise the matches from one GIN bitmap; past the cap, the page among the newest records first; planner
// settings are changed for its statements and reset before it returns. q.budget_ms bounds the whole search
// (the exact query and its prefix retry together): each statement runs with what is left of it as the
// server's statement_timeout, and a statement canceled at it (SQLSTATE 57014) throws search_too_costly, as
// SQLite's progress handler does; the timeout is reset before it returns, errors included.
page<model::record> search(connection& c, const search_query& q);

}  // namespace llmtrace::storage::pg
