// The /v1 recording proxy on the full collector (real HTTP, temp-file SQLite) against the fake upstream.
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

#include "fake_upstream.hpp"
#include "storage/store.hpp"
#include "support/test_support.hpp"

using llmtrace::test::fake_upstream;
using llmtrace::testing::test_collector;
using llmtrace::testing::wait_until;
using json = nlohmann::json;

namespace {

const char* server_key = "sk-proxy-server-key-456";

std::unique_ptr<test_collector> collector_for(const fake_upstream& f, const std::string& key = server_key,
                                              const std::string& api_key = "") {
  return std::make_unique<test_collector>([&](llmtrace::config& c) {
    c.upstream = f.base_url();
    c.upstream_api_key = key;
    c.api_key = api_key;
  });
}

json chat_request(const std::string& model, const std::string& text, bool stream = false) {
  json j = {{"model", model}, {"messages", json::array({json{{"role", "user"}, {"content", text}}})}};
  if (stream) {
    j["stream"] = true;
    j["stream_options"] = {{"include_usage", true}};
  }
  return j;
}

httplib::Headers headers_for(const std::string& session, const std::string& authorization = "") {
  httplib::Headers h;
  if (!session.empty()) h.emplace("X-LLMTrace-Session-Id", session);
  if (!authorization.empty()) h.emplace("Authorization", authorization);
  return h;
}

json session_records(test_collector& c, const std::string& session) {
  auto r = c.client()->Get("/api/sessions/" + session + "/records");
  REQUIRE(r);
  if (r->status != 200) return json::array();
  return json::parse(r->body)["items"];
}

// A streamed POST whose chunks go to on_chunk as they arrive; returns the transport outcome.
httplib::Error stream_post(test_collector& c, const std::string& path, const httplib::Headers& headers,
                           const std::string& body, const std::function<bool(const std::string&)>& on_chunk,
                           int* status = nullptr) {
  httplib::Client client("127.0.0.1", c.port());
  client.set_read_timeout(10, 0);
  httplib::Request req;
  req.method = "POST";
  req.path = path;
  req.headers = headers;
  req.headers.emplace("Content-Type", "application/json");
  req.body = body;
  req.response_handler = [&](const httplib::Response& res) {
    if (status != nullptr) *status = res.status;
    return true;
  };
  req.content_receiver = [&](const char* d, size_t n, uint64_t, uint64_t) {
    return on_chunk(std::string(d, n));
  };
  auto result = client.send(req);
  return result.error();
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

}  // namespace

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

TEST_CASE(
    "proxy: a streamed call is passed through and stored assembled with usage and time to first token") {
  fake_upstream f;
  auto c = collector_for(f);
  std::string received;
  int status = 0;
  auto err = stream_post(
      *c, "/v1/chat/completions", headers_for("proxy-stream"),
      chat_request("gpt-s", "tell me a story", true).dump(),
      [&](const std::string& chunk) {
        received += chunk;
        return true;
      },
      &status);
  CHECK(err == httplib::Error::Success);
  CHECK(status == 200);
  CHECK(received.find("data: ") != std::string::npos);
  CHECK(received.find("\"usage\"") != std::string::npos);
  CHECK(received.find("data: [DONE]") != std::string::npos);

  json items = session_records(*c, "proxy-stream");
  REQUIRE(items.size() == 1);
  json rec = items[0];
  CHECK(rec["status"] == "success");
  CHECK(rec["response"]["object"] == "chat.completion");
  CHECK(rec["response"]["choices"][0]["message"]["content"] == "echo: tell me a story");
  CHECK(rec["usage"]["total_tokens"] == 16);
  CHECK(rec["metadata"]["stream"] == true);
  CHECK(rec["metadata"]["time_to_first_token_ms"].is_number());
}

TEST_CASE("proxy: chunks reach the client before a slow upstream finishes; the record is pending meanwhile") {
  fake_upstream f;
  auto c = collector_for(f);
  bool saw_first_while_upstream_waits = false;
  bool saw_pending = false;
  std::string received;
  bool released = false;
  auto err = stream_post(*c, "/v1/chat/completions", headers_for("proxy-slow"),
                         chat_request("fake-slow", "slow", true).dump(), [&](const std::string& chunk) {
                           received += chunk;
                           if (!released && received.find("echo") != std::string::npos) {
                             // The upstream is parked until release_slow(): whatever we hold now was not
                             // buffered.
                             // The fake parks right after sending this chunk; if the proxy buffered, it would
                             // never be parked while we already hold the chunk.
                             saw_first_while_upstream_waits = wait_until([&] { return f.slow_waiting(); });
                             json items = session_records(*c, "proxy-slow");
                             saw_pending = items.size() == 1 && items[0]["status"] == "pending";
                             released = true;
                             f.release_slow();
                           }
                           return true;
                         });
  CHECK(err == httplib::Error::Success);
  CHECK(saw_first_while_upstream_waits);
  CHECK(saw_pending);
  json items = session_records(*c, "proxy-slow");
  REQUIRE(items.size() == 1);
  CHECK(items[0]["status"] == "success");
  CHECK(items[0]["response"]["choices"][0]["message"]["content"].get<std::string>().rfind("echo more0 more1",
                                                                                          0) == 0);
}

TEST_CASE("proxy: an upstream that breaks mid-stream leaves an error record with the partial content") {
  fake_upstream f;
  auto c = collector_for(f);
  std::string received;
  auto err =
      stream_post(*c, "/v1/chat/completions", headers_for("proxy-break"),
                  chat_request("fake-break", "abcdefghijkl", true).dump(), [&](const std::string& chunk) {
                    received += chunk;
                    return true;
                  });
  // The caller sees the break too (no clean end of stream).
  CHECK(err != httplib::Error::Success);
  CHECK(received.find("[DONE]") == std::string::npos);
  json items;
  REQUIRE(wait_until([&] {
    items = session_records(*c, "proxy-break");
    return items.size() == 1 && items[0]["status"] != "pending";
  }));
  CHECK(items[0]["status"] == "error");
  CHECK(items[0]["error_message"].get<std::string>().find("stream broken") != std::string::npos);
  CHECK(items[0]["response"]["choices"][0]["message"]["content"] == "echo: ab");
}

TEST_CASE("proxy: a client that disconnects mid-stream leaves an error record with the partial content") {
  fake_upstream f;
  auto c = collector_for(f);
  std::string received;
  auto err =
      stream_post(*c, "/v1/chat/completions", headers_for("proxy-gone"),
                  chat_request("fake-slow", "bye", true).dump(), [&](const std::string& chunk) {
                    received += chunk;
                    return received.find("echo") == std::string::npos;  // hang up after the first words
                  });
  CHECK(err == httplib::Error::Canceled);
  f.release_slow();
  json items;
  REQUIRE(wait_until([&] {
    items = session_records(*c, "proxy-gone");
    return items.size() == 1 && items[0]["status"] != "pending";
  }));
  CHECK(items[0]["status"] == "error");
  CHECK(items[0]["error_message"].get<std::string>().find("client disconnected") != std::string::npos);
  CHECK(items[0]["response"]["choices"][0]["message"]["content"].get<std::string>().rfind("echo", 0) == 0);
  // The upstream call was abandoned rather than read to the end.
  CHECK(wait_until([&] { return f.slow_finished() == 1; }));
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

TEST_CASE("proxy: a unique key used as server and caller key appears in no response, log or database file") {
  std::random_device rd;
  const std::string key = "sk-llmtrace-test-" + std::to_string(rd()) + std::to_string(rd());
  std::ostringstream log;
  // Restores the default logger even when a REQUIRE below throws (the capture stream dies with this test).
  struct logger_swap {
    std::shared_ptr<spdlog::logger> previous = spdlog::default_logger();
    explicit logger_swap(std::ostringstream& out) {
      auto logger =
          std::make_shared<spdlog::logger>("capture", std::make_shared<spdlog::sinks::ostream_sink_mt>(out));
      logger->set_level(spdlog::level::trace);
      spdlog::set_default_logger(logger);
    }
    ~logger_swap() { spdlog::set_default_logger(previous); }
  };
  auto swap = std::make_unique<logger_swap>(log);

  std::string all_responses;
  {
    fake_upstream f;
    auto c = collector_for(f, key);
    auto post = [&](const httplib::Headers& h, const json& body) {
      auto r = c->client()->Post("/v1/chat/completions", h, body.dump(), "application/json");
      if (!r) return;  // the broken stream ends in a transport error for the caller
      all_responses += r->body;
      for (const auto& [k, v] : r->headers) all_responses += k + ": " + v + "\n";
    };
    post(headers_for("secret-s"), chat_request("m", "server key call"));
    post(headers_for("secret-s", "Bearer " + key), chat_request("m", "caller key call"));
    post(headers_for("", "Bearer " + key), chat_request("fake-429", "error call"));
    post(headers_for("secret-s", "Bearer " + key), chat_request("m", "streamed", true));
    post(headers_for("secret-s", "Bearer " + key), chat_request("fake-break", "broken", true));
    // An upstream that repeats the key it got, plainly, streamed and in an error.
    post(headers_for("secret-s"), chat_request("fake-echo-key", "x"));
    post(headers_for("secret-s", "Bearer " + key), chat_request("fake-echo-key", "x", true));
    post(headers_for("secret-s"), chat_request("fake-401-echo", "x"));
    CHECK(all_responses.find("you sent Bearer [redacted]") != std::string::npos);
    CHECK(f.last().header("Authorization") == "Bearer " + key);  // it did go upstream

    json items = session_records(*c, "secret-s");
    REQUIRE(items.size() >= 3);
    auto rr = c->client()->Post("/api/records/" + items[0]["id"].get<std::string>() + "/replay");
    REQUIRE(rr);
    CHECK(rr->status == 201);
    all_responses += rr->body;
    REQUIRE(wait_until([&] {
      auto s = c->client()->Get("/api/stats");
      return s && json::parse(s->body)["pending"] == 0;
    }));
    for (const char* path : {"/api/sessions", "/api/sessions/secret-s/records", "/api/search?q=call",
                             "/api/sessions/secret-s/export", "/api/stats", "/metrics"}) {
      auto g = c->client()->Get(path);
      REQUIRE(g);
      all_responses += g->body;
    }
    json sessions = json::parse(c->client()->Get("/api/sessions")->body)["items"];
    for (const auto& s : sessions) {
      auto g = c->client()->Get("/api/sessions/" + s["id"].get<std::string>() + "/records");
      REQUIRE(g);
      all_responses += g->body;
    }
    CHECK(all_responses.find("echo: caller key call") != std::string::npos);  // we did read the data

    const std::string db = c->cfg().db_path;
    std::string bytes = read_file(db) + read_file(db + "-wal") + read_file(db + "-shm");
    CHECK(bytes.size() > 0);
    CHECK(bytes.find(key) == std::string::npos);
  }
  swap.reset();
  CHECK(all_responses.find(key) == std::string::npos);
  CHECK(log.str().find(key) == std::string::npos);
  CHECK_FALSE(log.str().empty());
}

TEST_CASE("proxy: concurrent upstream calls are capped with 503 + Retry-After, and the slots come back") {
  fake_upstream f;
  auto c = std::make_unique<test_collector>([&](llmtrace::config& cfg) {
    cfg.upstream = f.base_url();
    cfg.upstream_api_key = server_key;
    cfg.threads = 4;  // limit max(2, threads - 2) = 2 upstream calls
  });
  std::atomic<int> first_chunks{0};
  auto slow_call = [&] {
    stream_post(*c, "/v1/chat/completions", headers_for("proxy-cap"),
                chat_request("fake-slow", "x", true).dump(), [&](const std::string& chunk) {
                  if (chunk.find("echo") != std::string::npos) ++first_chunks;
                  return true;
                });
  };
  std::thread a(slow_call);
  std::thread b(slow_call);
  bool both_streaming = wait_until([&] { return first_chunks.load() == 2; });
  CHECK(both_streaming);
  auto r = c->client()->Post("/v1/chat/completions", headers_for("proxy-cap"),
                             chat_request("m", "third").dump(), "application/json");
  f.release_slow();
  a.join();
  b.join();
  REQUIRE(r);
  CHECK(r->status == 503);
  CHECK(r->get_header_value("Retry-After") == "1");
  CHECK(json::parse(r->body)["error"]["code"] == "upstream_busy");
  // Both streams finished and gave their slots back.
  r = c->client()->Post("/v1/chat/completions", headers_for("proxy-cap"), chat_request("m", "fourth").dump(),
                        "application/json");
  REQUIRE(r);
  CHECK(r->status == 200);
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

TEST_CASE("proxy: a streamed responses API call is stored as the final response with its usage") {
  fake_upstream f;
  auto c = collector_for(f);
  std::string received;
  auto err = stream_post(*c, "/v1/responses", headers_for("proxy-resp"),
                         json{{"model", "gpt-r"}, {"input", "stream a response"}, {"stream", true}}.dump(),
                         [&](const std::string& chunk) {
                           received += chunk;
                           return true;
                         });
  CHECK(err == httplib::Error::Success);
  CHECK(received.find("event: response.completed") != std::string::npos);
  json items = session_records(*c, "proxy-resp");
  REQUIRE(items.size() == 1);
  CHECK(items[0]["status"] == "success");
  CHECK(items[0]["response"]["object"] == "response");
  CHECK(items[0]["response"]["output"][0]["content"][0]["text"] == "echo: stream a response");
  CHECK(items[0]["usage"]["total_tokens"] == 16);
  CHECK(items[0]["metadata"]["endpoint"] == "/v1/responses");
}

TEST_CASE("proxy: an HTTPS upstream is verified against LLMTRACE_UPSTREAM_CA_FILE") {
  llmtrace::test::test_pki pki;
  llmtrace::test::fake_upstream_options fo;
  fo.https = true;
  fo.cert_file = pki.server_cert;
  fo.key_file = pki.server_key;
  fake_upstream f(fo);
  struct env_guard {
    explicit env_guard(const std::string& v) { ::setenv("LLMTRACE_UPSTREAM_CA_FILE", v.c_str(), 1); }
    ~env_guard() { ::unsetenv("LLMTRACE_UPSTREAM_CA_FILE"); }
  };
  {
    env_guard env(pki.ca_file);
    auto c = collector_for(f);
    auto r = c->client()->Post("/v1/chat/completions", headers_for("proxy-tls"),
                               chat_request("m", "tls").dump(), "application/json");
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(json::parse(r->body)["choices"][0]["message"]["content"] == "echo: tls");
  }
  {
    env_guard env(pki.other_ca_file);
    auto c = collector_for(f);
    auto r = c->client()->Post("/v1/chat/completions", headers_for("proxy-tls-bad"),
                               chat_request("m", "x").dump(), "application/json");
    REQUIRE(r);
    CHECK(r->status == 502);
    json items = session_records(*c, "proxy-tls-bad");
    REQUIRE(items.size() == 1);
    CHECK(items[0]["status"] == "error");
    CHECK(items[0]["error_message"].get<std::string>().rfind("upstream unreachable", 0) == 0);
  }
  CHECK(f.request_count() == 1);
}

TEST_CASE("proxy: an upstream that is the collector itself is refused (508), not called in a loop") {
  const int port = llmtrace::testing::free_port();
  test_collector c([&](llmtrace::config& cfg) {
    cfg.port = port;
    cfg.upstream = "http://127.0.0.1:" + std::to_string(port) + "/v1";
    cfg.upstream_api_key = server_key;
  });
  auto r = c.client()->Post("/v1/chat/completions", headers_for("loop"), chat_request("m", "x").dump(),
                            "application/json");
  REQUIRE(r);
  CHECK(r->status == 508);
  CHECK(json::parse(r->body)["error"]["code"] == "upstream_loop");
  CHECK(session_records(c, "loop").empty());
}

TEST_CASE("proxy: calls answered back to back are all recorded and final at once, under the ids they name") {
  // Records are written by a background recorder; a read right after the answers must still see every one.
  fake_upstream f;
  auto c = collector_for(f);
  std::vector<std::string> named;
  std::atomic<int> failures{0};
  std::mutex mu;
  std::vector<std::thread> callers;
  for (int t = 0; t < 2; ++t) {
    callers.emplace_back([&, t] {
      auto cli = c->client();
      for (int i = 0; i < 15; ++i) {
        const bool stream = i % 3 == 0;
        auto body = chat_request("gpt-burst", "burst " + std::to_string(t) + "-" + std::to_string(i), stream);
        auto r =
            cli->Post("/v1/chat/completions", headers_for("proxy-burst"), body.dump(), "application/json");
        if (!r || r->status != 200) {
          ++failures;
          continue;
        }
        std::lock_guard<std::mutex> lock(mu);
        named.push_back(r->get_header_value("X-LLMTrace-Record-Id"));
      }
    });
  }
  for (auto& t : callers) t.join();
  CHECK(failures.load() == 0);
  json items = session_records(*c, "proxy-burst");  // no polling: the read waits for queued records
  REQUIRE(items.size() == 30);
  std::set<std::string> ids, expected(named.begin(), named.end());
  std::set<int64_t> turns;
  for (const auto& it : items) {
    CHECK(it["status"] == "success");
    CHECK(it["response"]["choices"][0]["message"]["content"].get<std::string>().find("burst") !=
          std::string::npos);
    ids.insert(it["id"].get<std::string>());
    turns.insert(it["turn_number"].get<int64_t>());
  }
  CHECK(ids == expected);
  CHECK(turns.size() == 30);
  auto stats = c->client()->Get("/api/stats");
  REQUIRE(stats);
  CHECK(json::parse(stats->body)["pending"] == 0);
}

TEST_CASE("proxy: records still queued when the collector stops are stored before it exits") {
  fake_upstream f;
  llmtrace::testing::temp_dir dir;
  const std::string db = dir.file("kept.db");
  std::vector<std::string> named;
  {
    test_collector c([&](llmtrace::config& cfg) {
      cfg.upstream = f.base_url();
      cfg.upstream_api_key = server_key;
      cfg.db_path = db;
    });
    auto cli = c.client();
    for (int i = 0; i < 10; ++i) {
      auto r = cli->Post("/v1/chat/completions", headers_for("proxy-stop"),
                         chat_request("gpt-stop", "stop " + std::to_string(i)).dump(), "application/json");
      REQUIRE(r);
      REQUIRE(r->status == 200);
      named.push_back(r->get_header_value("X-LLMTrace-Record-Id"));
    }
  }  // stopped and destroyed right after the last answer, without any read
  llmtrace::storage::sqlite_options so;
  so.path = db;
  auto store = llmtrace::storage::open_sqlite_store(so);
  llmtrace::storage::page_request p;
  p.size = 100;
  auto page = store->list_records("proxy-stop", p);
  REQUIRE(page.items.size() == 10);
  for (const auto& r : page.items) {
    CHECK(r.status == llmtrace::model::record_status::success);
    CHECK(std::find(named.begin(), named.end(), r.id) != named.end());
  }
}
