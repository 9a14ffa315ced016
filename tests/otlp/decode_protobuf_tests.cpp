// The protobuf decoder on hand-built ExportTraceServiceRequest / ExportLogsServiceRequest bytes.
#include <doctest/doctest.h>

#include <zlib.h>
#include "otlp/decode.hpp"

#include "otlp/pb.hpp"

using namespace llmtrace::otlp;
namespace pb = otlp_test::pb;

TEST_CASE("otlp protobuf: a span's ids, times, kind, status and attributes of every AnyValue type") {
  pb::span_spec s;
  s.parent = "0102030405060708";
  s.status_code = 2;
  s.status_message = "rate limited";
  s.attributes = {pb::kv("s", pb::str("text")),
                  pb::kv("b", pb::boolean(true)),
                  pb::kv("i", pb::integer(-42)),
                  pb::kv("d", pb::dbl(0.25)),
                  pb::kv("arr", pb::array({pb::str("x"), pb::integer(7)})),
                  pb::kv("map", pb::kvlist({pb::kv("inner", pb::str("v"))})),
                  pb::kv("raw", pb::bytes_field(7, std::string("\x01\x02\x03", 3)))};
  s.events = {
      pb::event("exception", 1'700'000'000'500'000'000ull, {pb::kv("exception.message", pb::str("boom"))})};
  auto r = decode_traces_protobuf(pb::traces_request({pb::span(s)}));
  REQUIRE_MESSAGE(r.ok, r.error.message);
  REQUIRE(r.value.spans.size() == 1);
  const auto& sp = r.value.spans[0];
  CHECK(sp.trace_id == "5b8efff798038103d269b633813fc60c");
  CHECK(sp.span_id == "eee19b7ec3c1b174");
  CHECK(sp.parent_span_id == "0102030405060708");
  CHECK(sp.name == "chat gpt-4o");
  CHECK(sp.kind == span_kind::client);
  CHECK(sp.start_time_unix_nano == 1'700'000'000'000'000'000ull);
  CHECK(sp.end_time_unix_nano == 1'700'000'001'500'000'000ull);
  CHECK(sp.status == status_code::error);
  CHECK(sp.status_message == "rate limited");
  CHECK(sp.attributes["s"] == "text");
  CHECK(sp.attributes["b"] == true);
  CHECK(sp.attributes["i"] == -42);
  CHECK(sp.attributes["d"] == 0.25);
  CHECK(sp.attributes["arr"] == nlohmann::json::array({"x", 7}));
  CHECK(sp.attributes["map"]["inner"] == "v");
  CHECK(sp.attributes["raw"] == "AQID");  // bytes as base64, as OTLP/JSON spells them
  REQUIRE(sp.events.size() == 1);
  CHECK(sp.events[0].name == "exception");
  CHECK(sp.events[0].attributes["exception.message"] == "boom");
  REQUIRE(r.value.resources.size() == 1);
  CHECK(r.value.resources[sp.resource_index]["service.name"] == "svc");
  CHECK(r.value.scopes[sp.scope_index].name == "my.scope");
  CHECK(r.value.scopes[sp.scope_index].version == "1.2.3");
}

TEST_CASE("otlp protobuf: unknown fields are skipped, whatever their wire type") {
  pb::span_spec s;
  std::string span =
      pb::span(s) + pb::varint_field(99, 5) + pb::fixed64_field(98, 1) + pb::bytes_field(97, "zz");
  std::string body = pb::traces_request({span}) + pb::bytes_field(42, "ignored");
  auto r = decode_traces_protobuf(body);
  REQUIRE_MESSAGE(r.ok, r.error.message);
  CHECK(r.value.spans.size() == 1);
}

TEST_CASE("otlp protobuf: an all-zero or empty parent means a root span") {
  pb::span_spec s;
  s.parent = "0000000000000000";
  auto r = decode_traces_protobuf(pb::traces_request({pb::span(s)}));
  REQUIRE(r.ok);
  CHECK(r.value.spans[0].parent_span_id.empty());
}

