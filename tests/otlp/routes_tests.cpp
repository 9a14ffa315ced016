// The OTLP/HTTP routes on a real collector (test_collector: all routes, SQLite file, loopback HTTP): both
// encodings and gzip, the reply in the request's content type, one trace = one turn across requests, content
// log records arriving after their span, /v1/metrics, auth, and bad input answered with an OTLP Status body
// while nothing is stored and the collector keeps serving.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include <httplib.h>
#include <zlib.h>
#include <nlohmann/json.hpp>

#include "pb.hpp"
#include "support/test_support.hpp"

using namespace llmtrace;
using llmtrace::testing::test_collector;
using json = nlohmann::json;
namespace pb = otlp_test::pb;

namespace {

const std::string k_trace = "5b8efff798038103d269b633813fc60c";
const std::string k_root = "a000000000000001";
const std::string k_llm = "b000000000000002";
const std::string k_tool = "c000000000000003";

json attr(const std::string& key, const json& value) {
  json v;
  if (value.is_string())
    v = {{"stringValue", value}};
  else if (value.is_number_integer())
    v = {{"intValue", std::to_string(value.get<int64_t>())}};
  else
    v = {{"doubleValue", value}};
  return {{"key", key}, {"value", v}};
}

json json_span(const std::string& id, const std::string& parent, const std::string& name, json attributes,
               const std::string& trace = k_trace) {
  json s = {{"traceId", trace},
            {"spanId", id},
            {"name", name},
            {"kind", 3},
            {"startTimeUnixNano", "1700000000000000000"},
            {"endTimeUnixNano", "1700000001500000000"},
            {"attributes", std::move(attributes)}};
  if (!parent.empty()) s["parentSpanId"] = parent;
  return s;
}

std::string json_request(const std::vector<json>& spans) {
  json req = {{"resourceSpans",
               {{{"resource", {{"attributes", {attr("service.name", "routes-test")}}}},
                 {"scopeSpans", {{{"scope", {{"name", "test"}}}, {"spans", spans}}}}}}}};
  return req.dump();
}

json llm_attrs(const std::string& hint = {}) {
  json a = {
      attr("gen_ai.operation.name", "chat"),
      attr("gen_ai.provider.name", "openai"),
      attr("gen_ai.request.model", "gpt-4o-mini"),
      attr("gen_ai.response.model", "gpt-4o-mini-2024-07-18"),
      attr("gen_ai.usage.input_tokens", 25),
      attr("gen_ai.usage.output_tokens", 7),
      attr("gen_ai.input.messages", R"([{"role":"user","parts":[{"type":"text","content":"Weather?"}]}])"),
      attr("gen_ai.output.messages",
           R"([{"role":"assistant","parts":[{"type":"text","content":"Sunny."}],"finish_reason":"stop"}])")};
  if (!hint.empty()) a.push_back(attr("gen_ai.conversation.id", hint));
  return a;
}

std::string gzip(const std::string& in) {
  z_stream z{};
  REQUIRE(deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK);
  std::string out(compressBound(static_cast<uLong>(in.size())) + 64, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  REQUIRE(deflate(&z, Z_FINISH) == Z_STREAM_END);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

json get_json(httplib::Client& c, const std::string& path) {
  auto r = c.Get(path);
  REQUIRE(r);
  INFO(path, " -> ", r->body);
  REQUIRE(r->status == 200);
  return json::parse(r->body);
}

json records_of(httplib::Client& c, const std::string& session) {
  return get_json(c, "/api/sessions/" + session + "/records?size=100")["items"];
}

int64_t session_count(httplib::Client& c) {
  return get_json(c, "/api/stats")["sessions"].get<int64_t>();
}

}  // namespace

TEST_CASE("otlp routes: OTLP/JSON children first, then the root with a session, make one turn of a tree") {
  test_collector col;
  auto c = col.client();
  // The LLM and tool spans come first (as SimpleSpanProcessor sends them), without a session attribute.
  auto r = c->Post("/v1/traces",
                   json_request({json_span(k_llm, k_root, "chat gpt-4o-mini", llm_attrs()),
                                 json_span(k_tool, k_root, "get_weather",
                                           {attr("gen_ai.operation.name", "execute_tool"),
                                            attr("gen_ai.tool.name", "get_weather"),
                                            attr("gen_ai.tool.call.result", R"({"temp_c":21})")})}),
                   "application/json");
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->get_header_value("Content-Type") == "application/json");
  CHECK(json::parse(r->body) == json::object());  // full success: no partial_success
  r = c->Post("/v1/traces",
              json_request({json_span(k_root, "", "weather-agent",
                                      {attr("gen_ai.operation.name", "invoke_agent"),
                                       attr("gen_ai.conversation.id", "conv-json")})}),
              "application/json");
  REQUIRE(r);
  CHECK(r->status == 200);

  json recs = records_of(*c, "conv-json");
  REQUIRE(recs.size() == 3);
  for (const auto& rec : recs) {
    CHECK(rec["turn_number"] == 1);
    CHECK(rec["trace_id"] == k_trace);
  }
  json llm = get_json(*c, "/api/records/" + k_llm);
  CHECK(llm["parent_id"] == k_root);
  CHECK(llm["kind"] == "llm");
  CHECK(llm["model"] == "gpt-4o-mini-2024-07-18");
  CHECK(llm["usage"]["prompt_tokens"] == 25);
  CHECK(llm["request"]["messages"][0]["content"] == "Weather?");
  CHECK(llm["response"]["choices"][0]["message"]["content"] == "Sunny.");
  CHECK(get_json(*c, "/api/records/" + k_tool)["kind"] == "tool");
  CHECK(get_json(*c, "/api/records/" + k_root)["name"] == "weather-agent");
  // The trace-id session the children waited in is gone; only the conversation remains.
  CHECK(session_count(*c) == 1);
  auto s = get_json(*c, "/api/sessions/conv-json");
  CHECK(s["turn_count"] == 1);
  CHECK(s["record_count"] == 3);
}

TEST_CASE("otlp routes: protobuf (plain and gzip) answers protobuf, and a re-send is idempotent") {
  test_collector col;
  auto c = col.client();
  pb::span_spec root;
  root.trace_id = k_trace;
  root.span_id = k_root;
  root.name = "agent";
  root.attributes = {pb::kv("openinference.span.kind", pb::str("AGENT")),
                     pb::kv("session.id", pb::str("conv-pb"))};
  pb::span_spec llm;
  llm.trace_id = k_trace;
  llm.span_id = k_llm;
  llm.parent = k_root;
  llm.attributes = {pb::kv("openinference.span.kind", pb::str("LLM")),
                    pb::kv("llm.model_name", pb::str("gpt-4o")),
                    pb::kv("llm.token_count.prompt", pb::integer(11)),
                    pb::kv("llm.input_messages.0.message.role", pb::str("user")),
                    pb::kv("llm.input_messages.0.message.content", pb::str("hello"))};
  const std::string body = pb::traces_request({pb::span(llm), pb::span(root)});

  auto r = c->Post("/v1/traces", body, "application/x-protobuf");
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->get_header_value("Content-Type") == "application/x-protobuf");
  CHECK(r->body.empty());  // ExportTraceServiceResponse with no partial_success: zero bytes

