// Stream assembly: SSE bytes split anywhere become the response a non-streamed call would have returned.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "upstream/recording.hpp"
#include "upstream/stream_assembler.hpp"

using llmtrace::upstream::sse_parser;
using llmtrace::upstream::stream_assembler;
using json = nlohmann::json;

namespace {

std::string sse(const json& j) {
  return "data: " + j.dump() + "\n\n";
}

json chunk(const json& delta, const json& finish = nullptr, int index = 0) {
  return json{
      {"id", "chatcmpl-1"},
      {"object", "chat.completion.chunk"},
      {"created", 1700000001},
      {"model", "gpt-test"},
      {"choices", json::array({json{{"index", index}, {"delta", delta}, {"finish_reason", finish}}})}};
}

// Feeds the bytes one at a time: the harshest split.
void feed_bytewise(stream_assembler& a, const std::string& bytes) {
  int64_t t = 100;
  for (char c : bytes) a.feed(std::string_view(&c, 1), t++);
}

}  // namespace

TEST_CASE("sse: events split mid-line, CRLF and CR line ends, comments and multi-line data") {
  sse_parser p;
  std::vector<llmtrace::upstream::sse_event> out;
  p.feed(": keep-alive\r\nevent: first\r", out);
  CHECK(out.empty());
  p.feed("\ndata: a", out);
  p.feed("bc\rdata:def\r\n\r", out);
  REQUIRE(out.size() == 1);
  CHECK(out[0].event == "first");
  CHECK(out[0].data == "abc\ndef");
  p.feed("\ndata: x\n\n", out);  // this LF completes the CRLF split across feeds: no extra blank line
  REQUIRE(out.size() == 2);
  CHECK(out[1].event.empty());
  CHECK(out[1].data == "x");
}

TEST_CASE("assemble: chat content per choice, finish_reason, model, id, created and include_usage") {
  std::string bytes;
  bytes += sse(chunk(json{{"role", "assistant"}, {"content", ""}}));
  bytes += sse(chunk(json{{"content", "Hel"}}));
  bytes += sse(chunk(json{{"content", "lo, 世界"}}));
  bytes += sse(chunk(json{{"role", "assistant"}, {"content", "second"}}, nullptr, 1));
  bytes += sse(chunk(json::object(), "stop"));
  bytes += sse(chunk(json::object(), "length", 1));
  json usage_chunk = chunk(json::object());
  usage_chunk["choices"] = json::array();
  usage_chunk["usage"] = {{"prompt_tokens", 9}, {"completion_tokens", 4}, {"total_tokens", 13}};
  bytes += sse(usage_chunk);
  bytes += "data: [DONE]\n\n";

  stream_assembler a;
  feed_bytewise(a, bytes);
  CHECK(a.finished());
  json r = a.assembled();
  CHECK(r["object"] == "chat.completion");
  CHECK(r["id"] == "chatcmpl-1");
  CHECK(r["created"] == 1700000001);
  CHECK(r["model"] == "gpt-test");
  REQUIRE(r["choices"].size() == 2);
  CHECK(r["choices"][0]["message"]["role"] == "assistant");
  CHECK(r["choices"][0]["message"]["content"] == "Hello, 世界");
  CHECK(r["choices"][0]["finish_reason"] == "stop");
  CHECK(r["choices"][1]["message"]["content"] == "second");
  CHECK(r["choices"][1]["finish_reason"] == "length");
  CHECK(r["usage"]["total_tokens"] == 13);
  REQUIRE(a.first_token_ms().has_value());
  // The first non-empty content byte arrived well after the empty role chunk started.
  CHECK(*a.first_token_ms() > 100);
}

TEST_CASE("assemble: tool_call deltas merged by index (id, name, arguments concatenated)") {
  std::string bytes;
  bytes += sse(chunk(json{{"role", "assistant"}, {"content", nullptr}}));
  bytes += sse(chunk(
      json{{"tool_calls", json::array({json{{"index", 0},
                                            {"id", "call_a"},
                                            {"type", "function"},
                                            {"function", {{"name", "get_"}, {"arguments", ""}}}},
                                       json{{"index", 1},
                                            {"id", "call_b"},
                                            {"type", "function"},
                                            {"function", {{"name", "lookup"}, {"arguments", "{"}}}}})}}));
  bytes += sse(chunk(
      json{{"tool_calls",
            json::array(
                {json{{"index", 0}, {"function", {{"name", "weather"}, {"arguments", "{\"city\":"}}}}})}}));
  bytes += sse(chunk(
      json{{"tool_calls", json::array({json{{"index", 1}, {"function", {{"arguments", "}"}}}},
                                       json{{"index", 0}, {"function", {{"arguments", "\"Oslo\"}"}}}}})}}));
  bytes += sse(chunk(json::object(), "tool_calls"));
  bytes += "data: [DONE]\n\n";
  stream_assembler a;
  a.feed(bytes, 5);
  json r = a.assembled();
  json msg = r["choices"][0]["message"];
  CHECK(msg["content"].is_null());
  REQUIRE(msg["tool_calls"].size() == 2);
  CHECK(msg["tool_calls"][0]["id"] == "call_a");
  CHECK(msg["tool_calls"][0]["type"] == "function");
  CHECK(msg["tool_calls"][0]["function"]["name"] == "get_weather");
  CHECK(msg["tool_calls"][0]["function"]["arguments"] == "{\"city\":\"Oslo\"}");
  CHECK(msg["tool_calls"][1]["function"]["name"] == "lookup");
  CHECK(msg["tool_calls"][1]["function"]["arguments"] == "{}");
  CHECK(r["choices"][0]["finish_reason"] == "tool_calls");
}

