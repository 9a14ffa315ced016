// The stores the ingest-rule conformance suite runs against, and the per-case fixture. A new store passes the
// same suite by adding one line to store_kinds(). PostgreSQL runs on the throwaway test server
// (support/pg_server.hpp), each store in a fresh schema; without a server binary its kind is left out with a
// message saying why.
#pragma once

#include <doctest/doctest.h>

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "ingest/ingest_service.hpp"
#include "model/ids.hpp"
#include "model/time.hpp"
#include "storage/store.hpp"
#include "storage/support.hpp"
#include "support/pg_server.hpp"

namespace llmtrace::testing {

using storage_test::temp_dir;  // a fresh directory per case, removed afterwards

inline std::unique_ptr<storage::store> open_sqlite(const std::string& path) {
  storage::sqlite_options o;
  o.path = path;
  o.read_connections = 2;
  return storage::open_sqlite_store(o);
}

inline std::unique_ptr<storage::store> open_test_pg() {
  storage::pg_options o;
  o.url = fresh_pg_url();
  // As many connections as the suite's busiest case has threads (8), so it measures the rules, not the pool.
  o.connections = 8;
  o.wait_ms = 10000;
  o.listen = false;
  return storage::open_pg_store(o);
}

struct store_kind {
  const char* name;
  // Opens an empty store; `dir` is a fresh directory the store may use for its files.
  std::function<std::unique_ptr<storage::store>(const std::filesystem::path& dir)> open;
};

inline const std::vector<store_kind>& store_kinds() {
  static const std::vector<store_kind> kinds = {
      {"sqlite-file",
       [](const std::filesystem::path& dir) { return open_sqlite((dir / "test.db").string()); }},
      {"sqlite-memory", [](const std::filesystem::path&) { return open_sqlite(":memory:"); }},
      {"postgresql", [](const std::filesystem::path&) { return open_test_pg(); }},
  };
  static const std::vector<store_kind> available = [] {
    std::vector<store_kind> out;
    for (const auto& k : kinds) {
      if (std::string(k.name) == "postgresql" && testing::test_pg_server().base_url.empty()) {
        MESSAGE("PostgreSQL store skipped: " << testing::test_pg_server().problem);
        continue;
      }
      out.push_back(k);
    }
    return out;
  }();
  return available;
}

// One store of one kind with an ingest service on it, as the collector wires them.
struct subject {
  explicit subject(const store_kind& kind, ingest::ingest_service::commit_listener on_commit = {})
      : store(kind.open(dir.path)), ingest(*store, std::move(on_commit)) {}

  // Writes through the ingest rules, one transaction per call.
  model::write_result write(const model::record_write& w) {
    auto r = ingest.write({w});
    REQUIRE(r.size() == 1);
    return r[0];
  }
  std::vector<model::write_result> write_batch(const std::vector<model::record_write>& batch) {
    return ingest.write(batch);
  }

  temp_dir dir;
  std::unique_ptr<storage::store> store;
  ingest::ingest_service ingest;
};

// Runs body(subject&) once per store kind, each on a fresh store, as a doctest subcase named after the kind.
template <class F>
void for_each_store(F&& body) {
  for (const auto& kind : store_kinds()) {
    SUBCASE(kind.name) {
      subject s(kind);
      body(s);
    }
  }
}

// A top-level report in `session` (empty: none sent) with a small chat request.
inline model::record_write report(const std::string& session, int64_t turn = 0,
                                  model::record_status status = model::record_status::success) {
  model::record_write w;
  if (!session.empty()) w.session_id = session;
  w.turn_number = turn;
  w.status = status;
  w.request_json = R"({"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]})";
  w.received_at_ms = model::now_ms();
  return w;
}

}  // namespace llmtrace::testing
