// Ingest rules as pure functions: bounded parsing, validation, OpenAI extraction.
#include <doctest/doctest.h>

#include "ingest/extract.hpp"
#include "ingest/json_parse.hpp"
#include "ingest/raw_spans.hpp"
#include "ingest/record_parser.hpp"
#include "model/time.hpp"

using namespace llmtrace;
using json = nlohmann::json;

TEST_CASE("parse: nesting beyond the limit is rejected, at the limit accepted") {
  std::string deep(65, '[');
  deep += std::string(65, ']');
  auto r = ingest::parse_json_limited(deep, 64);
  CHECK_FALSE(r.ok);
  CHECK(r.too_deep);
  std::string ok(64, '[');
  ok += std::string(64, ']');
  CHECK(ingest::parse_json_limited(ok, 64).ok);
  std::string huge(200000, '[');  // would blow the stack in a recursive dump
  CHECK_FALSE(ingest::parse_json_limited(huge).ok);
}

TEST_CASE("parse: malformed JSON says where, 1e999 and invalid UTF-8 do not throw") {
  auto r = ingest::parse_json_limited(R"({"a": 1,, })");
  CHECK_FALSE(r.ok);
  CHECK(r.message.find("byte") != std::string::npos);
  auto big = ingest::parse_json_limited(R"({"a": 1e999})");
  CHECK_FALSE(big.ok);
  CHECK(big.message.find("1e999") != std::string::npos);
  std::string bad_utf8 = "{\"a\": \"\xff\xfe\"}";
  CHECK_FALSE(ingest::parse_json_limited(bad_utf8).ok);
  CHECK_FALSE(ingest::parse_json_limited("").ok);
  CHECK(ingest::parse_json_limited(R"({"a":[1,2,{"b":null}]})").ok);
}

TEST_CASE("extract: chat.completions model, usage and message text") {
  json req = {{"model", "gpt-4o"},
              {"messages",
               {{{"role", "system"}, {"content", "be brief"}},
                {{"role", "user"},
                 {"content", {{{"type", "text"}, {"text", "what is rust"}}, {{"type", "image_url"}}}}}}}};
  json resp = {{"model", "gpt-4o-2024-08-06"},
               {"choices", {{{"message", {{"role", "assistant"}, {"content", "a language"}}}}}},
               {"usage", {{"prompt_tokens", 10}, {"completion_tokens", 3}, {"total_tokens", 13}}}};
  auto f = ingest::extract_all(req, resp);
  CHECK(f.model == "gpt-4o-2024-08-06");
  CHECK(f.usage.prompt_tokens == 10);
  CHECK(f.usage.completion_tokens == 3);
  CHECK(f.usage.total_tokens == 13);
  CHECK(f.search_text.find("be brief") != std::string::npos);
  CHECK(f.search_text.find("what is rust") != std::string::npos);
  CHECK(f.search_text.find("a language") != std::string::npos);
  CHECK(f.search_text.find("image_url") == std::string::npos);  // text only, never whole JSON
  CHECK(f.search_text.find("gpt-4o") == std::string::npos);
}

TEST_CASE("extract: responses API and embeddings shapes") {
  json req = {{"model", "gpt-4.1"}, {"input", "tell me a joke"}, {"instructions", "be funny"}};
  json resp = {
      {"model", "gpt-4.1-2025"},
      {"output", {{{"type", "message"}, {"content", {{{"type", "output_text"}, {"text", "knock knock"}}}}}}},
      {"usage", {{"input_tokens", 7}, {"output_tokens", 4}, {"total_tokens", 11}}}};
  auto f = ingest::extract_all(req, resp);
  CHECK(f.model == "gpt-4.1-2025");
  CHECK(f.usage.prompt_tokens == 7);
  CHECK(f.usage.completion_tokens == 4);
  CHECK(f.usage.total_tokens == 11);
  CHECK(f.search_text.find("tell me a joke") != std::string::npos);
  CHECK(f.search_text.find("knock knock") != std::string::npos);

  json ereq = {{"model", "text-embedding-3-small"}, {"input", {"alpha", "beta"}}};
  json eresp = {{"object", "list"},
                {"model", "text-embedding-3-small"},
                {"usage", {{"prompt_tokens", 5}, {"total_tokens", 5}}}};
  auto e = ingest::extract_all(ereq, eresp);
  CHECK(e.model == "text-embedding-3-small");
  CHECK(e.usage.prompt_tokens == 5);
  CHECK_FALSE(e.usage.completion_tokens.has_value());
  CHECK(e.usage.total_tokens == 5);
  CHECK(e.search_text.find("alpha") != std::string::npos);
}

