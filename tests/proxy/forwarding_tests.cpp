// The /v1 proxy forwards calls to the configured upstream and records them: keys, sessions, errors, bad
// input.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <iterator>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "proxy/proxy_support.hpp"
#include "storage/store.hpp"

using namespace llmtrace::proxy_test;
using llmtrace::testing::wait_until;

TEST_CASE("proxy: a plain call is forwarded, answered and recorded in the header's session") {
  fake_upstream f;
  auto c = collector_for(f);
  auto r = c->client()->Post("/v1/chat/completions", headers_for("proxy-s1", "Bearer sk-caller-1"),
                             chat_request("gpt-p", "hello proxy").dump(), "application/json");
  REQUIRE(r);
  CHECK(r->status == 200);
  json answer = json::parse(r->body);
  CHECK(answer["choices"][0]["message"]["content"] == "echo: hello proxy");
  CHECK(r->get_header_value("x-request-id").rfind("req_fake_", 0) == 0);
  CHECK_FALSE(r->has_header("Set-Cookie"));

  auto got = f.last();
  CHECK(got.path == "/v1/chat/completions");
  CHECK(got.header("Authorization") == "Bearer sk-caller-1");
  CHECK(got.header("X-LLMTrace-Session-Id").empty());

  json items = session_records(*c, "proxy-s1");
  REQUIRE(items.size() == 1);
  json rec = items[0];
  CHECK(rec["status"] == "success");
  CHECK(rec["turn_number"] == 1);
  CHECK(rec["model"] == "gpt-p");
  CHECK(rec["usage"]["prompt_tokens"] == 11);
  CHECK(rec["usage"]["total_tokens"] == 16);
  CHECK(rec["request"]["messages"][0]["content"] == "hello proxy");
  CHECK(rec["response"]["choices"][0]["message"]["content"] == "echo: hello proxy");
  CHECK(rec["metadata"]["source"] == "proxy");
  CHECK(rec["metadata"]["endpoint"] == "/v1/chat/completions");
  CHECK(rec["latency_ms"].is_number());
  CHECK(r->get_header_value("X-LLMTrace-Record-Id") == rec["id"]);
  CHECK(r->get_header_value("X-LLMTrace-Session-Id") == "proxy-s1");

  // The next call in the same session is the next turn.
  r = c->client()->Post("/v1/chat/completions", headers_for("proxy-s1", "Bearer sk-caller-1"),
                        chat_request("gpt-p", "again").dump(), "application/json");
  REQUIRE(r);
  items = session_records(*c, "proxy-s1");
  REQUIRE(items.size() == 2);
  CHECK(items[1]["turn_number"] == 2);
}

TEST_CASE("proxy: the server key is used when the caller sends none; other endpoints are recorded too") {
  fake_upstream f;
  auto c = collector_for(f);
  auto r = c->client()->Post("/v1/embeddings", headers_for("proxy-emb"),
                             json{{"model", "text-embedding-3-small"}, {"input", "abc"}}.dump(),
                             "application/json");
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(f.last().path == "/v1/embeddings");
  CHECK(f.last().header("Authorization") == std::string("Bearer ") + server_key);
  json items = session_records(*c, "proxy-emb");
  REQUIRE(items.size() == 1);
  CHECK(items[0]["metadata"]["endpoint"] == "/v1/embeddings");
  CHECK(items[0]["usage"]["prompt_tokens"] == 3);

  r = c->client()->Post("/v1/completions", headers_for("proxy-emb"),
                        json{{"model", "davinci"}, {"prompt", "p"}}.dump(), "application/json");
  REQUIRE(r);
  CHECK(json::parse(r->body)["choices"][0]["text"] == "echo: p");
  r = c->client()->Post("/v1/responses", headers_for("proxy-emb"),
                        json{{"model", "gpt-r"}, {"input", "i"}}.dump(), "application/json");
  REQUIRE(r);
  CHECK(r->status == 200);
  items = session_records(*c, "proxy-emb");
  REQUIRE(items.size() == 3);
  CHECK(items[2]["usage"]["total_tokens"] == 16);
}