TEST_CASE("assemble: /completions text chunks") {
  std::string bytes;
  for (const char* piece : {"Once", " upon", " a time"}) {
    bytes += sse(
        json{{"id", "cmpl-1"},
             {"object", "text_completion"},
             {"created", 1},
             {"model", "davinci"},
             {"choices", json::array({json{{"index", 0}, {"text", piece}, {"finish_reason", nullptr}}})}});
  }
  bytes +=
      sse(json{{"id", "cmpl-1"},
               {"object", "text_completion"},
               {"created", 1},
               {"model", "davinci"},
               {"choices", json::array({json{{"index", 0}, {"text", ""}, {"finish_reason", "length"}}})}});
  bytes += "data: [DONE]\n\n";
  stream_assembler a;
  feed_bytewise(a, bytes);
  json r = a.assembled();
  CHECK(r["object"] == "text_completion");
  CHECK(r["model"] == "davinci");
  CHECK(r["choices"][0]["text"] == "Once upon a time");
  CHECK(r["choices"][0]["finish_reason"] == "length");
}

TEST_CASE("assemble: responses API events, response.completed carries the full response") {
  json final_response = {
      {"id", "resp_1"},
      {"object", "response"},
      {"status", "completed"},
      {"model", "gpt-r"},
      {"output",
       json::array({json{{"type", "message"},
                         {"role", "assistant"},
                         {"content", json::array({json{{"type", "output_text"}, {"text", "Hi there"}}})}}})},
      {"usage", {{"input_tokens", 3}, {"output_tokens", 2}, {"total_tokens", 5}}}};
  std::string bytes;
  bytes += "event: response.created\n" +
           sse(json{{"type", "response.created"},
                    {"response", {{"id", "resp_1"}, {"status", "in_progress"}, {"output", json::array()}}}});
  bytes += "event: response.output_text.delta\n" +
           sse(json{{"type", "response.output_text.delta"}, {"delta", "Hi"}});
  stream_assembler partial;
  partial.feed(bytes, 1);
  CHECK_FALSE(partial.finished());
  // Broken before the end: what arrived is kept.
  CHECK(partial.assembled()["output"][0]["content"][0]["text"] == "Hi");
  CHECK(partial.assembled()["id"] == "resp_1");

  bytes += "event: response.output_text.delta\n" +
           sse(json{{"type", "response.output_text.delta"}, {"delta", " there"}});
  bytes +=
      "event: response.completed\n" + sse(json{{"type", "response.completed"}, {"response", final_response}});
  stream_assembler a;
  feed_bytewise(a, bytes);
  CHECK(a.finished());
  CHECK(a.assembled() == final_response);
  CHECK(a.first_token_ms().has_value());
}

TEST_CASE("assemble: an error payload in the stream is reported, junk is ignored, nothing gives null") {
  stream_assembler empty;
  CHECK(empty.assembled().is_null());
  empty.feed("data: not json\n\n: comment\n\n", 1);
  CHECK(empty.assembled().is_null());
  CHECK(empty.event_count() == 0);

  stream_assembler a;
  a.feed(sse(chunk(json{{"content", "par"}})), 1);
  a.feed(sse(json{{"error", {{"message", "overloaded"}, {"type", "server_error"}}}}), 2);
  REQUIRE(a.stream_error().has_value());
  CHECK(a.stream_error()->find("overloaded") != std::string::npos);
  CHECK(a.assembled()["choices"][0]["message"]["content"] == "par");
  CHECK_FALSE(a.finished());
}

TEST_CASE("redact: secrets split across stream chunks are replaced, other bytes flow without delay") {
  const std::string key = "sk-secret-abcdef123";
  const std::string text = "data: you sent Bearer " + key + " and again " + key + "\n\n";
  const std::string want = llmtrace::upstream::redact(text, {key});
  CHECK(want.find(key) == std::string::npos);
  CHECK(want.find("[redacted]") != std::string::npos);

  llmtrace::upstream::stream_redactor bytewise({key, "short"});
  std::string out;
  for (char c : text) out += bytewise.push(std::string_view(&c, 1));
  out += bytewise.finish();
  CHECK(out == want);

  // A chunk that cannot start a secret passes at once, whole.
  llmtrace::upstream::stream_redactor r({key});
  CHECK(r.push("data: {\"x\":1}\n\n") == "data: {\"x\":1}\n\n");
  // A tail that may begin the key is held until the next chunk decides.
  CHECK(r.push("abc sk-sec") == "abc ");
  CHECK(r.push("ond") == "sk-second");
  CHECK(r.finish().empty());
}
