// Text preparation for the FTS5 index (unicode61 tokenizer). unicode61 splits on spaces and punctuation,
// which leaves a run of Chinese/Japanese text as one giant token; so CJK characters are indexed one per token
// and a query's CJK run becomes a phrase of those characters (substring search for CJK, word search
// elsewhere). Thread safety: pure functions.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace llmtrace::storage {

// The text to store in the FTS table for a record's message text.
std::string fts_index_text(std::string_view text);
// Turns a user's free text into an FTS5 MATCH expression that can never be a syntax error: each
// whitespace-separated token becomes a quoted phrase ("tok"; "tok"* when the user wrote tok*), and tokens are
// ANDed. Empty when the text has no token that could match anything (only spaces or ASCII punctuation).
// all_prefix: every token matches as a prefix, as if each ended in '*'.
std::string fts_match_query(std::string_view text, bool all_prefix = false);

// The pieces both stores' search shares (SQLite's FTS5 query above, PostgreSQL's tsvector/tsquery in
// pg_search), so that the two read and split text the same way.

// Length (1..4) of the UTF-8 sequence at s[i] (i < s.size()) and its code point in cp. Lenient, as unicode61
// is: an ill-formed byte is one byte with code point U+FFFD (overlongs and surrogates are not checked).
std::size_t fts_decode(std::string_view s, std::size_t i, char32_t& cp);

// One whitespace-separated word of a user's query; trailing '*'s are cut off and make it a prefix word.
struct fts_query_word {
  std::string_view text;  // never empty before the '*'s were cut; may be empty after ("*")
  bool prefix = false;    // the user wrote word*, or all_prefix was set
};
// The words of a query in order (split at bytes <= ' ').
std::vector<fts_query_word> fts_query_words(std::string_view text, bool all_prefix);

// A query that found nothing is retried as prefixes only when it has at most this many words.
inline constexpr int k_max_prefix_terms = 8;
// Whether a query that found nothing as whole words may be retried as prefixes, on either store: each prefix
// word merges every entry of its stem, so only up to k_max_prefix_terms words of two or more characters
// (before any '*') are expanded; a one-letter prefix matches most of the index.
bool fts_prefix_retry_allowed(std::string_view text);

}  // namespace llmtrace::storage
