// GenAI mapping per dialect: OTel GenAI semconv (current and older, content as events or log records),
// OpenLLMetry, OpenInference; kinds, status, session hints, and that no message is ever shown twice.
#include <doctest/doctest.h>

#include "otlp/genai_map.hpp"

using namespace llmtrace::otlp;
using nlohmann::json;

namespace {

span base_span(json attributes) {
  span s;
  s.trace_id = "5b8efff798038103d269b633813fc60c";
  s.span_id = "eee19b7ec3c1b174";
  s.parent_span_id = "0102030405060708";
  s.name = "chat gpt-4o";
  s.kind = span_kind::client;
  s.start_time_unix_nano = 1'700'000'000'000'000'000ull;
  s.end_time_unix_nano = 1'700'000'001'250'000'000ull;
  s.attributes = std::move(attributes);
  return s;
}

record_draft map(const span& s, const std::vector<const log_record*>* logs = nullptr) {
  return map_span(s, json{{"service.name", "svc"}}, scope_info{"scope", "1", json::object()}, logs);
}

const json k_input = json::array({
    {{"role", "user"}, {"parts", json::array({{{"type", "text"}, {"content", "Weather in Paris?"}}})}},
    {{"role", "assistant"},
     {"parts", json::array({{{"type", "tool_call"},
                             {"id", "call_1"},
                             {"name", "get_weather"},
                             {"arguments", {{"city", "Paris"}}}}})}},
    {{"role", "tool"},
     {"parts", json::array({{{"type", "tool_call_response"}, {"id", "call_1"}, {"response", "21C"}}})}},
});
const json k_output = json::array({{{"role", "assistant"},
                                    {"parts", json::array({{{"type", "text"}, {"content", "It is 21C."}}})},
                                    {"finish_reason", "stop"}}});

}  // namespace

TEST_CASE("genai map: the span's own fields (ids, tree, times, latency, metadata with resource and scope)") {
  auto d = map(base_span({{"http.method", "POST"}}));
  CHECK(d.id == "eee19b7ec3c1b174");
  CHECK(d.trace_id == "5b8efff798038103d269b633813fc60c");
  CHECK(d.parent_id == "0102030405060708");
  CHECK(d.name == "chat gpt-4o");
  CHECK(d.kind == "other");
  CHECK(d.started_at_ms == 1'700'000'000'000);
  CHECK(d.ended_at_ms == 1'700'000'001'250);
  CHECK(d.latency_ms == doctest::Approx(1250.0));
  CHECK(d.status == llmtrace::model::record_status::success);
  CHECK(d.metadata["http.method"] == "POST");
  CHECK(d.metadata["otel.resource"]["service.name"] == "svc");
  CHECK(d.metadata["otel.scope"]["name"] == "scope");
  CHECK(d.metadata["otel.span_kind"] == "client");
  CHECK(d.request.is_null());
  CHECK(d.dialect.empty());
}

TEST_CASE("genai map: OTel semconv current, structured messages, tools, parameters, usage, session") {
  json a = {
      {"gen_ai.operation.name", "chat"},
      {"gen_ai.provider.name", "openai"},
      {"gen_ai.request.model", "gpt-4o"},
      {"gen_ai.response.model", "gpt-4o-2024-08-06"},
      {"gen_ai.response.id", "chatcmpl-1"},
      {"gen_ai.request.temperature", 0.3},
      {"gen_ai.request.max_tokens", 200},
      {"gen_ai.request.top_p", 0.9},
      {"gen_ai.usage.input_tokens", 30},
      {"gen_ai.usage.output_tokens", 5},
      {"gen_ai.conversation.id", "conv-42"},
      {"gen_ai.system_instructions", json::array({{{"type", "text"}, {"content", "Be brief."}}})},
      {"gen_ai.input.messages", k_input},
      {"gen_ai.output.messages", k_output},
      {"gen_ai.tool.definitions",
       json::array({{{"type", "function"}, {"name", "get_weather"}, {"parameters", {{"type", "object"}}}}})}};
  auto d = map(base_span(a));
  CHECK(d.kind == "llm");
  CHECK(d.dialect == "otel_genai");
  CHECK(d.model == "gpt-4o-2024-08-06");
  CHECK(d.usage.prompt_tokens == 30);
  CHECK(d.usage.completion_tokens == 5);
  CHECK(d.usage.total_tokens == 35);
  CHECK(d.session_hint == "conv-42");
  const json& req = d.request;
  CHECK(req["model"] == "gpt-4o");
  CHECK(req["temperature"] == 0.3);
  CHECK(req["max_tokens"] == 200);
  CHECK(req["top_p"] == 0.9);
  REQUIRE(req["messages"].size() == 4);
  CHECK(req["messages"][0] == json{{"role", "system"}, {"content", "Be brief."}});
  CHECK(req["messages"][1] == json{{"role", "user"}, {"content", "Weather in Paris?"}});
  CHECK(req["messages"][2]["role"] == "assistant");
  CHECK(req["messages"][2]["content"].is_null());
  CHECK(req["messages"][2]["tool_calls"][0]["function"]["name"] == "get_weather");
  CHECK(req["messages"][2]["tool_calls"][0]["function"]["arguments"] == R"({"city":"Paris"})");
  CHECK(req["messages"][3] == json{{"role", "tool"}, {"tool_call_id", "call_1"}, {"content", "21C"}});
  CHECK(req["tools"][0]["function"]["name"] == "get_weather");
  const json& resp = d.response;
  CHECK(resp["id"] == "chatcmpl-1");
  CHECK(resp["object"] == "chat.completion");
  CHECK(resp["choices"][0]["message"]["content"] == "It is 21C.");
  CHECK(resp["choices"][0]["finish_reason"] == "stop");
  CHECK(resp["usage"]["total_tokens"] == 35);
}