TEST_CASE("extract: streamed chunk array gives model and usage from the chunk that has it") {
  json chunks = json::array({
      {{"model", "gpt-4o-mini"}, {"choices", {{{"delta", {{"content", "Hel"}}}}}}},
      {{"model", "gpt-4o-mini"}, {"choices", {{{"delta", {{"content", "lo"}}}}}}},
      {{"model", "gpt-4o-mini"},
       {"choices", json::array()},
       {"usage", {{"prompt_tokens", 2}, {"completion_tokens", 2}, {"total_tokens", 4}}}},
  });
  json req = {{"model", "gpt-4o-mini-request"},
              {"stream", true},
              {"messages", {{{"role", "user"}, {"content", "hi"}}}}};
  auto f = ingest::extract_all(req, chunks);
  CHECK(f.model == "gpt-4o-mini");
  CHECK(f.usage.total_tokens == 4);
  CHECK(f.search_text.find("Hello") != std::string::npos);
}

TEST_CASE("extract: the request's model is the fallback, nothing found stays empty") {
  CHECK(ingest::extract_model({{"model", "m1"}}, nullptr) == "m1");
  CHECK(ingest::extract_model(nullptr, nullptr).empty());
  auto u = ingest::extract_usage(json{{"x", 1}});
  CHECK_FALSE(u.total_tokens.has_value());
}

TEST_CASE("trace: types are validated with the field named") {
  struct bad_case {
    json trace;
    std::string field;
  };
  std::vector<bad_case> cases = {
      {{{"turn_number", -1}}, "turn_number"},
      {{{"turn_number", "3"}}, "turn_number"},
      {{{"turn_number", 1.5}}, "turn_number"},
      {{{"status", "done"}}, "status"},
      {{{"status", 3}}, "status"},
      {{{"metadata", "x"}}, "metadata"},
      {{{"metadata", json::array()}}, "metadata"},
      {{{"session_id", 12}}, "session_id"},
      {{{"session_id", std::string(257, 's')}}, "session_id"},
      {{{"id", std::string(129, 'i')}}, "id"},
      {{{"id", "a/b"}}, "id"},
      {{{"started_at", "yesterday"}}, "started_at"},
      {{{"ended_at", true}}, "ended_at"},
      {{{"latency_ms", -5}}, "latency_ms"},
      {{{"error_message", 5}}, "error_message"},
      {{{"usage", {{"prompt_tokens", -1}}}}, "usage.prompt_tokens"},
  };
  for (const auto& c : cases) {
    storage::record_write w;
    ingest::field_error err;
    bool ok = ingest::parse_trace(c.trace, 1000, w, err);
    CHECK_MESSAGE(!ok, c.trace.dump());
    CHECK_MESSAGE(err.field == c.field, c.trace.dump());
    CHECK(!err.message.empty());
  }
  storage::record_write w;
  ingest::field_error err;
  CHECK_FALSE(ingest::parse_trace(json::array(), 1000, w, err));
}

TEST_CASE("trace: unknown fields go into metadata, defaults are filled") {
  storage::record_write w;
  ingest::field_error err;
  json t = {{"session_id", "s"},
            {"custom", {{"k", 1}}},
            {"metadata", {{"user", "u1"}}},
            {"request", {{"model", "m"}}}};
  REQUIRE(ingest::parse_trace(t, model::parse_rfc3339_ms("2026-01-02T03:04:05Z").value(), w, err));
  auto md = json::parse(w.metadata_json.value());
  CHECK(md["user"] == "u1");
  CHECK(md["custom"]["k"] == 1);
  CHECK(w.turn_number == 0);
  CHECK(w.status == model::record_status::success);
  CHECK(w.new_session_name.rfind("对话-2026-01-0", 0) == 0);
  CHECK(w.model == "m");
  CHECK_FALSE(w.id.has_value());
}

