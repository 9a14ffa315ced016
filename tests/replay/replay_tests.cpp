// POST /api/records/:id/replay on the full collector (real HTTP, temp-file SQLite) against the fake upstream.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "support/fake_upstream.hpp"
#include "support/test_support.hpp"

using llmtrace::test::fake_upstream;
using llmtrace::testing::test_collector;
using json = nlohmann::json;

namespace {

const char* server_key = "sk-replay-server-key-123";

std::unique_ptr<test_collector> collector_for(const fake_upstream& f, const std::string& key = server_key,
                                              const std::string& api_key = "") {
  return std::make_unique<test_collector>([&](llmtrace::config& c) {
    c.upstream = f.base_url();
    c.upstream_api_key = key;
    c.api_key = api_key;
  });
}

json chat_request(const std::string& model, const std::string& text) {
  return json{{"model", model}, {"messages", json::array({json{{"role", "user"}, {"content", text}}})}};
}

// Stores an original call through the ingest API and returns its record.
json record_original(test_collector& c, const json& request, const std::string& session = "replay-session") {
  json trace = {
      {"session_id", session},
      {"turn_number", 1},
      {"request", request},
      {"response",
       {{"choices",
         json::array({json{{"index", 0}, {"message", {{"role", "assistant"}, {"content", "old"}}}}})}}},
      {"status", "success"}};
  auto r = c.client()->Post("/api/trace", trace.dump(), "application/json");
  REQUIRE(r);
  REQUIRE(r->status / 100 == 2);
  return json::parse(r->body);
}

httplib::Result replay(test_collector& c, const std::string& id, const std::string& body) {
  return c.client()->Post("/api/records/" + id + "/replay", body, "application/json");
}

}  // namespace

TEST_CASE("replay: an edited message is sent upstream and stored as a linked record") {
  fake_upstream f;
  auto c = collector_for(f);
  json original = record_original(*c, chat_request("gpt-test", "original question"));
  json body = {{"request", chat_request("gpt-test", "edited question")}};
  auto r = replay(*c, original["id"], body.dump());
  REQUIRE(r);
  CHECK(r->status == 201);
  json rec = json::parse(r->body);
  CHECK(rec["id"] != original["id"]);
  CHECK(rec["replay_of"] == original["id"]);
  CHECK(rec["session_id"] == original["session_id"]);
  CHECK(rec["turn_number"] == original["turn_number"]);
  CHECK(rec["status"] == "success");
  CHECK(rec["response"]["choices"][0]["message"]["content"] == "echo: edited question");
  CHECK(rec["request"]["messages"][0]["content"] == "edited question");
  CHECK(rec["model"] == "gpt-test");
  CHECK(rec["usage"]["total_tokens"] == 16);
  CHECK(rec["metadata"]["source"] == "replay");
  CHECK(rec["metadata"]["endpoint"] == "/v1/chat/completions");
  CHECK(rec["latency_ms"].is_number());
  CHECK(rec["started_at"].is_string());
  CHECK(rec["ended_at"].is_string());

  auto got = f.last();
  CHECK(got.path == "/v1/chat/completions");
  CHECK(got.header("Authorization") == std::string("Bearer ") + server_key);
  CHECK(json::parse(got.body)["messages"][0]["content"] == "edited question");

  // It is stored: readable by id and listed with its session, grouped under the original's turn.
  auto g = c->client()->Get("/api/records/" + rec["id"].get<std::string>());
  REQUIRE(g);
  CHECK(g->status == 200);
  CHECK(json::parse(g->body)["replay_of"] == original["id"]);
  auto list = c->client()->Get("/api/sessions/replay-session/records");
  REQUIRE(list);
  json items = json::parse(list->body)["items"];
  REQUIRE(items.size() == 2);
  CHECK(items[0]["id"] == original["id"]);
  CHECK(items[1]["id"] == rec["id"]);
}

