// Every bad-input case of the OTLP issue, in both encodings: a clean error that names the field (and, for
// protobuf, the byte offset), the right HTTP status, and never a crash or a half-decoded request.
#include <doctest/doctest.h>

#include <random>

#include "otlp/decode.hpp"
#include "otlp/pb.hpp"

using namespace llmtrace::otlp;
namespace pb = otlp_test::pb;

namespace {

template <class R>
void check_fails(const R& r, int status, std::string_view needle) {
  CHECK_FALSE(r.ok);
  CHECK(r.error.http_status == status);
  CHECK_MESSAGE(r.error.message.find(needle) != std::string::npos, r.error.message);
}

std::string nested_any(int depth) {
  std::string v = pb::str("leaf");
  for (int i = 0; i < depth; ++i) v = pb::array({v});
  return v;
}

std::string nested_json_any(int depth) {
  std::string v = R"({"stringValue":"leaf"})";
  for (int i = 0; i < depth; ++i) v = R"({"arrayValue":{"values":[)" + v + "]}}";
  return v;
}

std::string json_span(std::string_view extra) {
  return R"({"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174")" + std::string(extra) +
         "}";
}

std::string json_request(const std::string& spans) {
  return R"({"resourceSpans":[{"scopeSpans":[{"spans":[)" + spans + "]}]}]}";
}

}  // namespace

TEST_CASE("otlp bad protobuf: truncated messages and lengths past the end name the byte offset") {
  pb::span_spec s;
  const std::string good = pb::traces_request({pb::span(s)});
  check_fails(decode_traces_protobuf(good.substr(0, good.size() - 3)), 400, "at byte");
  check_fails(decode_traces_protobuf(std::string("\x0a\x05\x01", 3)), 400, "runs past the end");
  check_fails(decode_traces_protobuf(std::string("\x0a", 1)), 400, "truncated varint at byte 1");
  check_fails(decode_traces_protobuf(std::string("\x10\xff\xff\xff\xff\xff\xff\xff\xff\xff\x7f", 11)), 400,
              "overflows");
  check_fails(decode_traces_protobuf(std::string("\x13", 1)), 400, "groups");
  check_fails(decode_traces_protobuf(std::string("\x0f", 1)), 400, "invalid wire type");
}

TEST_CASE("otlp bad protobuf: a known field with the wrong wire type is refused with its path") {
  // resource_spans (1) sent as a varint.
  auto r = decode_traces_protobuf(pb::varint_field(1, 3));
  check_fails(r, 400, "wire type varint, want length-delimited");
  // A span's start time (fixed64) sent as a varint.
  std::string span = pb::bytes_field(1, pb::hex_bytes("5b8efff798038103d269b633813fc60c")) +
                     pb::bytes_field(2, pb::hex_bytes("eee19b7ec3c1b174")) + pb::varint_field(7, 1);
  auto r2 = decode_traces_protobuf(pb::traces_request({span}));
  check_fails(r2, 400, "want fixed64");
  CHECK(r2.error.field == "resource_spans[0].scope_spans[0].spans[0].start_time_unix_nano");
}

TEST_CASE("otlp bad protobuf: ids of the wrong length, missing or all zero") {
  pb::span_spec s;
  s.trace_id = "5b8efff798038103d269b633813fc6";  // 15 bytes
  auto r = decode_traces_protobuf(pb::traces_request({pb::span(s)}));
  check_fails(r, 400, "trace id has 15 bytes, want 16");
  CHECK(r.error.field == "resource_spans[0].scope_spans[0].spans[0].trace_id");

  pb::span_spec z;
  z.span_id = "0000000000000000";
  check_fails(decode_traces_protobuf(pb::traces_request({pb::span(z)})), 400, "all-zero span id");

  std::string no_span_id = pb::bytes_field(1, pb::hex_bytes("5b8efff798038103d269b633813fc60c"));
  check_fails(decode_traces_protobuf(pb::traces_request({no_span_id})), 400, "span id is missing");

  pb::span_spec p;
  p.parent = "01020304";
  check_fails(decode_traces_protobuf(pb::traces_request({pb::span(p)})), 400, "span id has 4 bytes, want 8");
}

TEST_CASE("otlp bad protobuf: strings that are not UTF-8") {
  pb::span_spec s;
  s.name = "bad \xc3\x28 name";
  check_fails(decode_traces_protobuf(pb::traces_request({pb::span(s)})), 400, "UTF-8");
}