  httplib::Headers gz = {{"Content-Encoding", "gzip"}};
  r = c->Post("/v1/traces", gz, gzip(body), "application/x-protobuf");
  REQUIRE(r);
  CHECK(r->status == 200);

  json recs = records_of(*c, "conv-pb");
  REQUIRE(recs.size() == 2);
  auto s = get_json(*c, "/api/sessions/conv-pb");
  CHECK(s["turn_count"] == 1);
  CHECK(s["record_count"] == 2);
  json rec = get_json(*c, "/api/records/" + k_llm);
  CHECK(rec["request"]["messages"].size() == 1);
  CHECK(rec["parent_id"] == k_root);
}

TEST_CASE("otlp routes: content log records after their span fill its messages once") {
  test_collector col;
  auto c = col.client();
  // Older semconv: the span has no content; it comes as log records in a later request.
  json span =
      json_span(k_llm, "", "chat gpt-4o-mini",
                {attr("gen_ai.operation.name", "chat"), attr("gen_ai.system", "openai"),
                 attr("gen_ai.request.model", "gpt-4o-mini"), attr("gen_ai.conversation.id", "conv-logs")});
  auto r = c->Post("/v1/traces", json_request({span}), "application/json");
  REQUIRE(r);
  REQUIRE(r->status == 200);

  const std::string logs = pb::logs_request(
      {pb::log_record("gen_ai.user.message", pb::kvlist({pb::kv("content", pb::str("Weather?"))}), k_trace,
                      k_llm, 1),
       pb::log_record("gen_ai.choice",
                      pb::kvlist({pb::kv("index", pb::integer(0)), pb::kv("finish_reason", pb::str("stop")),
                                  pb::kv("message", pb::kvlist({pb::kv("content", pb::str("Sunny."))}))}),
                      k_trace, k_llm, 2)});
  for (int i = 0; i < 2; ++i) {  // the second time adds nothing
    r = c->Post("/v1/logs", logs, "application/x-protobuf");
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->get_header_value("Content-Type") == "application/x-protobuf");
  }
  json rec = get_json(*c, "/api/records/" + k_llm);
  REQUIRE(rec["request"]["messages"].size() == 1);
  CHECK(rec["request"]["messages"][0]["content"] == "Weather?");
  REQUIRE(rec["response"]["choices"].size() == 1);
  CHECK(rec["response"]["choices"][0]["message"]["content"] == "Sunny.");

  // Logs first, span later: held, then attached when the span arrives.
  const std::string other = "d000000000000004";
  r = c->Post(
      "/v1/logs",
      pb::logs_request({pb::log_record(
          "gen_ai.user.message", pb::kvlist({pb::kv("content", pb::str("Early?"))}), k_trace, other, 1)}),
      "application/x-protobuf");
  REQUIRE(r);
  CHECK(r->status == 200);
  json late = json_span(other, "", "chat again",
                        {attr("gen_ai.operation.name", "chat"), attr("gen_ai.request.model", "gpt-4o-mini")});
  r = c->Post("/v1/traces", json_request({late}), "application/json");
  REQUIRE(r);
  CHECK(r->status == 200);
  json rec2 = get_json(*c, "/api/records/" + other);
  REQUIRE(rec2["request"]["messages"].size() == 1);
  CHECK(rec2["request"]["messages"][0]["content"] == "Early?");
  CHECK(rec2["session_id"] == "conv-logs");  // its trace's session
}

