// The text writers of http/render must give the same JSON as the nlohmann DOM rendering they replace on the
// read paths (pages, detail, export, SSE): byte for byte when the stored text is what ingest stores, the same
// value otherwise, and never a raw newline (SSE data lines and NDJSON lines depend on that).
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>

#include <nlohmann/json.hpp>

#include "http/errors.hpp"
#include "http/render.hpp"
#include "model/time.hpp"

namespace {

using json = nlohmann::json;
using llmtrace::http::append_double;
using llmtrace::http::append_int;
using llmtrace::http::append_stored_json;
using llmtrace::http::append_time;
using llmtrace::http::dump_json;
using llmtrace::http::object_writer;
using llmtrace::http::render_json;
using llmtrace::http::render_page;
using llmtrace::http::to_json;

llmtrace::model::record sample_record() {
  llmtrace::model::record r;
  r.id = "0193a1b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b";
  r.session_id = "sess-1";
  r.turn_number = 3;
  r.request_json =
      dump_json(json{{"model", "gpt-4o"},
                     {"messages", {{{"role", "user"}, {"content", "héllo \"world\"\n\ttab 中文"}}}},
                     {"temperature", 0.7},
                     {"n", 1}});
  r.response_json = dump_json(json{{"choices", {{{"message", {{"role", "assistant"}, {"content", "hi"}}}}}},
                                   {"usage", {{"prompt_tokens", 5}, {"completion_tokens", 1}}}});
  r.status = llmtrace::model::record_status::success;
  r.error_message = "";
  r.metadata_json = dump_json(json{{"tags", {"a", "b"}}, {"k", nullptr}, {"nested", {{"x", 1.5}}}});
  r.created_at_ms = 1764138725123;
  r.updated_at_ms = 1764138725999;
  r.started_at_ms = 1764138724000;
  r.ended_at_ms = std::nullopt;
  r.latency_ms = 1123.5;
  r.model = "gpt-4o";
  r.usage.prompt_tokens = 5;
  r.usage.completion_tokens = std::nullopt;
  r.usage.total_tokens = 6;
  r.replay_of = "";
  r.parent_id = "0193a1b2-0000-7000-8000-000000000000";
  return r;
}

// What the read paths answered before the text writers.
std::string old_render(const llmtrace::model::record& r) {
  return dump_json(to_json(r));
}

std::string stored(std::string_view text, bool as_object = false) {
  std::string out;
  append_stored_json(out, text, as_object);
  return out;
}

std::string old_stored(const std::string& text, bool as_object = false) {
  json j = llmtrace::http::stored_json(text);
  if (as_object && !j.is_object()) j = json::object();
  return dump_json(j);
}

}  // namespace

TEST_CASE("render: a record is byte-identical to the DOM rendering") {
  auto r = sample_record();
  CHECK(render_json(r) == old_render(r));
  r.status = llmtrace::model::record_status::error;
  r.error_message = "upstream said \"no\"\x01\x1f\x7f \\ done";
  r.latency_ms = std::nullopt;
  r.model.clear();
  r.parent_id.clear();
  r.replay_of = "orig-id";
  r.ended_at_ms = 1764138726000;
  r.response_json = "null";
  CHECK(render_json(r) == old_render(r));
  r.error_message = "bad utf-8 \xff\xc3 end";  // dump_json replaces it; so must the writer
  CHECK(render_json(r) == old_render(r));
  r.request_json.clear();  // empty text renders as null
  r.metadata_json.clear();
  CHECK(render_json(r) == old_render(r));
}

TEST_CASE("render: a session and a page are byte-identical to the DOM rendering") {
  llmtrace::model::session s;
  s.id = "s-\"1\"";
  s.name = "对话-2026-11-26 08:00:00";
  s.created_at_ms = 0;
  s.updated_at_ms = 951782400000;  // 2000-02-29T00:00:00.000Z
  s.record_count = 12;
  s.turn_count = 10;
  s.error_count = 2;
  s.total_tokens = 1234567890123;
  CHECK(render_json(s) == dump_json(to_json(s)));

  llmtrace::storage::page<llmtrace::model::session> sp;
  sp.items = {s, s};
  sp.page = 2;
  sp.size = 2;
  sp.total = 7;
  CHECK(render_page(sp) == dump_json(to_json(sp)));

  llmtrace::storage::page<llmtrace::model::record> rp;
  CHECK(render_page(rp) == dump_json(to_json(rp)));  // empty items
  rp.items = {sample_record(), sample_record()};
  rp.total = 2;
  CHECK(render_page(rp) == dump_json(to_json(rp)));
}

