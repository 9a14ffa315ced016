// One SQLite connection with its prepared-statement cache. Preparing costs more than running most of our
// statements, so each connection keeps every statement it has prepared, keyed by its SQL text.
// Not thread-safe: a connection is used by one thread at a time (the writer under its mutex, a reader while
// it is checked out of the pool).
#pragma once

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>

#include <memory>
#include <string>
#include <unordered_map>

namespace llmtrace::storage::sqlite {

class connection {
 public:
  connection(const std::string& path, int flags, int busy_timeout_ms) : db_(path, flags, busy_timeout_ms) {}

  SQLite::Database& db() { return db_; }

  // A ready-to-bind statement: reset and with cleared bindings. Keep it only within one use (see stmt_use).
  SQLite::Statement& prepare(const std::string& sql) {
    auto it = stmts_.find(sql);
    if (it == stmts_.end()) {
      it = stmts_.emplace(sql, std::make_unique<SQLite::Statement>(db_, sql)).first;
    } else {
      it->second->tryReset();
      it->second->clearBindings();
    }
    return *it->second;
  }

 private:
  SQLite::Database db_;
  std::unordered_map<std::string, std::unique_ptr<SQLite::Statement>> stmts_;
};

// Resets a cached statement when a use ends, so a half-read SELECT never pins an old WAL snapshot.
class stmt_use {
 public:
  stmt_use(connection& c, const std::string& sql) : s_(c.prepare(sql)) {}
  ~stmt_use() { s_.tryReset(); }
  stmt_use(const stmt_use&) = delete;
  stmt_use& operator=(const stmt_use&) = delete;
  SQLite::Statement* operator->() { return &s_; }
  SQLite::Statement& operator*() { return s_; }

 private:
  SQLite::Statement& s_;
};

}  // namespace llmtrace::storage::sqlite