TEST_CASE("trace: a string holding JSON is kept as the JSON it holds; plain strings stay strings") {
  storage::record_write w;
  ingest::field_error err;
  std::string inner = R"({"model":"gpt-x","messages":[{"role":"user","content":"inside"}]})";
  REQUIRE(ingest::parse_trace(json{{"request", inner}, {"response", "plain text"}}, 1, w, err));
  CHECK(w.request_json == inner);
  CHECK(w.response_json == "\"plain text\"");
  CHECK(w.model == "gpt-x");
  CHECK(w.search_text.find("inside") != std::string::npos);
}

TEST_CASE("trace: timestamps as RFC 3339 or epoch ms, latency derived") {
  storage::record_write w;
  ingest::field_error err;
  REQUIRE(ingest::parse_trace(
      json{{"started_at", "2026-01-01T00:00:00.000Z"}, {"ended_at", "2026-01-01T00:00:01.250Z"}}, 1, w, err));
  CHECK(w.latency_ms == doctest::Approx(1250));
  REQUIRE(ingest::parse_trace(json{{"started_at", 1000}, {"ended_at", 1600}, {"latency_ms", 42}}, 1, w, err));
  CHECK(w.started_at_ms == 1000);
  CHECK(w.latency_ms == doctest::Approx(42));
}

TEST_CASE("parse: the fast path builds the same tree as nlohmann and rejects what it rejects") {
  const std::vector<std::string> inputs = {
      R"({"a":1,"b":-2,"c":1.5,"d":1e3,"e":-0,"f":18446744073709551615,"g":18446744073709551616})",
      R"({"a":-9223372036854775808,"b":-9223372036854775809,"c":0.1e-5,"d":1E+2,"e":1e-400})",
      R"({"k":"x","k":"y"})",  // last duplicate wins
      R"(["\u00e9\ud83d\ude00\n\t\"\\\/\b\f\r", "\u0000", "日本語 ✓ 😀"])",
      R"(  {"nested":[[[{"a":[true,false,null]}]]]}  )",
      R"("top-level string")",
      "42",
      "{}",
      "[]",
      // Rejected by both:
      R"({"a":01})",
      R"({"a":1.})",
      R"({"a":.5})",
      R"({"a":+1})",
      R"({"a":1e})",
      R"({"a":-})",
      R"({"a":"\ud83d"})",
      R"({"a":"\ude00"})",
      R"({"a":"\x"})",
      R"({"a":"\u12"})",
      "{\"a\":\"tab\there\"}",
      "\"\xc0\xaf\"",
      "\"\xed\xa0\x80\"",
      "\"\xf4\x90\x80\x80\"",
      "\"\xe0\x80\x80\"",
      "\"\xf0\x8f\xbf\xbf\"",
      "\"\xc3\"",
      R"({"a":1,})",
      R"([1,])",
      R"({"a" 1})",
      "tru",
      "nul",
      R"({"a":1}x)",
      "",
      "   ",
      R"({"a":1e999})",
      R"([1 2])",
      R"({1:2})",
  };
  for (const auto& in : inputs) {
    auto fast = ingest::parse_json_limited(in);
    auto ref = ingest::parse_json_reference(in);
    CHECK_MESSAGE(fast.ok == ref.ok, in);
    if (fast.ok && ref.ok) {
      CHECK_MESSAGE(fast.value == ref.value, in);
      CHECK_MESSAGE(fast.value.dump() == ref.value.dump(), in);  // same number types, not only equal values
    } else {
      CHECK_MESSAGE(fast.message == ref.message, in);
    }
  }
  // A special byte at every offset of a string (the fast path checks eight bytes at a time).
  for (const std::string special : {"\\\"", "\\n", "\"", "\x01", "\xc3\xa9", "\xff", "\\u00e9"}) {
    for (std::size_t at = 0; at <= 20; ++at) {
      std::string in = "[\"" + std::string(at, 'a') + special + std::string(20 - at, 'b') + "\", \"" +
                       std::string(at, 'c') + "\"]";
      auto fast = ingest::parse_json_limited(in);
      auto ref = ingest::parse_json_reference(in);
      CHECK_MESSAGE(fast.ok == ref.ok, in);
      if (fast.ok && ref.ok) CHECK_MESSAGE(fast.value == ref.value, in);
    }
  }
  // Depth: the same verdict at and beyond the limit.
  std::string deep(65, '[');
  deep += std::string(65, ']');
  CHECK(ingest::parse_json_limited(deep, 64).too_deep);
  std::string deep_obj;
  for (int i = 0; i < 64; ++i) deep_obj += R"({"a":)";
  deep_obj += "1" + std::string(64, '}');
  CHECK(ingest::parse_json_limited(deep_obj, 64).ok);
  CHECK_FALSE(ingest::parse_json_limited(deep_obj, 63).ok);
}