TEST_CASE("render: times match format_rfc3339_ms across the calendar, out-of-range ones too") {
  auto r = sample_record();
  for (int64_t ms : {int64_t{0}, int64_t{1}, int64_t{86'399'999}, int64_t{951'868'800'000} /* 2000-03-01 */,
                     int64_t{1'709'164'800'123} /* 2024-02-29 */, int64_t{4'102'444'799'999},
                     int64_t{253'402'300'799'999} /* 9999-12-31T23:59:59.999Z */,
                     int64_t{253'402'300'800'000}, int64_t{-1}, int64_t{-86'400'001}}) {
    r.created_at_ms = ms;
    r.started_at_ms = ms;
    CHECK_MESSAGE(render_json(r) == old_render(r), ms);
  }
}

TEST_CASE("render: latency doubles come back as the same numbers") {
  auto r = sample_record();
  for (double v : {0.0, 1.0, 12.5, 100.0, 0.001, 1e-7, 123456.789, 1e15, 1e20, -3.25, 0.1 + 0.2}) {
    r.latency_ms = v;
    const json ours = json::parse(render_json(r));
    CHECK_MESSAGE(ours["latency_ms"].get<double>() == v, v);
    CHECK(ours["latency_ms"].is_number_float());
  }
  for (double v : {0.0, 1.0, 12.5, 100.0, 0.001, 1e-7, 123456.789, 1e15, 1e20, -3.25, 0.1 + 0.2, 5e-5,
                   9007199254740992.0}) {
    r.latency_ms = v;
    CHECK_MESSAGE(render_json(r) == old_render(r), v);
  }
  r.latency_ms = std::nan("");
  CHECK(json::parse(render_json(r))["latency_ms"].is_null());
}

TEST_CASE("render: stored text that is not what ingest stores takes the DOM path's answer") {
  for (std::string text : {"not json",
                           "{\"a\":",
                           "{\"a\":1,}",
                           "[1,]",
                           "01",
                           "-",
                           "1.",
                           "1e",
                           "\"\xff\"",
                           "\"\xc0\x80\"",
                           "\"\xed\xa0\x80\"",
                           "\"\\ud800\"",
                           "\"\\udc00\"",
                           "\"\\ud800\\u0041\"",
                           "\"a\x01\"",
                           "\"\\x\"",
                           "\xef\xbb\xbf{}",
                           "{} {}",
                           "nul",
                           "tru",
                           "[1 2]",
                           "{\"a\" 1}",
                           "{1:2}",
                           "  ",
                           "\"\\u12G4\""}) {
    CHECK_MESSAGE(stored(text) == old_stored(text), text);
    CHECK_MESSAGE(stored(text, true) == old_stored(text, true), text);
  }
  std::string deep(300, '[');
  deep += std::string(300, ']');
  CHECK(stored(deep) == old_stored(deep));
}

TEST_CASE("render: well-formed stored text is spliced as the same value, without raw newlines") {
  for (std::string text :
       {"{\n  \"b\": [1, 2,\t3],\r\n  \"a\": {\"s\": \"keep  spaces\\n and \\\"quotes\\\" \"}\n}\n", " 42 ",
        "[ ]", "{ }", "\"\\u00e9\\ud83d\\ude00 \xf0\x9f\x98\x80\"", "-0.5e+3", "[true,false,null]",
        "{\"k\":\"a\\\\\"}", "{\"dup\":1,\"dup\":2}"}) {
    const std::string ours = stored(text);
    CHECK_MESSAGE(ours.find('\n') == std::string::npos, text);
    CHECK_MESSAGE(ours.find('\r') == std::string::npos, text);
    CHECK_MESSAGE(json::parse(ours) == json::parse(text), text);
  }
  CHECK(stored("{\n \"x\" : [ 1 , \"a b\" ] }") == "{\"x\":[1,\"a b\"]}");
  CHECK(stored("[1]", true) == "{}");
  CHECK(stored("\"str\"", true) == "{}");
  CHECK(stored("{\"a\":1}", true) == "{\"a\":1}");
}

TEST_CASE("render: mutated JSON is either spliced as the value nlohmann reads or rendered as it renders it") {
  // Random documents, dumped (what ingest stores) and then damaged byte by byte: every answer must parse, and
  // hold the same value as the DOM path's answer.
  std::mt19937 rng(12345);
  const std::string alphabet = "{}[],:\"\\ \n0123456789.eE+-tfnul\x01\xc3\xa9\xff";
  for (int doc = 0; doc < 300; ++doc) {
    json j = json::object();
    j["s"] = std::string("t\xc3\xa9xt ") + std::to_string(doc);
    j["n"] = doc * 1.25;
    j["a"] = json::array({doc, "x\ny", nullptr, true, json::object({{"k", -doc}})});
    std::string text = dump_json(j);
    if (doc % 3 == 0) text = j.dump(2);  // pretty, as an SDK may send it
    CHECK(stored(text) == (doc % 3 == 0 ? stored(dump_json(j)) : text));
    for (int m = 0; m < 6; ++m) {
      std::string bad = text;
      const std::size_t at = rng() % bad.size();
      switch (rng() % 3) {
        case 0:
          bad[at] = alphabet[rng() % alphabet.size()];
          break;
        case 1:
          bad.erase(at, 1);
          break;
        default:
          bad.insert(at, 1, alphabet[rng() % alphabet.size()]);
          break;
      }
      const std::string ours = stored(bad);
      const json parsed = json::parse(ours, nullptr, false);
      REQUIRE_MESSAGE(!parsed.is_discarded(), bad);
      CHECK_MESSAGE(parsed == json::parse(old_stored(bad)), bad);
      CHECK(ours.find('\n') == std::string::npos);
    }
  }
}

// The scalar writers against what the routes wrote before them: dump_json(json(v)) for doubles (the
// timeseries route's old append_double), std::to_chars for integers, format_rfc3339_ms quoted for times.
std::string double_text(double v) {
  std::string out;
  append_double(out, v);
  return out;
}

TEST_CASE("render: append_double writes dump_json's bytes for every double, NaN and infinities as null") {
  const double inf = std::numeric_limits<double>::infinity();
  for (double v : {0.1,
                   1e-7,
                   123456789.125,
                   0.0,
                   -0.0,
                   1e21,
                   1.0,
                   -1.0,
                   0.5,
                   1e-4,
                   9.999999999999999e-05,
                   1e-5,
                   5e-5,
                   1e15,
                   999999999999999.9,
                   9007199254740992.0,
                   1234567890123456.0,
                   1e300,
                   1e-300,
                   4.9e-324,
                   std::numeric_limits<double>::max(),
                   std::numeric_limits<double>::lowest(),
                   std::numeric_limits<double>::min(),
                   0.1 + 0.2,
                   1.0 / 3,
                   -3.5561693938148423e-26,
                   std::nan(""),
                   inf,
                   -inf}) {
    CHECK_MESSAGE(double_text(v) == dump_json(json(v)), v);
  }
  CHECK(double_text(std::nan("")) == "null");
  CHECK(double_text(inf) == "null");
  CHECK(double_text(-0.0) == "-0.0");
  CHECK(double_text(1e-7) == "1e-07");
  CHECK(double_text(123456789.125) == "123456789.125");
  // Every bit pattern class (denormals, huge, tiny), and the kind of values the routes write: costs in
  // dollars, latencies in ms with fractions.
  std::mt19937_64 rng(20261129);
  for (int i = 0; i < 200000; ++i) {
    const uint64_t bits = rng();
    double v = 0;
    std::memcpy(&v, &bits, sizeof v);
    const std::string ours = double_text(v);
    if (ours != dump_json(json(v))) FAIL_CHECK(v << ": " << ours << " vs " << dump_json(json(v)));
  }
  std::uniform_real_distribution<double> money(0, 50), latency(0, 120000);
  for (int i = 0; i < 100000; ++i) {
    for (double v : {money(rng) / 1e6, std::round(latency(rng) * 1000) / 1000, latency(rng)}) {
      const std::string ours = double_text(v);
      if (ours != dump_json(json(v))) FAIL_CHECK(v << ": " << ours << " vs " << dump_json(json(v)));
    }
  }
}

TEST_CASE("render: append_int and append_time write the text the routes wrote before them") {
  for (int64_t v : {int64_t{0}, int64_t{-1}, int64_t{42}, std::numeric_limits<int64_t>::max(),
                    std::numeric_limits<int64_t>::min()}) {
    std::string out;
    append_int(out, v);
    CHECK(out == dump_json(json(v)));
  }
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<int64_t> when(-100'000'000'000'000, 300'000'000'000'000);
  for (int i = 0; i < 20000; ++i) {
    const int64_t ms = i < 10000 ? when(rng) : 1'764'000'000'000 + i * 61'001;
    std::string ours, old;
    append_time(ours, ms);
    llmtrace::http::append_json_string(old, llmtrace::model::format_rfc3339_ms(ms));
    if (ours != old) FAIL_CHECK(ms << ": " << ours << " vs " << old);
  }
}

TEST_CASE("render: object_writer writes dump_json of the same (sorted) object") {
  std::string out = "[";
  object_writer o(out);
  o.time("at", 1764138725123);
  o.opt_time("ended", std::nullopt);
  o.integer("n", -7);
  o.null("nothing");
  o.number("p", 0.1);
  o.opt_number("q", std::nullopt);
  o.opt_number("r", 1e-7);
  o.stored("s", "{\"k\": [1, 2]}");
  o.string("t", "tab\tquote\"中");
  o.opt_string("u", "");
  o.opt_integer("v", 3);
  o.close();
  out += ']';
  const json expected = json::array({{{"at", "2025-11-26T06:32:05.123Z"},
                                      {"ended", nullptr},
                                      {"n", -7},
                                      {"nothing", nullptr},
                                      {"p", 0.1},
                                      {"q", nullptr},
                                      {"r", 1e-7},
                                      {"s", {{"k", {1, 2}}}},
                                      {"t", "tab\tquote\"中"},
                                      {"u", nullptr},
                                      {"v", 3}}});
  CHECK(out == dump_json(expected));
  std::string empty;
  object_writer(empty).close();
  CHECK(empty == "{}");
}