TEST_CASE("replay: no body, an empty object or a JSON string request") {
  fake_upstream f;
  auto c = collector_for(f);
  json original = record_original(*c, chat_request("gpt-test", "as recorded"));
  const std::string id = original["id"];

  auto r = c->client()->Post("/api/records/" + id + "/replay");
  REQUIRE(r);
  CHECK(r->status == 201);
  CHECK(json::parse(f.last().body)["messages"][0]["content"] == "as recorded");

  r = replay(*c, id, "{}");
  REQUIRE(r);
  CHECK(r->status == 201);
  CHECK(f.request_count() == 2);
  r = replay(*c, id, "{\"request\": null}");
  REQUIRE(r);
  CHECK(r->status == 201);
  CHECK(json::parse(f.last().body)["messages"][0]["content"] == "as recorded");

  // An original traced with its request as JSON text is replayed from what the text holds.
  json text_trace = {{"session_id", "replay-text"},
                     {"request", chat_request("gpt-test", "traced as text").dump()},
                     {"status", "success"}};
  auto t = c->client()->Post("/api/trace", text_trace.dump(), "application/json");
  REQUIRE(t);
  r = c->client()->Post("/api/records/" + json::parse(t->body)["id"].get<std::string>() + "/replay");
  REQUIRE(r);
  CHECK(r->status == 201);
  CHECK(json::parse(f.last().body)["messages"][0]["content"] == "traced as text");

  json as_string = {{"request", chat_request("gpt-test", "from a string").dump()}};
  r = replay(*c, id, as_string.dump());
  REQUIRE(r);
  CHECK(r->status == 201);
  CHECK(json::parse(r->body)["response"]["choices"][0]["message"]["content"] == "echo: from a string");
}

TEST_CASE("replay: a streaming request is replayed as a stream and stored assembled") {
  fake_upstream f;
  auto c = collector_for(f);
  json original = record_original(*c, chat_request("gpt-test", "q"));
  json req = chat_request("gpt-stream", "stream this please");
  req["stream"] = true;
  req["stream_options"] = {{"include_usage", true}};
  auto r = replay(*c, original["id"], json{{"request", req}}.dump());
  REQUIRE(r);
  CHECK(r->status == 201);
  json rec = json::parse(r->body);
  CHECK(rec["status"] == "success");
  CHECK(rec["response"]["object"] == "chat.completion");
  CHECK(rec["response"]["choices"][0]["message"]["content"] == "echo: stream this please");
  CHECK(rec["response"]["choices"][0]["finish_reason"] == "stop");
  CHECK(rec["usage"]["total_tokens"] == 16);
  CHECK(rec["model"] == "gpt-stream");
  CHECK(rec["metadata"]["stream"] == true);
  CHECK(rec["metadata"]["time_to_first_token_ms"].is_number());
  CHECK(json::parse(f.last().body)["stream"] == true);
}

TEST_CASE("replay: the endpoint follows the original (metadata, else the request's shape)") {
  fake_upstream f;
  auto c = collector_for(f);
  json completion = record_original(*c, json{{"model", "davinci"}, {"prompt", "Say hi"}}, "s-shape");
  auto r = replay(*c, completion["id"], "");
  REQUIRE(r);
  CHECK(r->status == 201);
  CHECK(f.last().path == "/v1/completions");
  CHECK(json::parse(r->body)["response"]["choices"][0]["text"] == "echo: Say hi");

  json emb =
      record_original(*c, json{{"model", "text-embedding-3-small"}, {"input", "vector me"}}, "s-shape2");
  r = replay(*c, emb["id"], "");
  REQUIRE(r);
  CHECK(f.last().path == "/v1/embeddings");
  CHECK(json::parse(r->body)["usage"]["prompt_tokens"] == 3);

  json resp = record_original(*c, json{{"model", "gpt-r"}, {"input", "respond"}}, "s-shape3");
  r = replay(*c, resp["id"], "");
  REQUIRE(r);
  CHECK(f.last().path == "/v1/responses");

  // Metadata naming an endpoint wins over the shape; a body can never choose the URL.
  json trace = {{"session_id", "s-meta"},
                {"request", chat_request("m", "x")},
                {"status", "success"},
                {"metadata", {{"endpoint", "/v1/responses"}, {"url", "http://evil.example/steal"}}}};
  auto t = c->client()->Post("/api/trace", trace.dump(), "application/json");
  REQUIRE(t);
  r = replay(*c, json::parse(t->body)["id"],
             json{{"request", chat_request("m", "y")}, {"url", "http://evil.example/steal"}}.dump());
  REQUIRE(r);
  CHECK(r->status == 201);
  CHECK(f.last().path == "/v1/responses");
}

