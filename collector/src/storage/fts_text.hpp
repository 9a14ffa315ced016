// Text preparation for the FTS5 index (unicode61 tokenizer). unicode61 splits on spaces and punctuation,
// which leaves a run of Chinese/Japanese text as one giant token; so CJK characters are indexed one per token
// and a query's CJK run becomes a phrase of those characters (substring search for CJK, word search
// elsewhere). Thread safety: pure functions.
#pragma once

#include <string>
#include <string_view>

namespace llmtrace::storage {

// The text to store in the FTS table for a record's message text.
std::string fts_index_text(std::string_view text);
// Turns a user's free text into an FTS5 MATCH expression that can never be a syntax error: each
// whitespace-separated token becomes a quoted phrase ("tok"; "tok"* when the user wrote tok*), and tokens are
// ANDed. Empty when the text has no token that could match anything (only spaces or ASCII punctuation).
// all_prefix: every token matches as a prefix, as if each ended in '*'.
std::string fts_match_query(std::string_view text, bool all_prefix = false);

}  // namespace llmtrace::storage