TEST_CASE("genai map: OTel semconv current with messages as JSON strings") {
  json a = {{"gen_ai.operation.name", "chat"},
            {"gen_ai.request.model", "gpt-4o"},
            {"gen_ai.input.messages", k_input.dump()},
            {"gen_ai.output.messages", k_output.dump()},
            {"gen_ai.system_instructions", R"([{"type":"text","content":"Be brief."}])"}};
  auto d = map(base_span(a));
  CHECK(d.request["messages"].size() == 4);
  CHECK(d.request["messages"][0]["content"] == "Be brief.");
  CHECK(d.response["choices"][0]["message"]["content"] == "It is 21C.");
}

TEST_CASE("genai map: older semconv, content as span events, gen_ai.system and prompt/completion tokens") {
  span s = base_span({{"gen_ai.system", "openai"},
                      {"gen_ai.request.model", "gpt-4"},
                      {"gen_ai.usage.prompt_tokens", 12},
                      {"gen_ai.usage.completion_tokens", 3}});
  s.events.push_back({"gen_ai.system.message", 1, {{"content", "sys"}}});
  s.events.push_back({"gen_ai.user.message", 2, {{"content", "hi"}}});
  s.events.push_back(
      {"gen_ai.choice", 3, {{"index", 0}, {"finish_reason", "stop"}, {"message", {{"content", "hello"}}}}});
  s.events.push_back({"exception", 4, {{"exception.message", "not content"}}});
  auto d = map(s);
  CHECK(d.kind == "llm");
  CHECK(d.usage.prompt_tokens == 12);
  CHECK(d.usage.completion_tokens == 3);
  CHECK(d.usage.total_tokens == 15);
  REQUIRE(d.request["messages"].size() == 2);
  CHECK(d.request["messages"][0] == json{{"role", "system"}, {"content", "sys"}});
  CHECK(d.request["messages"][1] == json{{"role", "user"}, {"content", "hi"}});
  CHECK(d.response["choices"][0]["message"] == json{{"role", "assistant"}, {"content", "hello"}});
  CHECK(d.response["choices"][0]["finish_reason"] == "stop");
  // Content events become messages; other events stay in metadata.
  REQUIRE(d.metadata["otel.events"].size() == 1);
  CHECK(d.metadata["otel.events"][0]["name"] == "exception");
}