TEST_CASE("otlp protobuf: resource and scope may follow the spans on the wire") {
  pb::span_spec s;
  std::string scope_spans =
      pb::bytes_field(2, pb::span(s)) + pb::bytes_field(1, pb::bytes_field(1, "late.scope"));
  std::string rs = pb::bytes_field(2, scope_spans) +
                   pb::bytes_field(1, pb::bytes_field(1, pb::kv("service.name", pb::str("late"))));
  auto r = decode_traces_protobuf(pb::bytes_field(1, rs));
  REQUIRE_MESSAGE(r.ok, r.error.message);
  CHECK(r.value.resources[0]["service.name"] == "late");
  CHECK(r.value.scopes[0].name == "late.scope");
}

TEST_CASE("otlp protobuf: log records with trace and span ids, event name and a structured body") {
  auto body = pb::kvlist({pb::kv("content", pb::str("hello"))});
  auto rec =
      pb::log_record("gen_ai.user.message", body, "5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174", 5);
  auto r = decode_logs_protobuf(pb::logs_request({rec}));
  REQUIRE_MESSAGE(r.ok, r.error.message);
  REQUIRE(r.value.records.size() == 1);
  const auto& l = r.value.records[0];
  CHECK(l.event_name == "gen_ai.user.message");
  CHECK(l.body["content"] == "hello");
  CHECK(l.trace_id == "5b8efff798038103d269b633813fc60c");
  CHECK(l.span_id == "eee19b7ec3c1b174");
  CHECK(l.time_unix_nano == 5);
  CHECK(r.value.scopes[l.scope_index].name == "logs.scope");
}

TEST_CASE("otlp protobuf: the event name may come as the event.name attribute") {
  std::string rec =
      pb::bytes_field(5, pb::str("hi")) + pb::bytes_field(6, pb::kv("event.name", pb::str("gen_ai.choice")));
  auto r = decode_logs_protobuf(pb::logs_request({rec}));
  REQUIRE(r.ok);
  CHECK(r.value.records[0].event_name == "gen_ai.choice");
  CHECK(r.value.records[0].body == "hi");
  CHECK(r.value.records[0].trace_id.empty());
}

TEST_CASE("otlp protobuf: an empty body is an empty request") {
  auto r = decode_traces_protobuf("");
  REQUIRE(r.ok);
  CHECK(r.value.spans.empty());
}

TEST_CASE("otlp decode: gzip bodies, content types with parameters, and the encoding the reply uses") {
  pb::span_spec s;
  const std::string body = pb::traces_request({pb::span(s)});
  // gzip via zlib's own deflate with a gzip wrapper.
  z_stream zs{};
  REQUIRE(deflateInit2(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) == Z_OK);
  std::string gz(compressBound(body.size()) + 64, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(body.data()));
  zs.avail_in = static_cast<uInt>(body.size());
  zs.next_out = reinterpret_cast<Bytef*>(gz.data());
  zs.avail_out = static_cast<uInt>(gz.size());
  REQUIRE(deflate(&zs, Z_FINISH) == Z_STREAM_END);
  gz.resize(zs.total_out);
  deflateEnd(&zs);

  auto r = decode_traces(gz, "application/x-protobuf", "gzip");
  REQUIRE_MESSAGE(r.ok, r.error.message);
  CHECK(r.enc == encoding::protobuf);
  CHECK(r.value.spans.size() == 1);

  auto j = decode_traces(R"({"resourceSpans":[]})", "Application/JSON; charset=utf-8", "identity");
  REQUIRE(j.ok);
  CHECK(j.enc == encoding::json);

  auto truncated = decode_traces(gz.substr(0, gz.size() / 2), "application/x-protobuf", "gzip");
  CHECK_FALSE(truncated.ok);
  CHECK(truncated.error.http_status == 400);
  CHECK(truncated.error.message.find("gzip") != std::string::npos);

  limits small;
  small.max_body_bytes = 16;
  auto bomb = decode_traces(gz, "application/x-protobuf", "gzip", small);
  CHECK_FALSE(bomb.ok);
  CHECK(bomb.error.http_status == 413);
}
