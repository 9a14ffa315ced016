// json_text: the shared JSON text module. Where nlohmann (the collector's parser) is the reference, the tests
// compare against it, so "valid" here means "the collector accepts it".
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <cstdio>
#include <random>
#include <string>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "json_text/json_text.hpp"

namespace jt = llmtrace::json_text;

namespace {
bool nlohmann_accepts(const std::string& s) {
  return nlohmann::json::accept(s);
}
}  // namespace

TEST_CASE("json_text: scan accepts JSON and rejects malformed text like nlohmann") {
  const char* good[] = {"{}",
                        " [ ] ",
                        "0",
                        "-0.5e+3",
                        "\"a\\u00e9\\ud83d\\ude00\"",
                        "{\"a\":[1,true,null,{}]}",
                        "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"",
                        "{\"k\" : \"v\" , \"n\":1}"};
  for (const char* s : good) {
    CHECK_MESSAGE(jt::valid(s), s);
    CHECK(nlohmann_accepts(s));
  }
  const char* bad[] = {
      "",        "{",           "{\"a\":}",    "[1,]",      "01",           "1.",
      "\"\\q\"", "\"\\ud83d\"", "\"\\ude00\"", "\"\x01\"",  "\"\xff\"",     "\"\xed\xa0\x80\"",
      "{} {}",   "{'a':1}",     "tru",         "{\"a\" 1}", "\"\xc0\xaf\"", "[1 2]"};
  for (const char* s : bad) {
    CHECK_MESSAGE(!jt::valid(s), s);
    CHECK_MESSAGE(!nlohmann_accepts(s), s);
  }
}

TEST_CASE("json_text: the 16- and 8-byte fast paths find every special byte at every offset") {
  const std::string plain(70, 'a');
  for (std::size_t at = 0; at < plain.size(); ++at) {
    std::string s = plain;
    s[at] = '"';
    CHECK_FALSE(jt::valid("\"" + s + "\""));
    s = plain;
    s[at] = '\x1f';
    CHECK_FALSE(jt::valid("\"" + s + "\""));
    s = plain;
    s[at] = '\xff';
    CHECK_FALSE(jt::valid("\"" + s + "\""));
    s = plain.substr(0, at) + "\xc3\xa9" + plain.substr(at + 1);
    CHECK(jt::valid("\"" + s + "\""));
    s = plain.substr(0, at) + "\\q" + plain.substr(at + 1);
    CHECK_FALSE(jt::valid("\"" + s + "\""));
  }
}

TEST_CASE("json_text: random mutations of a record agree with nlohmann") {
  const std::string base =
      R"({"id":"x","request":{"messages":[{"role":"user","content":"h\u00e9llo \"w\""}]},"n":-1.5e3,"ok":true})";
  std::mt19937 gen(11);
  const char alphabet[] = "{}[]\":,\\ 0-.eE1atrufnl\x01\x80\xc3\xa9";
  for (int i = 0; i < 20000; ++i) {
    std::string s = base;
    const int edits = 1 + static_cast<int>(gen() % 3);
    for (int k = 0; k < edits; ++k) s[gen() % s.size()] = alphabet[gen() % (sizeof(alphabet) - 1)];
    REQUIRE_MESSAGE(jt::valid(s, 1024) == nlohmann_accepts(s), s);
  }
}

TEST_CASE("json_text: depth limit is reported apart from malformed text") {
  std::string deep(10, '[');
  deep += std::string(10, ']');
  CHECK(jt::scan(deep, {10, {}}).ok);
  const auto r = jt::scan(deep, {9, {}});
  CHECK_FALSE(r.ok);
  CHECK(r.too_deep);
  CHECK_FALSE(jt::scan("[[1,]]", {9, {}}).too_deep);
}

TEST_CASE("json_text: scan trims the value, notes inner space and counts a top-level key") {
  auto r = jt::scan("  {\"id\":1, \"a\":{\"id\":2},\"id\":3}\n", {256, "id"});
  REQUIRE(r.ok);
  CHECK(r.value == "{\"id\":1, \"a\":{\"id\":2},\"id\":3}");
  CHECK(r.inner_space);
  CHECK(r.key_count == 2);  // the nested one is not top-level
  r = jt::scan("{\"idx\":1,\"i\":2}", {256, "id"});
  CHECK(r.key_count == 0);
  CHECK_FALSE(r.inner_space);
}

TEST_CASE("json_text: minify drops whitespace between tokens only") {
  std::string out;
  jt::append_minified(out, "{ \"a b\" : [ 1 , \"x \\\" y\" ] }");
  CHECK(out == "{\"a b\":[1,\"x \\\" y\"]}");
}