TEST_CASE("replay: upstream errors are stored as error records with the upstream's status and message") {
  fake_upstream f;
  auto c = collector_for(f);
  json original = record_original(*c, chat_request("gpt-test", "q"));
  auto r = replay(*c, original["id"], json{{"request", chat_request("fake-429", "q")}}.dump());
  REQUIRE(r);
  CHECK(r->status == 201);
  json rec = json::parse(r->body);
  CHECK(rec["status"] == "error");
  CHECK(rec["replay_of"] == original["id"]);
  CHECK(rec["error_message"].get<std::string>().rfind("upstream 429: Rate limit reached", 0) == 0);
  CHECK(rec["response"]["error"]["code"] == "rate_limit_exceeded");
  CHECK(rec["metadata"]["upstream_status"] == 429);

  r = replay(*c, original["id"], json{{"request", chat_request("fake-500", "q")}}.dump());
  REQUIRE(r);
  CHECK(json::parse(r->body)["error_message"].get<std::string>().rfind("upstream 500:", 0) == 0);
}

TEST_CASE("replay: an unreachable upstream is an error record, not a failed route") {
  auto c = std::make_unique<test_collector>([](llmtrace::config& cfg) {
    cfg.upstream = "http://127.0.0.1:" + std::to_string(llmtrace::testing::free_port()) + "/v1";
    cfg.upstream_api_key = server_key;
  });
  json original = record_original(*c, chat_request("gpt-test", "q"));
  auto r = replay(*c, original["id"], "");
  REQUIRE(r);
  CHECK(r->status == 201);
  json rec = json::parse(r->body);
  CHECK(rec["status"] == "error");
  CHECK(rec["error_message"].get<std::string>().rfind("upstream unreachable", 0) == 0);
  CHECK(r->body.find(server_key) == std::string::npos);
}

TEST_CASE("replay: 503 without an upstream key, 404 for an unknown id, 400 for a bad body") {
  fake_upstream f;
  auto no_key = collector_for(f, "");
  json original = record_original(*no_key, chat_request("gpt-test", "q"));
  auto r = replay(*no_key, original["id"], "");
  REQUIRE(r);
  CHECK(r->status == 503);
  json err = json::parse(r->body);
  CHECK(err["error"]["message"].get<std::string>().find("OPENAI_API_KEY") != std::string::npos);
  CHECK(f.request_count() == 0);

  auto c = collector_for(f);
  original = record_original(*c, chat_request("gpt-test", "q"));
  const std::string id = original["id"];
  r = replay(*c, "no-such-record", "");
  REQUIRE(r);
  CHECK(r->status == 404);
  CHECK(json::parse(r->body)["error"]["code"].is_string());

  struct bad_case {
    const char* body;
    const char* field;
  };
  for (auto bc :
       {bad_case{"{not json", "body"}, bad_case{"[1,2]", "body"}, bad_case{"{\"request\": 42}", "request"},
        bad_case{"{\"request\": \"not json\"}", "request"}, bad_case{"{\"request\": \"[1]\"}", "request"},
        bad_case{"{\"request\": [1]}", "request"}}) {
    CAPTURE(bc.body);
    r = replay(*c, id, bc.body);
    REQUIRE(r);
    CHECK(r->status == 400);
    json e = json::parse(r->body);
    CHECK(e["error"]["code"].is_string());
    CHECK(e["error"]["message"].is_string());
    CHECK(e["error"]["field"] == bc.field);
  }
  CHECK(f.request_count() == 0);
}

TEST_CASE("replay: with a collector API key the route requires it") {
  fake_upstream f;
  auto c = collector_for(f, server_key, "collector-secret-key");
  json original = record_original(*c, chat_request("gpt-test", "q"));
  auto r = c->client(false)->Post("/api/records/" + original["id"].get<std::string>() + "/replay");
  REQUIRE(r);
  CHECK(r->status == 401);
  r = replay(*c, original["id"], "");
  REQUIRE(r);
  CHECK(r->status == 201);
  // The collector key is ours, never the upstream's.
  CHECK(f.last().header("Authorization") == std::string("Bearer ") + server_key);
}
