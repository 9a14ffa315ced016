// The stores the ingest-rule conformance suite runs against, and the per-case fixture. A new store passes the
// same suite by adding one line to store_kinds() (e.g. {"postgresql", open_test_postgres}).
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

namespace llmtrace::testing {

using storage_test::temp_dir;  // a fresh directory per case, removed afterwards

inline std::unique_ptr<storage::store> open_sqlite(const std::string& path) {
  storage::sqlite_options o;
  o.path = path;
  o.read_connections = 2;
  return storage::open_sqlite_store(o);
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
  };
  return kinds;
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
