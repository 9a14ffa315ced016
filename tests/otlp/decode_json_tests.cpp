// The OTLP/JSON decoder: camelCase and proto names, hex ids, int64 as strings or numbers, enums as numbers.
#include <doctest/doctest.h>

#include "otlp/decode.hpp"

using namespace llmtrace::otlp;

namespace {
const char* k_body =
    R"({"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"svc"}}]},
 "scopeSpans":[{"scope":{"name":"sc","version":"1"},"spans":[
  {"traceId":"5B8EFFF798038103D269B633813FC60C","spanId":"eee19b7ec3c1b174","parentSpanId":"",
   "name":"chat","kind":3,"startTimeUnixNano":"1700000000000000000","endTimeUnixNano":1700000001000000000,
   "attributes":[{"key":"i","value":{"intValue":"42"}},{"key":"n","value":{"intValue":7}},
                 {"key":"d","value":{"doubleValue":1.5}},{"key":"b","value":{"boolValue":false}},
                 {"key":"arr","value":{"arrayValue":{"values":[{"stringValue":"a"},{"intValue":"1"}]}}},
                 {"key":"kv","value":{"kvlistValue":{"values":[{"key":"k","value":{"stringValue":"v"}}]}}},
                 {"key":"bytes","value":{"bytesValue":"AQID"}},{"key":"empty","value":{}}],
   "events":[{"timeUnixNano":"5","name":"gen_ai.user.message","attributes":[]}],
   "links":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"0102030405060708"}],
   "status":{"code":2,"message":"failed"}}]}]}]})";
}  // namespace

TEST_CASE("otlp json: a span with every AnyValue form, hex ids lowercased, int64 as string or number") {
  auto r = decode_traces_json(k_body);
  REQUIRE_MESSAGE(r.ok, r.error.message);
  REQUIRE(r.value.spans.size() == 1);
  const auto& s = r.value.spans[0];
  CHECK(s.trace_id == "5b8efff798038103d269b633813fc60c");
  CHECK(s.span_id == "eee19b7ec3c1b174");
  CHECK(s.parent_span_id.empty());
  CHECK(s.kind == span_kind::client);
  CHECK(s.start_time_unix_nano == 1'700'000'000'000'000'000ull);
  CHECK(s.end_time_unix_nano == 1'700'000'001'000'000'000ull);
  CHECK(s.attributes["i"] == 42);
  CHECK(s.attributes["n"] == 7);
  CHECK(s.attributes["d"] == 1.5);
  CHECK(s.attributes["b"] == false);
  CHECK(s.attributes["arr"] == nlohmann::json::array({"a", 1}));
  CHECK(s.attributes["kv"]["k"] == "v");
  CHECK(s.attributes["bytes"] == "AQID");
  CHECK(s.attributes["empty"].is_null());
  CHECK(s.status == status_code::error);
  CHECK(s.status_message == "failed");
  REQUIRE(s.events.size() == 1);
  CHECK(s.events[0].time_unix_nano == 5);
  REQUIRE(s.links.size() == 1);
  CHECK(s.links[0].span_id == "0102030405060708");
  CHECK(r.value.resources[0]["service.name"] == "svc");
  CHECK(r.value.scopes[0].name == "sc");
}

TEST_CASE("otlp json: proto field names and enum names are accepted too") {
  auto r = decode_traces_json(
      R"({"resource_spans":[{"scope_spans":[{"spans":[{"trace_id":"5b8efff798038103d269b633813fc60c",
    "span_id":"eee19b7ec3c1b174","kind":"SPAN_KIND_SERVER","status":{"code":"STATUS_CODE_OK"}}]}]}]})");
  REQUIRE_MESSAGE(r.ok, r.error.message);
  CHECK(r.value.spans[0].kind == span_kind::server);
  CHECK(r.value.spans[0].status == status_code::ok);
}

TEST_CASE("otlp json: log records, eventName, body, ids") {
  auto r = decode_logs_json(
      R"({"resourceLogs":[{"scopeLogs":[{"logRecords":[{"timeUnixNano":"9","severityNumber":9,
    "eventName":"gen_ai.choice","body":{"kvlistValue":{"values":[{"key":"index","value":{"intValue":0}}]}},
    "traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174"}]}]}]})");
  REQUIRE_MESSAGE(r.ok, r.error.message);
  const auto& l = r.value.records.at(0);
  CHECK(l.event_name == "gen_ai.choice");
  CHECK(l.body["index"] == 0);
  CHECK(l.severity_number == 9);
  CHECK(l.span_id == "eee19b7ec3c1b174");
}

TEST_CASE("otlp json: an empty object is an empty request") {
  auto r = decode_traces_json("{}");
  REQUIRE(r.ok);
  CHECK(r.value.spans.empty());
}
