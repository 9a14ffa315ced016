// FTS text preparation: CJK segmentation and query quoting.
#include <string>
#include <utility>
#include <vector>

#include <doctest/doctest.h>

#include "storage/fts_text.hpp"

using llmtrace::storage::fts_decode;
using llmtrace::storage::fts_index_text;
using llmtrace::storage::fts_match_query;
using llmtrace::storage::fts_query_words;

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

TEST_CASE("fts: the shared decoder reads a code point per sequence and one U+FFFD per ill-formed byte") {
  const std::string s = "a\xc3\xa9\xe5\xa4\xa9\xf0\x9f\x98\x80\xff\xc3(\xe5\xa4";
  std::vector<std::pair<std::size_t, char32_t>> got;
  for (std::size_t i = 0; i < s.size();) {
    char32_t cp = 0;
    const std::size_t n = fts_decode(s, i, cp);
    got.emplace_back(n, cp);
    i += n;
  }
  const std::vector<std::pair<std::size_t, char32_t>> want = {
      {1, U'a'},   {2, U'\u00e9'}, {3, U'\u5929'}, {4, U'\U0001F600'},  // a, é, 天, 😀
      {1, 0xFFFD}, {1, 0xFFFD},    {1, U'('},      {1, 0xFFFD},
      {1, 0xFFFD}};  // 0xff, lone 0xc3, cut 天
  CHECK(got == want);
}

TEST_CASE("fts: query words split at spaces and control bytes, trailing stars make a prefix word") {
  const auto w = fts_query_words(" wea*\tther\n x** * ", false);
  REQUIRE(w.size() == 4);
  CHECK(w[0].text == "wea");
  CHECK(w[0].prefix);
  CHECK(w[1].text == "ther");
  CHECK_FALSE(w[1].prefix);
  CHECK(w[2].text == "x");
  CHECK(w[2].prefix);
  CHECK(w[3].text.empty());
  CHECK(w[3].prefix);
  CHECK(fts_query_words("   ", true).empty());
  const auto all = fts_query_words("a b", true);
  REQUIRE(all.size() == 2);
  CHECK((all[0].prefix && all[1].prefix));
}