TEST_CASE("proxy: upstream errors are passed back unchanged and recorded as errors") {
  fake_upstream f;
  auto c = collector_for(f);
  auto r = c->client()->Post("/v1/chat/completions", headers_for("proxy-err"),
                             chat_request("fake-429", "x").dump(), "application/json");
  REQUIRE(r);
  CHECK(r->status == 429);
  CHECK(r->get_header_value("retry-after") == "1");
  json body = json::parse(r->body);
  CHECK(body["error"]["code"] == "rate_limit_exceeded");
  CHECK(body["error"]["type"] == "requests");

  // The same for a streaming request: the error arrives as the upstream's JSON, not as a stream.
  r = c->client()->Post("/v1/chat/completions", headers_for("proxy-err"),
                        chat_request("fake-500", "x", true).dump(), "application/json");
  REQUIRE(r);
  CHECK(r->status == 500);
  CHECK(json::parse(r->body)["error"]["code"] == "internal_error");

  json items = session_records(*c, "proxy-err");
  REQUIRE(items.size() == 2);
  CHECK(items[0]["status"] == "error");
  CHECK(items[0]["error_message"].get<std::string>().rfind("upstream 429: Rate limit reached", 0) == 0);
  CHECK(items[0]["metadata"]["upstream_status"] == 429);
  CHECK(items[1]["status"] == "error");
  CHECK(items[1]["error_message"].get<std::string>().rfind("upstream 500:", 0) == 0);
}

TEST_CASE("proxy: bad bodies get a JSON 400 and nothing is forwarded; an unreachable upstream is a 502") {
  fake_upstream f;
  auto c = collector_for(f);
  for (const char* bad : {"{nope", "[1,2,3]", ""}) {
    CAPTURE(bad);
    auto r = c->client()->Post("/v1/chat/completions", bad, "application/json");
    REQUIRE(r);
    CHECK(r->status == 400);
    CHECK(json::parse(r->body)["error"]["code"].is_string());
  }
  CHECK(f.request_count() == 0);

  auto down = std::make_unique<test_collector>([](llmtrace::config& cfg) {
    cfg.upstream = "http://127.0.0.1:" + std::to_string(llmtrace::testing::free_port()) + "/v1";
  });
  auto r = down->client()->Post("/v1/chat/completions", headers_for("proxy-down"),
                                chat_request("m", "x").dump(), "application/json");
  REQUIRE(r);
  CHECK(r->status == 502);
  CHECK(json::parse(r->body)["error"]["code"] == "upstream_unreachable");
  json items = session_records(*down, "proxy-down");
  REQUIRE(items.size() == 1);
  CHECK(items[0]["status"] == "error");
}

TEST_CASE("proxy: without a session header, one session per caller key per hour") {
  fake_upstream f;
  auto c = collector_for(f);
  auto call = [&](const std::string& auth) {
    auto r = c->client()->Post("/v1/chat/completions", headers_for("", auth), chat_request("m", "x").dump(),
                               "application/json");
    REQUIRE(r);
    REQUIRE(r->status == 200);
  };
  call("Bearer sk-key-a-0000001");
  call("Bearer sk-key-a-0000001");
  call("Bearer sk-key-b-0000002");
  auto r = c->client()->Get("/api/sessions");
  REQUIRE(r);
  json sessions = json::parse(r->body)["items"];
  REQUIRE(sessions.size() == 2);
  std::map<int64_t, int> by_count;
  for (const auto& s : sessions) {
    CHECK(s["id"].get<std::string>().rfind("proxy-", 0) == 0);
    CHECK(s["id"].get<std::string>().find("sk-key") == std::string::npos);
    by_count[s["record_count"].get<int64_t>()]++;
  }
  CHECK(by_count[2] == 1);
  CHECK(by_count[1] == 1);
}

TEST_CASE("proxy: with a collector API key, the caller presents it and the server's upstream key is used") {
  fake_upstream f;
  auto c = collector_for(f, server_key, "collector-key-789");
  auto r = c->client(false)->Post("/v1/chat/completions", chat_request("m", "x").dump(), "application/json");
  REQUIRE(r);
  CHECK(r->status == 401);
  CHECK(f.request_count() == 0);
  r = c->client()->Post("/v1/chat/completions", headers_for("proxy-auth"), chat_request("m", "x").dump(),
                        "application/json");
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(f.last().header("Authorization") == std::string("Bearer ") + server_key);
}

TEST_CASE("proxy: a session header with '/' or over 256 bytes is a 400") {
  fake_upstream f;
  auto c = collector_for(f);
  for (const std::string& bad : {std::string("a/b"), std::string(300, 'x')}) {
    auto r = c->client()->Post("/v1/chat/completions", headers_for(bad), chat_request("m", "x").dump(),
                               "application/json");
    REQUIRE(r);
    CHECK(r->status == 400);
    CHECK(json::parse(r->body)["error"]["field"] == "X-LLMTrace-Session-Id");
  }
  CHECK(f.request_count() == 0);
}

TEST_CASE("proxy: an empty bearer token (api_key=\"\") uses the server key") {
  fake_upstream f;
  auto c = collector_for(f);
  auto r = c->client()->Post("/v1/chat/completions", headers_for("proxy-empty", "Bearer "),
                             chat_request("m", "x").dump(), "application/json");
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(f.last().header("Authorization") == std::string("Bearer ") + server_key);
}
