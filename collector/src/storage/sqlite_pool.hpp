// The connections of one SQLite store: one writer behind a mutex (SQLite has one writer anyway; serialising
// in-process avoids busy-waiting) and a pool of read-only connections that WAL lets run beside it. Opening
// sets the pragmas (WAL, synchronous FULL, size cap) and migrates the schema; a new file is created 0600.
// In ":memory:" mode there is only the writer connection and readers share it under the same mutex.
// Thread safety: with_writer and with_reader may be called from any thread; each hands its connection to
// one caller at a time.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "storage/sqlite_connection.hpp"
#include "storage/sqlite_errors.hpp"
#include "storage/store.hpp"

namespace llmtrace::storage::sqlite {

class pool {
 public:
  // Throws std::runtime_error("cannot open database '<path>': ...") when the file cannot be opened/migrated.
  explicit pool(const sqlite_options& options);

  // f(connection&) on the writer, under the write mutex; SQLite errors mapped (sqlite_errors.hpp).
  template <class F>
  auto with_writer(F&& f) -> decltype(f(std::declval<connection&>())) {
    std::lock_guard<std::recursive_mutex> lock(write_mu_);
    return mapped([&] { return f(*writer_); });
  }

  // f(connection&) on a free reader inside one read transaction, so a page and its total come from the same
  // snapshot. Waits while every reader is busy, at most busy_timeout_ms, then throws store_busy.
  template <class F>
  auto with_reader(F&& f) -> decltype(f(std::declval<connection&>())) {
    if (memory_) return with_writer(std::forward<F>(f));
    lease l(*this);
    return mapped([&] {
      read_transaction rt(*l.c);
      return f(*l.c);
    });
  }

 private:
  // A reader checked out of the pool, given back when the lease ends.
  struct lease {
    explicit lease(pool& p);
    ~lease();
    lease(const lease&) = delete;
    lease& operator=(const lease&) = delete;
    pool& p;
    connection* c;
  };
  // BEGIN on construction; COMMIT (or ROLLBACK if anything is left open) on destruction.
  struct read_transaction {
    explicit read_transaction(connection& c);
    ~read_transaction();
    read_transaction(const read_transaction&) = delete;
    read_transaction& operator=(const read_transaction&) = delete;
    connection& c;
  };

  bool memory_ = false;
  int reader_wait_ms_ = 2000;  // longest wait for a free reader (sqlite_options::busy_timeout_ms)
  // Recursive so that a for_each_record callback in ":memory:" mode (reads share the writer) may still call
  // back into the store instead of deadlocking.
  std::recursive_mutex write_mu_;
  std::unique_ptr<connection> writer_;
  std::mutex pool_mu_;
  std::condition_variable pool_cv_;
  std::vector<std::unique_ptr<connection>> readers_;
  std::vector<connection*> free_readers_;
};

}  // namespace llmtrace::storage::sqlite