TEST_CASE("genai map: older semconv, content as log records with tool calls and tool results") {
  span s = base_span({{"gen_ai.operation.name", "chat"}, {"gen_ai.request.model", "gpt-4o-mini"}});
  log_record user, assistant, tool, choice;
  user.event_name = "gen_ai.user.message";
  user.body = {{"content", "Weather?"}};
  user.time_unix_nano = 1;
  assistant.event_name = "gen_ai.assistant.message";
  assistant.body = {
      {"tool_calls", json::array({{{"id", "c1"},
                                   {"type", "function"},
                                   {"function", {{"name", "get_weather"}, {"arguments", "{}"}}}}})}};
  assistant.time_unix_nano = 2;
  tool.event_name = "gen_ai.tool.message";
  tool.body = {{"content", "21C"}, {"id", "c1"}};
  tool.time_unix_nano = 3;
  choice.event_name = "gen_ai.choice";
  choice.body = {{"index", 0}, {"finish_reason", "stop"}, {"message", {{"content", "21C in Paris"}}}};
  choice.time_unix_nano = 0;  // choices go after the prompt whatever their clock says
  std::vector<const log_record*> logs = {&choice, &user, &assistant, &tool};
  auto d = map(s, &logs);
  REQUIRE(d.request["messages"].size() == 3);
  CHECK(d.request["messages"][0]["role"] == "user");
  CHECK(d.request["messages"][1]["tool_calls"][0]["function"]["name"] == "get_weather");
  CHECK(d.request["messages"][2] == json{{"role", "tool"}, {"content", "21C"}, {"tool_call_id", "c1"}});
  CHECK(d.response["choices"][0]["message"]["content"] == "21C in Paris");
}

TEST_CASE("genai map: a message sent both as attribute and as event or log record appears once") {
  span s = base_span({{"gen_ai.operation.name", "chat"},
                      {"gen_ai.request.model", "gpt-4o"},
                      {"gen_ai.input.messages", k_input},
                      {"gen_ai.output.messages", k_output}});
  s.events.push_back({"gen_ai.user.message", 1, {{"content", "Weather in Paris?"}}});
  s.events.push_back({"gen_ai.choice", 2, {{"index", 0}, {"message", {{"content", "It is 21C."}}}}});
  log_record dup;
  dup.event_name = "gen_ai.user.message";
  dup.body = {{"content", "Weather in Paris?"}};
  std::vector<const log_record*> logs = {&dup};
  auto d = map(s, &logs);
  CHECK(d.request["messages"].size() == 3);
  CHECK(d.response["choices"].size() == 1);

  // A later /v1/logs request does not add what the span already had either.
  json req = d.request, resp = d.response;
  CHECK_FALSE(apply_content_logs(req, resp, logs));
  CHECK(req["messages"].size() == 3);
}

TEST_CASE("genai map: content that arrives after its span fills an empty request once") {
  span s = base_span({{"gen_ai.operation.name", "chat"}, {"gen_ai.request.model", "gpt-4o"}});
  auto d = map(s);
  CHECK(d.request["messages"].empty());
  log_record user, choice;
  user.event_name = "gen_ai.user.message";
  user.body = {{"content", "late hello"}};
  choice.event_name = "gen_ai.choice";
  choice.body = {{"index", 0}, {"message", {{"content", "late answer"}}}};
  std::vector<const log_record*> logs = {&user, &choice};
  json req = d.request, resp = d.response;
  CHECK(apply_content_logs(req, resp, logs));
  CHECK(req["messages"] == json::array({{{"role", "user"}, {"content", "late hello"}}}));
  CHECK(resp["choices"][0]["message"]["content"] == "late answer");
  CHECK_FALSE(apply_content_logs(req, resp, logs));
}