TEST_CASE("otlp bad input: more spans than the cap in one request is a 413, in both encodings") {
  // 100k spans: the issue's case. Built once, as the bytes of 100k small spans.
  pb::span_spec s;
  const std::string one = pb::bytes_field(2, pb::span(s));
  std::string scope_spans;
  scope_spans.reserve(one.size() * 100'000);
  for (int i = 0; i < 100'000; ++i) scope_spans += one;
  const std::string body = pb::bytes_field(1, pb::bytes_field(2, scope_spans));
  limits big_body;
  big_body.max_body_bytes = 64u << 20;
  auto r = decode_traces(body, "application/x-protobuf", "", big_body);
  check_fails(r, 413, "more than 10000 spans");

  std::string spans;
  const std::string js = json_span("");
  for (int i = 0; i < 100'000; ++i) spans += (i ? "," : "") + js;
  auto j = decode_traces(json_request(spans), "application/json", "", big_body);
  check_fails(j, 413, "more than 10000 spans");
}

TEST_CASE("otlp bad input: AnyValue nested too deep, in both encodings") {
  pb::span_spec s;
  s.attributes = {pb::kv("deep", nested_any(40))};
  auto r = decode_traces_protobuf(pb::traces_request({pb::span(s)}));
  check_fails(r, 400, "nested deeper than 16");
  CHECK(r.error.field.find("spans[0].attributes[0].value.array_value") != std::string::npos);

  pb::span_spec ok;
  ok.attributes = {pb::kv("fine", nested_any(10))};
  CHECK(decode_traces_protobuf(pb::traces_request({pb::span(ok)})).ok);

  auto j = decode_traces_json(
      json_request(json_span(R"(,"attributes":[{"key":"deep","value":)" + nested_json_any(40) + "}]")));
  check_fails(j, 400, "nested deeper");
  // Far deeper than any limit: the JSON parser's own limit answers, without recursion.
  std::string very(100'000, '[');
  check_fails(decode_traces_json(very), 400, "nested deeper");
}

TEST_CASE("otlp bad input: a huge attribute value is a 413 naming the field") {
  limits lim;
  lim.max_value_bytes = 1000;
  pb::span_spec s;
  s.attributes = {pb::kv("big", pb::str(std::string(5000, 'x')))};
  auto r = decode_traces_protobuf(pb::traces_request({pb::span(s)}), lim);
  check_fails(r, 413, "5000 bytes is over the limit of 1000");
  CHECK(r.error.field.find("attributes[0].value.string_value") != std::string::npos);

  auto j =
      decode_traces_json(json_request(json_span(R"(,"attributes":[{"key":"big","value":{"stringValue":")" +
                                                std::string(5000, 'x') + "\"}}]")),
                         lim);
  check_fails(j, 413, "over the limit");
}

TEST_CASE("otlp bad json: malformed text, wrong types and wrong ids say which field") {
  check_fails(decode_traces_json("{\"resourceSpans\":["), 400, "malformed JSON");
  check_fails(decode_traces_json("[]"), 400, "must be an object");
  check_fails(decode_traces_json(R"({"resourceSpans":{}})"), 400, "must be an array");

  auto wrong_len = decode_traces_json(json_request(R"({"traceId":"5b8e","spanId":"eee19b7ec3c1b174"})"));
  check_fails(wrong_len, 400, "trace id has 4 hex digits, want 32");
  CHECK(wrong_len.error.field == "resourceSpans[0].scopeSpans[0].spans[0].traceId");

  // base64 ids (the protobuf JSON default) are not what OTLP/JSON sends.
  check_fails(decode_traces_json(
                  json_request(R"({"traceId":"W47/95gDgQPSabYzgT/GDA==","spanId":"eee19b7ec3c1b174"})")),
              400, "trace id");
  check_fails(decode_traces_json(json_request(
                  R"({"traceId":"5b8efff798038103d269b633813fc60z","spanId":"eee19b7ec3c1b174"})")),
              400, "not hex");
  check_fails(decode_traces_json(json_request(R"({"spanId":"eee19b7ec3c1b174"})")), 400,
              "trace id is missing");
  check_fails(decode_traces_json(json_request(json_span(R"(,"name":5)"))), 400, "name: must be a string");
  check_fails(decode_traces_json(json_request(json_span(R"(,"startTimeUnixNano":"12ab")"))), 400,
              "decimal string");
  check_fails(decode_traces_json(json_request(json_span(R"(,"startTimeUnixNano":-1)"))), 400, "negative");
  check_fails(decode_traces_json(json_request(json_span(R"(,"kind":"SPAN_KIND_NOPE")"))), 400,
              "unknown enum");
  check_fails(decode_traces_json(
                  json_request(json_span(R"(,"attributes":[{"key":"i","value":{"intValue":"1.5"}}])"))),
              400, "64-bit integer");
  check_fails(decode_traces_json(json_request(json_span(R"(,"attributes":{})"))), 400,
              "attributes: must be an array");
  check_fails(decode_traces_json(
                  json_request(json_span(R"(,"attributes":[{"key":"k","value":{"boolValue":"yes"}}])"))),
              400, "boolValue");
}

TEST_CASE("otlp decode: unsupported content type or encoding is a 415, an oversized body a 413") {
  check_fails(decode_traces("{}", "text/plain", ""), 415, "Content-Type");
  check_fails(decode_traces("{}", "", ""), 415, "Content-Type");
  check_fails(decode_traces("{}", "application/json", "br"), 415, "Content-Encoding");
  limits lim;
  lim.max_body_bytes = 10;
  check_fails(decode_traces(std::string(100, ' '), "application/json", "", lim), 413, "over the limit");
  check_fails(decode_logs("garbage", "application/x-protobuf", "gzip"), 400, "gzip");
}

TEST_CASE("otlp bad input: random and mutated bodies never crash and always explain a refusal") {
  pb::span_spec s;
  s.attributes = {pb::kv("k", pb::kvlist({pb::kv("a", pb::array({pb::str("x"), pb::dbl(1)}))}))};
  const std::string good = pb::traces_request({pb::span(s)});
  const std::string good_json =
      json_request(json_span(R"(,"attributes":[{"key":"k","value":{"intValue":"1"}}])"));
  std::mt19937 rng(12345);
  for (int i = 0; i < 3000; ++i) {
    std::string m = i % 2 ? good : good_json;
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) m[rng() % m.size()] = static_cast<char>(rng() & 0xff);
    if (rng() % 4 == 0) m.resize(rng() % m.size());
    auto t = decode_traces_protobuf(m);
    auto l = decode_logs_protobuf(m);
    auto tj = decode_traces_json(m);
    if (!t.ok) CHECK_FALSE(t.error.message.empty());
    if (!l.ok) CHECK_FALSE(l.error.message.empty());
    if (!tj.ok) CHECK_FALSE(tj.error.message.empty());
  }
}