TEST_CASE("otlp routes: /v1/metrics is accepted and dropped; auth as every /v1 route") {
  test_collector col([](config& cfg) { cfg.api_key = "k-otlp"; });
  auto anon = col.client(false);
  auto r =
      anon->Post("/v1/traces", json_request({json_span(k_llm, "", "x", llm_attrs())}), "application/json");
  REQUIRE(r);
  CHECK(r->status == 401);
  auto c = col.client();
  r = c->Post("/v1/metrics", R"({"resourceMetrics":[]})", "application/json");
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->get_header_value("Content-Type") == "application/json");
  r = c->Post("/v1/metrics", std::string(), "application/x-protobuf");
  REQUIRE(r);
  CHECK(r->status == 200);
  r = c->Post("/v1/traces", json_request({json_span(k_llm, "", "x", llm_attrs("conv-auth"))}),
              "application/json");
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(session_count(*c) == 1);
}

TEST_CASE("otlp routes: bad input gets a 4xx OTLP Status, nothing is stored half, the collector serves on") {
  test_collector col([](config& cfg) { cfg.max_body_bytes = 32u * 1024u * 1024u; });
  auto c = col.client();
  c->set_read_timeout(60, 0);
  c->set_write_timeout(60, 0);

  auto check_status = [&](const httplib::Result& r, int status) {
    REQUIRE(r);
    INFO(r->body);
    CHECK(r->status == status);
  };
  // Malformed JSON, answered as JSON google.rpc.Status.
  auto r = c->Post("/v1/traces", R"({"resourceSpans":[{)", "application/json");
  check_status(r, 400);
  json st = json::parse(r->body);
  CHECK(st["code"] == 3);
  CHECK_FALSE(st["message"].get<std::string>().empty());
  // Malformed protobuf (a length running past the end), answered as protobuf Status.
  r = c->Post("/v1/traces", std::string("\x0a\x7f\x0a", 3), "application/x-protobuf");
  check_status(r, 400);
  CHECK(r->get_header_value("Content-Type") == "application/x-protobuf");
  CHECK(r->body.size() > 2);
  CHECK(r->body[0] == '\x08');  // field 1 (code), varint
  // A good span followed by one with a short id: the whole request is refused.
  json bad_id = json_span("abcd", "", "bad", json::array());
  r = c->Post("/v1/traces", json_request({json_span(k_llm, "", "ok", llm_attrs("conv-bad")), bad_id}),
              "application/json");
  check_status(r, 400);
  // Deep attribute nesting.
  json deep = {{"stringValue", "x"}};
  for (int i = 0; i < 64; ++i) deep = {{"arrayValue", {{"values", {deep}}}}};
  r = c->Post("/v1/traces", json_request({json_span(k_llm, "", "deep", {{{"key", "d"}, {"value", deep}}})}),
              "application/json");
  check_status(r, 400);
  // 100k spans in one request (over 10,000): 413.
  std::vector<std::string> spans;
  spans.reserve(100'000);
  pb::span_spec s;
  for (int i = 0; i < 100'000; ++i) {
    char id[17];
    std::snprintf(id, sizeof id, "%016x", i + 1);
    s.span_id = id;
    spans.push_back(pb::span(s));
  }
  r = c->Post("/v1/traces", pb::traces_request(spans), "application/x-protobuf");
  check_status(r, 413);
  // Unsupported content type: 415.
  r = c->Post("/v1/traces", "x", "text/plain");
  check_status(r, 415);
  // Not gzip although it says so.
  httplib::Headers gz = {{"Content-Encoding", "gzip"}};
  r = c->Post("/v1/traces", gz, "not gzip at all", "application/json");
  REQUIRE(r);
  CHECK(r->status >= 400);
  CHECK(r->status < 500);

  CHECK(session_count(*c) == 0);
  auto h = c->Get("/healthz");
  REQUIRE(h);
  CHECK(h->status == 200);
  r = c->Post("/v1/traces", json_request({json_span(k_llm, "", "ok", llm_attrs("conv-after"))}),
              "application/json");
  check_status(r, 200);
  CHECK(session_count(*c) == 1);
}