TEST_CASE("genai map: OpenLLMetry flattened prompts, completions, tool calls, functions, usage, session") {
  json a = {{"llm.request.type", "chat"},
            {"gen_ai.system", "OpenAI"},
            {"gen_ai.request.model", "gpt-4o"},
            {"gen_ai.response.model", "gpt-4o-2024-08-06"},
            {"gen_ai.request.temperature", 0.7},
            {"gen_ai.usage.prompt_tokens", 20},
            {"gen_ai.usage.completion_tokens", 4},
            {"llm.usage.total_tokens", 24},
            {"traceloop.association.properties.session_id", "sess-9"},
            {"gen_ai.prompt.0.role", "system"},
            {"gen_ai.prompt.0.content", "sys"},
            {"gen_ai.prompt.1.role", "user"},
            {"gen_ai.prompt.1.content", "Weather?"},
            {"gen_ai.prompt.2.role", "assistant"},
            {"gen_ai.prompt.2.tool_calls.0.id", "c1"},
            {"gen_ai.prompt.2.tool_calls.0.name", "get_weather"},
            {"gen_ai.prompt.2.tool_calls.0.arguments", R"({"city":"Paris"})"},
            {"gen_ai.prompt.3.role", "tool"},
            {"gen_ai.prompt.3.content", "21C"},
            {"gen_ai.prompt.3.tool_call_id", "c1"},
            {"gen_ai.prompt.10.role", "user"},
            {"gen_ai.prompt.10.content", "eleventh"},
            {"gen_ai.completion.0.role", "assistant"},
            {"gen_ai.completion.0.content", "21C."},
            {"gen_ai.completion.0.finish_reason", "stop"},
            {"llm.request.functions.0.name", "get_weather"},
            {"llm.request.functions.0.description", "Weather"},
            {"llm.request.functions.0.parameters", R"({"type":"object"})"}};
  auto d = map(base_span(a));
  CHECK(d.kind == "llm");
  CHECK(d.dialect == "openllmetry");
  CHECK(d.session_hint == "sess-9");
  CHECK(d.usage.total_tokens == 24);
  const json& m = d.request["messages"];
  REQUIRE(m.size() == 5);
  CHECK(m[0]["role"] == "system");
  CHECK(m[2]["tool_calls"][0] ==
        json{{"id", "c1"},
             {"type", "function"},
             {"function", {{"name", "get_weather"}, {"arguments", R"({"city":"Paris"})"}}}});
  CHECK(m[3]["tool_call_id"] == "c1");
  CHECK(m[4]["content"] == "eleventh");  // numeric order, not text order
  CHECK(d.request["tools"][0]["function"]["parameters"] == json{{"type", "object"}});
  CHECK(d.request["temperature"] == 0.7);
  CHECK(d.response["choices"][0]["message"] == json{{"role", "assistant"}, {"content", "21C."}});
  CHECK(d.response["choices"][0]["finish_reason"] == "stop");
}

