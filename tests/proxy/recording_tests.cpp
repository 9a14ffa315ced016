// The proxy recorder: records of answered calls are readable at once and none is lost at shutdown.
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
