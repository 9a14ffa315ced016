// The /v1 proxy passes streams through chunk by chunk and records what arrived, also when a side breaks.
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