TEST_CASE("ingest: request, response and metadata are stored as the bytes sent") {
  const std::string body =
      R"({"traces":[ {"request": {"model" : "m1", "messages":[{"role":"user","content":"hi \"there\""}]},)"
      R"( "response":{"n":1.50,"s":"\u00e9"}, "metadata": {"app" : "x"}},)"
      R"( 7, {"requ\u0065st":{"a":1}}, {"request":"plain", "response":null, "extra":true} ]})";
  auto parsed = ingest::parse_json_limited(body);
  REQUIRE(parsed.ok);
  auto spans = ingest::scan_batch_spans(body);
  REQUIRE(spans.has_value());
  REQUIRE(spans->size() == 4);
  CHECK((*spans)[0].request == R"({"model" : "m1", "messages":[{"role":"user","content":"hi \"there\""}]})");
  CHECK((*spans)[0].response == R"({"n":1.50,"s":"\u00e9"})");
  CHECK((*spans)[0].metadata == R"({"app" : "x"})");
  CHECK((*spans)[1].request.empty());  // not an object
  CHECK((*spans)[2].request.empty());  // escaped key: not trusted, the tree is dumped instead
  CHECK((*spans)[3].request == R"("plain")");

  const auto& traces = parsed.value["traces"];
  storage::record_write w;
  ingest::field_error err;
  REQUIRE(ingest::parse_trace(traces[0], 1, w, err, &(*spans)[0]));
  CHECK(*w.request_json == (*spans)[0].request);
  CHECK(*w.response_json == (*spans)[0].response);
  CHECK(*w.metadata_json == (*spans)[0].metadata);
  CHECK(w.model == "m1");
  CHECK(w.search_text.find("hi \"there\"") != std::string::npos);
  REQUIRE(ingest::parse_trace(traces[2], 1, w, err, &(*spans)[2]));
  CHECK(*w.request_json == R"({"a":1})");
  // A plain string stays a JSON string; unknown fields still fold into metadata.
  REQUIRE(ingest::parse_trace(traces[3], 1, w, err, &(*spans)[3]));
  CHECK(*w.request_json == R"("plain")");
  CHECK(json::parse(*w.metadata_json)["extra"] == true);

  // Duplicates: the last one wins in the spans as in the tree.
  const std::string dup =
      R"({"traces":[{"request":{"a":1},"request":{"b":2}}],"traces":[{"response":[1, 2]}]})";
  auto dup_spans = ingest::scan_batch_spans(dup);
  REQUIRE(dup_spans.has_value());
  REQUIRE(dup_spans->size() == 1);
  CHECK((*dup_spans)[0].response == "[1, 2]");
  auto one = ingest::scan_trace_spans(R"({"request":{"a":1},"request":{"b" : 2}})");
  REQUIRE(one.has_value());
  CHECK(one->request == R"({"b" : 2})");
}