TEST_CASE("genai map: OpenInference flattened messages, invocation parameters, token counts, session") {
  json a = {{"openinference.span.kind", "LLM"},
            {"llm.model_name", "gpt-4o-2024-08-06"},
            {"llm.invocation_parameters", R"({"model":"gpt-4o","temperature":0.1,"max_tokens":50})"},
            {"llm.token_count.prompt", 11},
            {"llm.token_count.completion", 2},
            {"llm.token_count.total", 13},
            {"session.id", "oi-session"},
            {"llm.input_messages.0.message.role", "user"},
            {"llm.input_messages.0.message.contents.0.message_content.type", "text"},
            {"llm.input_messages.0.message.contents.0.message_content.text", "Weather?"},
            {"llm.output_messages.0.message.role", "assistant"},
            {"llm.output_messages.0.message.tool_calls.0.tool_call.id", "c1"},
            {"llm.output_messages.0.message.tool_calls.0.tool_call.function.name", "get_weather"},
            {"llm.output_messages.0.message.tool_calls.0.tool_call.function.arguments", "{}"},
            {"llm.tools.0.tool.json_schema", R"({"type":"function","function":{"name":"get_weather"}})"}};
  auto d = map(base_span(a));
  CHECK(d.kind == "llm");
  CHECK(d.dialect == "openinference");
  CHECK(d.model == "gpt-4o-2024-08-06");
  CHECK(d.request["model"] == "gpt-4o");
  CHECK(d.request["temperature"] == 0.1);
  CHECK(d.request["max_tokens"] == 50);
  CHECK(d.request["messages"] == json::array({{{"role", "user"}, {"content", "Weather?"}}}));
  CHECK(d.request["tools"][0]["function"]["name"] == "get_weather");
  CHECK(d.response["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "get_weather");
  CHECK(d.usage.prompt_tokens == 11);
  CHECK(d.usage.total_tokens == 13);
  CHECK(d.session_hint == "oi-session");
}

TEST_CASE("genai map: kinds from every dialect") {
  auto kind = [](json a) { return map(base_span(std::move(a))).kind; };
  CHECK(kind({{"gen_ai.operation.name", "chat"}}) == "llm");
  CHECK(kind({{"gen_ai.operation.name", "text_completion"}}) == "llm");
  CHECK(kind({{"gen_ai.operation.name", "embeddings"}}) == "embedding");
  CHECK(kind({{"gen_ai.operation.name", "execute_tool"}}) == "tool");
  CHECK(kind({{"gen_ai.operation.name", "invoke_agent"}}) == "agent");
  CHECK(kind({{"openinference.span.kind", "TOOL"}}) == "tool");
  CHECK(kind({{"openinference.span.kind", "AGENT"}}) == "agent");
  CHECK(kind({{"openinference.span.kind", "CHAIN"}}) == "chain");
  CHECK(kind({{"openinference.span.kind", "RETRIEVER"}}) == "retrieval");
  CHECK(kind({{"openinference.span.kind", "EMBEDDING"}}) == "embedding");
  CHECK(kind({{"traceloop.span.kind", "tool"}}) == "tool");
  CHECK(kind({{"traceloop.span.kind", "agent"}}) == "agent");
  CHECK(kind({{"traceloop.span.kind", "workflow"}}) == "chain");
  CHECK(kind({{"traceloop.span.kind", "task"}}) == "chain");
  CHECK(kind({{"llm.request.type", "embedding"}}) == "embedding");
  CHECK(kind({{"gen_ai.system", "openai"}}) == "llm");
  CHECK(kind({{"db.system", "postgresql"}}) == "other");
}

TEST_CASE("genai map: tool spans carry name, arguments and result") {
  auto d = map(base_span({{"gen_ai.operation.name", "execute_tool"},
                          {"gen_ai.tool.name", "get_weather"},
                          {"gen_ai.tool.call.id", "c1"},
                          {"gen_ai.tool.call.arguments", R"({"city":"Paris"})"},
                          {"gen_ai.tool.call.result", "21C"}}));
  CHECK(d.kind == "tool");
  CHECK(d.request ==
        json{{"name", "get_weather"}, {"tool_call_id", "c1"}, {"arguments", {{"city", "Paris"}}}});
  CHECK(d.response == json{{"result", "21C"}});
}

TEST_CASE("genai map: ERROR status becomes an error record with its message, else the exception's") {
  span s = base_span({{"gen_ai.operation.name", "chat"}, {"gen_ai.request.model", "gpt-4o"}});
  s.status = status_code::error;
  s.status_message = "429 rate limited";
  auto d = map(s);
  CHECK(d.status == llmtrace::model::record_status::error);
  CHECK(d.error_message == "429 rate limited");
  CHECK(d.response.is_null());

  s.status_message.clear();
  s.events.push_back({"exception", 1, {{"exception.message", "connection reset"}}});
  CHECK(map(s).error_message == "connection reset");
}

TEST_CASE("genai map: map_spans keeps request order and attaches logs by trace and span id") {
  traces_request req;
  req.resources.push_back({{"service.name", "a"}});
  req.scopes.push_back({});
  span llm = base_span({{"gen_ai.operation.name", "chat"}, {"gen_ai.request.model", "m"}});
  span other = base_span({});
  other.span_id = "1111111111111111";
  req.spans = {llm, other};
  logs_request logs;
  log_record l;
  l.trace_id = llm.trace_id;
  l.span_id = llm.span_id;
  l.event_name = "gen_ai.user.message";
  l.body = {{"content", "hi"}};
  logs.records.push_back(l);
  l.span_id = "2222222222222222";  // a span not in this request: ignored here
  logs.records.push_back(l);
  auto idx = index_content_logs(logs);
  auto drafts = map_spans(req, &idx);
  REQUIRE(drafts.size() == 2);
  CHECK(drafts[0].request["messages"].size() == 1);
  CHECK(drafts[1].id == "1111111111111111");
  CHECK(drafts[1].metadata["otel.resource"]["service.name"] == "a");
  CHECK(to_json(drafts[0])["kind"] == "llm");
}

TEST_CASE("genai map: attributes of unexpected types never throw and never invent messages") {
  json weird = {
      {"gen_ai.operation.name", "chat"},
      {"gen_ai.input.messages", json::array({{{"role", 5}, {"parts", json::array({{{"type", 7}}, "x"})}},
                                             "not a message",
                                             {{"role", "user"}, {"parts", "not parts"}}})},
      {"gen_ai.output.messages", "[not json"},
      {"gen_ai.usage.input_tokens", 1e300},
      {"gen_ai.tool.definitions", json::array({{{"type", 1}, {"name", 2}}})},
      {"gen_ai.prompt.0.role", 3},
      {"llm.input_messages.x.message.role", "user"}};
  span s = base_span(weird);
  s.events.push_back({"gen_ai.choice", 1, {{"message", "a string"}, {"index", "zero"}}});
  record_draft d;
  CHECK_NOTHROW(d = map(s));
  CHECK_FALSE(d.usage.prompt_tokens.has_value());
  CHECK(d.request["messages"].is_array());
  CHECK_NOTHROW((void)to_json(d).dump());
}
