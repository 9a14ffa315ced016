// FTS text preparation: CJK segmentation and query quoting.
#include <doctest/doctest.h>

#include "storage/fts_text.hpp"

using llmtrace::storage::fts_index_text;
using llmtrace::storage::fts_match_query;

TEST_CASE("fts: CJK characters are indexed one per token, other text is untouched") {
  CHECK(fts_index_text("hello world") == "hello world");
  CHECK(fts_index_text("天气") == "天 气 ");
  CHECK(fts_index_text("ab天气cd") == "ab 天 气 cd");
  CHECK(fts_index_text("カタカナ") == "カ タ カ ナ ");
  CHECK(fts_index_text("café 한국어") == "café 한국어");  // Hangul is spaced by its writers already
  CHECK(fts_index_text(std::string("\xff\xfe bad", 6)) == std::string("\xff\xfe bad", 6));
}

TEST_CASE("fts: queries become quoted phrases, prefix only when asked with a star") {
  CHECK(fts_match_query("hello world") == "\"hello\" \"world\"");
  CHECK(fts_match_query("  say \"hi\"  ") == "\"say\" \"\"\"hi\"\"\"");
  CHECK(fts_match_query("天气") == "\"天 气\"");
  CHECK(fts_match_query("wea* x**") == "\"wea\"* \"x\"*");
  CHECK(fts_match_query("?! -- () * **") == "");
  CHECK(fts_match_query("") == "");
  CHECK(fts_match_query("C++") == "\"C++\"");
  CHECK(fts_match_query("wea ther*", true) == "\"wea\"* \"ther\"*");
}
