// The SDK's OTLP/HTTP JSON export mode (options::protocol = otlp_json, libtrace/src/otlp_exporter) against
// a real collector's /v1/traces: an agent span with an LLM call and a tool call arrives as one session with
// one turn, the tree, model, tokens and messages; a plain trace() record becomes a span too; a receiver
// that refuses the body counts the batch as failed.
#include <doctest/doctest.h>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "llmtrace/llmtrace.hpp"
#include "support/test_support.hpp"

using llmtrace::testing::test_collector;
using json = nlohmann::json;

namespace {

json get_json(httplib::Client& c, const std::string& path) {
  auto r = c.Get(path);
  REQUIRE(r);
  INFO(path, " -> ", r->body);
  REQUIRE(r->status == 200);
  return json::parse(r->body);
}

llmtrace::options otlp_options(const std::string& endpoint) {
  llmtrace::options o;
  o.endpoint = endpoint;
  o.protocol = llmtrace::protocol::otlp_json;
  o.on_warning = [](std::string_view) {};
  return o;
}

const char* k_request =
    R"({"model":"gpt-4o-mini","temperature":0.2,"messages":[{"role":"system","content":"You are terse."},)"
    R"({"role":"user","content":"Weather in Paris?"}],"tools":[{"type":"function","function":{"name":"get_weather",)"
    R"("parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}]})";
const char* k_response =
    R"({"id":"chatcmpl-1","object":"chat.completion","model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,)"
    R"("message":{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function",)"
    R"("function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},"finish_reason":"tool_calls"}],)"
    R"("usage":{"prompt_tokens":25,"completion_tokens":7,"total_tokens":32}})";

}  // namespace

TEST_CASE(
    "sdk otlp_json: a span tree reaches /v1/traces as one turn with its tree, model, tokens, messages") {
  test_collector col;
  auto http = col.client();
  std::string agent_id, llm_id, tool_id, trace_id;
  {
    llmtrace::client c(otlp_options(col.base_url()));
    auto agent = c.start_span("weather-agent", llmtrace::kind::agent, "sdk-otlp-conv");
    auto llm = agent.child("chat gpt-4o-mini", llmtrace::kind::llm);
    auto tool = agent.child("get_weather", llmtrace::kind::tool);
    agent_id = agent.id();
    llm_id = llm.id();
    tool_id = tool.id();
    trace_id = agent.trace_id();
    CHECK(llm.end(k_request, k_response) == llmtrace::trace_result::ok);
    CHECK(tool.end(R"({"city":"Paris"})", R"({"temp_c":21})") == llmtrace::trace_result::ok);
    CHECK(agent.end() == llmtrace::trace_result::ok);
    REQUIRE(c.flush(std::chrono::seconds(10)) == llmtrace::flush_result::ok);
    auto st = c.stats();
    CHECK(st.sent == 3);
    CHECK(st.failed == 0);
  }
  auto s = get_json(*http, "/api/sessions/sdk-otlp-conv");
  CHECK(s["record_count"] == 3);
  CHECK(s["turn_count"] == 1);
  auto items = get_json(*http, "/api/sessions/sdk-otlp-conv/records?size=10")["items"];
  REQUIRE(items.size() == 3);
  for (const auto& r : items) CHECK(r["trace_id"] == trace_id);

  auto agent = get_json(*http, "/api/records/" + agent_id);
  CHECK(agent["kind"] == "agent");
  CHECK(agent["name"] == "weather-agent");
  CHECK(agent["parent_id"].is_null());
  auto llm = get_json(*http, "/api/records/" + llm_id);
  CHECK(llm["kind"] == "llm");
  CHECK(llm["parent_id"] == agent_id);
  CHECK(llm["model"] == "gpt-4o-mini-2024-07-18");
  CHECK(llm["usage"]["prompt_tokens"] == 25);
  CHECK(llm["usage"]["completion_tokens"] == 7);
  CHECK(llm["request"]["model"] == "gpt-4o-mini");
  CHECK(llm["request"]["temperature"] == 0.2);
  REQUIRE(llm["request"]["messages"].size() == 2);
  CHECK(llm["request"]["messages"][1]["content"] == "Weather in Paris?");
  CHECK(llm["request"]["tools"][0]["function"]["name"] == "get_weather");
  auto call = llm["response"]["choices"][0]["message"]["tool_calls"][0];
  CHECK(call["id"] == "call_1");
  CHECK(call["function"]["name"] == "get_weather");
  CHECK(json::parse(call["function"]["arguments"].get<std::string>()) == json{{"city", "Paris"}});
  CHECK(llm["response"]["choices"][0]["finish_reason"] == "tool_calls");
  CHECK(llm["started_at"].is_string());
  auto tool = get_json(*http, "/api/records/" + tool_id);
  CHECK(tool["kind"] == "tool");
  CHECK(tool["parent_id"] == agent_id);
  CHECK(tool["request"]["name"] == "get_weather");
}

TEST_CASE("sdk otlp_json: a plain trace() record becomes a span; a refused body fails the batch") {
  test_collector col([](llmtrace::config& cfg) { cfg.api_key = "k-sdk"; });
  auto http = col.client();
  {
    auto o = otlp_options(col.base_url());
    o.api_key = "k-sdk";
    llmtrace::client c(o);
    llmtrace::record r;
    r.session_id = "sdk-plain";
    r.request_json = R"({"model":"gpt-4o","messages":[{"role":"user","content":"hello"}]})";
    r.response_json = R"({"choices":[{"message":{"role":"assistant","content":"hi"}}]})";
    CHECK(c.trace(r) == llmtrace::trace_result::ok);
    REQUIRE(c.flush(std::chrono::seconds(10)) == llmtrace::flush_result::ok);
    CHECK(c.stats().sent == 1);
  }
  auto items = get_json(*http, "/api/sessions/sdk-plain/records")["items"];
  REQUIRE(items.size() == 1);
  CHECK(items[0]["request"]["messages"][0]["content"] == "hello");
  CHECK(items[0]["response"]["choices"][0]["message"]["content"] == "hi");
  {
    llmtrace::client c(otlp_options(col.base_url()));  // no key: 401, not retried
    llmtrace::record r;
    r.session_id = "sdk-nokey";
    CHECK(c.trace(r) == llmtrace::trace_result::ok);
    c.flush(std::chrono::seconds(10));
    CHECK(c.stats().failed == 1);
    CHECK(c.stats().sent == 0);
  }
}
