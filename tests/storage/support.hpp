// Shared helpers of the SQLite store tests: temp directories, opening stores, record reports, and writing
// them through the ingest rules (the store itself only has write(fn) with persistence primitives).
#pragma once

#include <doctest/doctest.h>

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "ingest/write_rules.hpp"
#include "model/ids.hpp"
#include "model/time.hpp"
#include "storage/store.hpp"

namespace llmtrace::storage_test {

// A fresh directory per test, removed afterwards.
struct temp_dir {
  std::filesystem::path path;
  temp_dir() {
    path = std::filesystem::temp_directory_path() / ("llmtrace-storage-" + model::new_record_id());
    std::filesystem::create_directories(path);
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  std::string db() const { return (path / "test.db").string(); }
};

inline std::unique_ptr<storage::store> open_file(const temp_dir& dir, int busy_timeout_ms = 2000) {
  storage::sqlite_options o;
  o.path = dir.db();
  o.busy_timeout_ms = busy_timeout_ms;
  o.read_connections = 2;
  return storage::open_sqlite_store(o);
}

inline std::unique_ptr<storage::store> open_memory() {
  storage::sqlite_options o;
  o.path = ":memory:";
  return storage::open_sqlite_store(o);
}

inline model::record_write w_in(const std::string& session, int64_t turn = 0,
                                model::record_status status = model::record_status::success) {
  model::record_write w;
  w.session_id = session;
  w.turn_number = turn;
  w.status = status;
  w.request_json = R"({"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]})";
  w.received_at_ms = model::now_ms();
  return w;
}

inline model::record_write with_text(const std::string& session, const std::string& text,
                                     const std::string& model_name = "",
                                     model::record_status st = model::record_status::success) {
  auto w = w_in(session, 0, st);
  w.search_text = text;
  if (!model_name.empty()) w.model = model_name;
  return w;
}

inline std::vector<model::write_result> write_batch(storage::store& s,
                                                    const std::vector<model::record_write>& batch) {
  return ingest::write_batch(s, batch);
}

inline model::write_result write_one(storage::store& s, const model::record_write& w) {
  auto r = write_batch(s, {w});
  REQUIRE(r.size() == 1);
  return r[0];
}

// One integer from a read-only connection of its own (never the store's).
inline int64_t count_rows(const std::string& db_path, const std::string& sql) {
  SQLite::Database db(db_path, SQLite::OPEN_READONLY);
  SQLite::Statement q(db, sql);
  q.executeStep();
  return q.getColumn(0).getInt64();
}

}  // namespace llmtrace::storage_test
