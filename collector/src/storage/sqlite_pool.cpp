#include "storage/sqlite_pool.hpp"

#include <chrono>

#include <SQLiteCpp/Statement.h>
#include <sqlite3.h>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "storage/sqlite_schema.hpp"

namespace llmtrace::storage::sqlite {
namespace {

// A new database file is created 0600 before SQLite opens it: prompts and answers are private, and SQLite
// gives the -wal and -shm files it creates the permissions of the database file. An existing file keeps the
// permissions its owner chose.
void create_private(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd >= 0) {
    ::close(fd);
  } else if (errno != EEXIST) {
    throw std::runtime_error(std::strerror(errno));
  }
}

}  // namespace

pool::pool(const sqlite_options& options) {
  memory_ = options.path == ":memory:" || options.path.empty();
  reader_wait_ms_ = options.busy_timeout_ms > 0 ? options.busy_timeout_ms : 2000;
  const int rw_flags = SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE | SQLite::OPEN_NOMUTEX |
                       (options.path.rfind("file:", 0) == 0 ? SQLite::OPEN_URI : 0);
  try {
    if (!memory_ && !(rw_flags & SQLite::OPEN_URI)) create_private(options.path);
    writer_ = std::make_unique<connection>(memory_ ? std::string(":memory:") : options.path, rw_flags,
                                           options.busy_timeout_ms);
    auto& db = writer_->db();
    // page_size only takes effect on a new file, before WAL; larger pages suit 2 KB rows.
    db.exec("PRAGMA page_size = 16384");
    if (!memory_) {
      SQLite::Statement jm(db, "PRAGMA journal_mode = WAL");
      jm.executeStep();
    }
    // FULL: a commit is on disk before write returns (the API acks only then). Checkpoints every 4000
    // pages (64 MB) rather than 1000: the checkpoint runs inline in a commit, so fewer, larger ones cost
    // less.
    db.exec(
        "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA cache_size = -65536;"
        "PRAGMA wal_autocheckpoint = 4000; PRAGMA journal_size_limit = 134217728;"
        "PRAGMA secure_delete = FAST; PRAGMA temp_store = MEMORY;");
    sqlite_schema::migrate(db);
    if (options.max_db_bytes > 0) {
      SQLite::Statement ps(db, "PRAGMA page_size");
      ps.executeStep();
      const int64_t page = ps.getColumn(0).getInt64();
      db.exec("PRAGMA max_page_count = " + std::to_string((options.max_db_bytes + page - 1) / page));
    }
    if (!memory_) {
      const int n = options.read_connections < 1 ? 1 : options.read_connections;
      for (int i = 0; i < n; ++i) {
        auto c = std::make_unique<connection>(
            options.path, SQLite::OPEN_READONLY | SQLite::OPEN_NOMUTEX | (rw_flags & SQLite::OPEN_URI),
            options.busy_timeout_ms);
        c->db().exec("PRAGMA cache_size = -16384; PRAGMA mmap_size = 268435456; PRAGMA temp_store = MEMORY;");
        readers_.push_back(std::move(c));
        free_readers_.push_back(readers_.back().get());
      }
    }
  } catch (const std::exception& e) {
    throw std::runtime_error("cannot open database '" + options.path + "': " + e.what());
  }
}

pool::lease::lease(pool& owner) : p(owner), c(nullptr) {
  std::unique_lock<std::mutex> lock(p.pool_mu_);
  // A deadline, not an endless wait: when slow reads hold every reader, the caller gets store_busy (503 +
  // Retry-After) instead of queueing its HTTP worker behind them.
  if (!p.pool_cv_.wait_for(lock, std::chrono::milliseconds(p.reader_wait_ms_),
                           [&] { return !p.free_readers_.empty(); }))
    throw store_busy("no database reader free within " + std::to_string(p.reader_wait_ms_) + " ms");
  c = p.free_readers_.back();
  p.free_readers_.pop_back();
}

pool::lease::~lease() {
  {
    std::lock_guard<std::mutex> lock(p.pool_mu_);
    p.free_readers_.push_back(c);
  }
  p.pool_cv_.notify_one();
}

pool::read_transaction::read_transaction(connection& conn) : c(conn) {
  static const std::string k_begin = "BEGIN";
  stmt_use b(c, k_begin);
  b->exec();
}

pool::read_transaction::~read_transaction() {
  // COMMIT of a read-only transaction cannot fail for want of disk; if anything is left open, ROLLBACK makes
  // sure the connection goes back to the pool clean.
  static const std::string k_end = "COMMIT";
  stmt_use e(c, k_end);
  if (e->tryExecuteStep() != SQLITE_DONE) c.db().tryExec("ROLLBACK");
}

}  // namespace llmtrace::storage::sqlite
