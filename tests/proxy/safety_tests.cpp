// The /v1 proxy keeps keys secret, caps concurrent upstream calls, verifies TLS and refuses to call itself.
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

TEST_CASE("proxy: one caller (its own upstream key) cannot take every upstream slot") {
  fake_upstream f;
  auto c = std::make_unique<test_collector>([&](llmtrace::config& cfg) {
    cfg.upstream = f.base_url();
    cfg.threads = 6;  // max(2, threads - 2) = 4 upstream calls, 2 per caller
  });
  std::atomic<int> first_chunks{0};
  auto slow_call = [&] {
    stream_post(*c, "/v1/chat/completions", headers_for("proxy-share", "Bearer sk-caller-a"),
                chat_request("fake-slow", "x", true).dump(), [&](const std::string& chunk) {
                  if (chunk.find("echo") != std::string::npos) ++first_chunks;
                  return true;
                });
  };
  std::thread a(slow_call);
  std::thread b(slow_call);
  bool both_streaming = wait_until([&] { return first_chunks.load() == 2; });
  CHECK(both_streaming);
  auto third_a = c->client()->Post("/v1/chat/completions", headers_for("proxy-share", "Bearer sk-caller-a"),
                                   chat_request("m", "third").dump(), "application/json");
  auto first_b = c->client()->Post("/v1/chat/completions", headers_for("proxy-share", "Bearer sk-caller-b"),
                                   chat_request("m", "other caller").dump(), "application/json");
  f.release_slow();
  a.join();
  b.join();
  REQUIRE(third_a);
  CHECK(third_a->status == 503);
  CHECK(third_a->get_header_value("Retry-After") == "1");
  CHECK(json::parse(third_a->body)["error"]["code"] == "upstream_busy");
  REQUIRE(first_b);
  CHECK(first_b->status == 200);  // the other caller still had slots
}

TEST_CASE("proxy: an HTTPS upstream is verified against the configured CA file (--upstream-ca-file)") {
  llmtrace::test::test_pki pki;
  llmtrace::test::fake_upstream_options fo;
  fo.https = true;
  fo.cert_file = pki.server_cert;
  fo.key_file = pki.server_key;
  fake_upstream f(fo);
  // The CA comes from the config, as parsed from --upstream-ca-file or LLMTRACE_UPSTREAM_CA_FILE.
  auto collector_trusting = [&](const std::string& ca_file) {
    auto env = [&](std::string_view name) -> std::optional<std::string> {
      if (name == "LLMTRACE_UPSTREAM_CA_FILE") return ca_file;
      return std::nullopt;
    };
    const llmtrace::config parsed = llmtrace::parse_config({}, env).cfg;
    return std::make_unique<test_collector>([&](llmtrace::config& c) {
      c.upstream = f.base_url();
      c.upstream_api_key = server_key;
      c.upstream_ca_file = parsed.upstream_ca_file;
    });
  };
  {
    auto c = collector_trusting(pki.ca_file);
    auto r = c->client()->Post("/v1/chat/completions", headers_for("proxy-tls"),
                               chat_request("m", "tls").dump(), "application/json");
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(json::parse(r->body)["choices"][0]["message"]["content"] == "echo: tls");
  }
  {
    auto c = collector_trusting(pki.other_ca_file);
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
