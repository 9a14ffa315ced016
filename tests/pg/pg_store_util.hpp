// Helpers of the PostgreSQL store tests that open stores in-process: a fresh schema on the CTest run's
// server, a store on it, and a record of given search text.
#pragma once

#include <doctest/doctest.h>

#include <memory>
#include <string>

#include "model/time.hpp"
#include "storage/store.hpp"
#include "support/pg_server.hpp"

namespace llmtrace::testing {

// A record of session "t" with this search text.
inline model::record_write text_write(const std::string& id, const std::string& text) {
  model::record_write w;
  w.id = id;
  w.session_id = "t";
  w.status = model::record_status::success;
  w.request_json = R"({"model":"gpt-4o-mini","messages":[{"role":"user","content":"x"}]})";
  w.search_text = text;
  w.received_at_ms = model::now_ms();
  return w;
}

// A fresh schema on the test server (the test fails, saying why, when there is none).
inline std::string fresh_url() {
  const auto& server = test_pg_server();
  REQUIRE_MESSAGE(!server.base_url.empty(), server.problem);
  return fresh_pg_url();
}

// A store on it: 2 connections, no LISTEN; summarize: its background builder of search summaries.
inline std::unique_ptr<storage::store> open_store(const std::string& url, bool summarize = true) {
  storage::pg_options o;
  o.url = url;
  o.connections = 2;
  o.listen = false;
  o.summarize = summarize;
  return storage::open_pg_store(o);
}

}  // namespace llmtrace::testing