TEST_CASE("json_text: escaping gives valid JSON that decodes to the input, bad UTF-8 becomes U+FFFD") {
  const std::string cases[] = {"plain", "q\"b\\s/\n\r\t\b\f", std::string("nul\0x", 5), "\x1f\x7f",
                               "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"};
  for (const auto& s : cases) {
    std::string out;
    jt::append_string(out, s);
    CHECK(out.size() == jt::escaped_size(s) + 2);
    CHECK(nlohmann::json::parse(out).get<std::string>() == s);
  }
  std::string out;
  jt::append_string(out,
                    "a\xff"
                    "b\xc3");
  CHECK(out == "\"a\\ufffdb\\ufffd\"");
  CHECK(jt::valid(out));
  // A long plain run with one special byte at every offset (the SIMD path) escapes exactly.
  for (std::size_t at = 0; at < 40; ++at) {
    std::string s(40, 'z');
    s[at] = '\n';
    std::string o;
    jt::append_string(o, s);
    CHECK(nlohmann::json::parse(o).get<std::string>() == s);
  }
}

TEST_CASE("json_text: escaping matches nlohmann's dump byte for byte on well-formed text") {
  // Plain runs of every length around the 16- and 8-byte steps, with escapes and multi-byte characters
  // between them: write_escaped copies the runs in one go, so each boundary is exercised.
  const std::string pieces[] = {"\n", "\"", "\\", "\x01", "\x1f", "\x7f", "\xc3\xa9", "\xf0\x9f\x98\x80"};
  for (std::size_t run = 0; run < 34; ++run) {
    for (const auto& piece : pieces) {
      const std::string s = std::string(run, 'a') + piece + std::string(run / 2, 'b') + piece;
      std::string out = "x";
      CHECK(jt::append_string_if_valid(out, s));
      CHECK(out == "x" + nlohmann::json(s).dump());
      std::string plain;
      jt::append_string(plain, s);
      CHECK(out == "x" + plain);
    }
  }
}

TEST_CASE("json_text: append_string_if_valid refuses ill-formed UTF-8 and leaves the output as it was") {
  for (const std::string& s : {std::string("a\xff"), std::string(20, 'q') + "\xc3",
                               std::string("\xed\xa0\x80"), std::string("ok \xe2\x82")}) {
    std::string out = "kept";
    CHECK_FALSE(jt::append_string_if_valid(out, s));
    CHECK(out == "kept");
  }
}

TEST_CASE("json_text: UTF-8 check and cut at a code-point boundary") {
  CHECK(jt::utf8_valid("h\xc3\xa9llo \xf0\x9f\x98\x80"));
  CHECK_FALSE(jt::utf8_valid("\xc3"));
  CHECK_FALSE(jt::utf8_valid("\xe0\x80\x80"));      // overlong
  CHECK_FALSE(jt::utf8_valid("\xf4\x90\x80\x80"));  // above U+10FFFF
  const std::string s =
      "ab\xf0\x9f\x98\x80"
      "cd";  // 2 + 4 + 2 bytes
  CHECK(jt::utf8_prefix(s, 100) == s);
  CHECK(jt::utf8_prefix(s, 2) == "ab");
  CHECK(jt::utf8_prefix(s, 3) == "ab");
  CHECK(jt::utf8_prefix(s, 5) == "ab");
  CHECK(jt::utf8_prefix(s, 6) == "ab\xf0\x9f\x98\x80");
  for (std::size_t n = 0; n <= s.size(); ++n) CHECK(jt::utf8_valid(jt::utf8_prefix(s, n)));
}

TEST_CASE("json_text: append_utf8 writes each code point as nlohmann encodes it, at every length boundary") {
  for (char32_t cp : {0x0u, 0x41u, 0x7Fu, 0x80u, 0xE9u, 0x7FFu, 0x800u, 0x20ACu, 0xFFFDu, 0xFFFFu, 0x10000u,
                      0x1F600u, 0x10FFFFu}) {
    std::string out = "x";
    jt::append_utf8(out, cp);
    char esc[16];
    if (cp < 0x10000) {
      std::snprintf(esc, sizeof esc, "\\u%04X", static_cast<unsigned>(cp));
    } else {
      const unsigned v = static_cast<unsigned>(cp) - 0x10000;
      std::snprintf(esc, sizeof esc, "\\u%04X\\u%04X", 0xD800 + (v >> 10), 0xDC00 + (v & 0x3FF));
    }
    CAPTURE(esc);
    CHECK(out == "x" + nlohmann::json::parse(std::string("\"") + esc + "\"").get<std::string>());
    CHECK(jt::utf8_valid(out));
  }
}

TEST_CASE("json_text: object_bounds checks only the braces") {
  auto b = jt::object_bounds("  { \"a\":1 }\n");
  CHECK(b.ok);
  CHECK(b.open == 2);
  CHECK(b.close == 10);
  CHECK_FALSE(b.empty);
  CHECK(jt::object_bounds("{ \n}").empty);
  CHECK_FALSE(jt::object_bounds("[1]").ok);
  CHECK_FALSE(jt::object_bounds("{").ok);
  CHECK_FALSE(jt::object_bounds("").ok);
  CHECK_FALSE(jt::object_bounds("{} x").ok);
}
