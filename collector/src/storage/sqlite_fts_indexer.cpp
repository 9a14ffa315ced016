#include "storage/sqlite_fts_indexer.hpp"

#include <SQLiteCpp/Transaction.h>
#include <spdlog/spdlog.h>

#include <string>
#include <vector>

#include "storage/fts_text.hpp"
#include "storage/sqlite_pool.hpp"

namespace llmtrace::storage::sqlite {

fts_indexer::fts_indexer(pool& p) : pool_(p) {
  // Rows left queued by a previous run (a crash, or a stop that could not drain) are indexed first: the
  // queue starts "behind" by exactly them.
  pool_.with_writer([&](connection& c) {
    int64_t highest = 0, first = 0;
    {
      stmt_use s(c, "SELECT seq FROM sqlite_sequence WHERE name = 'fts_pending'");
      if (s->executeStep()) highest = s->getColumn(0).getInt64();
    }
    {
      stmt_use s(c, "SELECT MIN(seq) FROM fts_pending");
      if (s->executeStep() && !s->getColumn(0).isNull()) first = s->getColumn(0).getInt64();
    }
    queued_.store(highest, std::memory_order_release);
    indexed_.store(first ? first - 1 : highest, std::memory_order_release);
    return 0;
  });
  worker_ = std::thread([this] { run(); });
}

fts_indexer::~fts_indexer() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  work_cv_.notify_all();
  if (worker_.joinable()) worker_.join();
}

void fts_indexer::notify(int64_t seq) {
  if (seq <= queued_.load(std::memory_order_relaxed)) return;
  queued_.store(seq, std::memory_order_release);
  {
    std::lock_guard<std::mutex> lock(mu_);  // pairs with the worker's predicate check
  }
  work_cv_.notify_one();
}

bool fts_indexer::wait_indexed(int64_t seq, std::chrono::milliseconds timeout) {
  if (indexed() >= seq) return true;
  work_cv_.notify_one();
  std::unique_lock<std::mutex> lock(mu_);
  return done_cv_.wait_for(lock, timeout, [&] { return indexed() >= seq || stop_; }) && indexed() >= seq;
}

int fts_indexer::index_batch(connection& c) {
  const int64_t target = queued();  // stable: the caller holds the writer, and notify() runs under it
  if (indexed() >= target) return 0;
  struct row {
    int64_t seq, rid;
    std::string text;
    bool merge;
  };
  std::vector<row> rows;
  rows.reserve(k_batch_rows);
  SQLite::Transaction tx(c.db(), SQLite::TransactionBehavior::IMMEDIATE);
  {
    static const std::string k_sql = "SELECT seq, rid, text, merge FROM fts_pending ORDER BY seq LIMIT ?1";
    stmt_use s(c, k_sql);
    s->bind(1, k_batch_rows);
    while (s->executeStep()) {
      rows.push_back({s->getColumn(0).getInt64(), s->getColumn(1).getInt64(), s->getColumn(2).getString(),
                      s->getColumn(3).getInt() != 0});
    }
  }
  for (auto& r : rows) {
    std::string indexed = fts_index_text(r.text);
    if (r.merge) {
      // An update may carry only part of the conversation (e.g. just the response), so new text replaces
      // the old only when it contains it; otherwise both are kept.
      std::string old;
      {
        static const std::string k_sql = "SELECT text FROM records_fts WHERE rowid = ?1";
        stmt_use q(c, k_sql);
        q->bind(1, r.rid);
        if (q->executeStep()) old = q->getColumn(0).getString();
      }
      if (!old.empty()) {
        if (old.find(indexed) != std::string::npos) continue;
        if (indexed.find(old) == std::string::npos) indexed = old + "\n" + indexed;
        static const std::string k_sql = "DELETE FROM records_fts WHERE rowid = ?1";
        stmt_use d(c, k_sql);
        d->bind(1, r.rid);
        d->exec();
      }
    }
    static const std::string k_sql = "INSERT INTO records_fts (rowid, text) VALUES (?1, ?2)";
    stmt_use s(c, k_sql);
    s->bind(1, r.rid);
    s->bindNoCopy(2, indexed);
    s->exec();
  }
  if (!rows.empty()) {
    static const std::string k_sql = "DELETE FROM fts_pending WHERE seq <= ?1";
    stmt_use d(c, k_sql);
    d->bind(1, rows.back().seq);
    d->exec();
  }
  tx.commit();
  // A short batch emptied the queue: everything committed up to `target` is indexed (rows of records
  // deleted meanwhile left with them, by trigger).
  const int64_t done = static_cast<int>(rows.size()) < k_batch_rows ? target : rows.back().seq;
  if (done > indexed()) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      indexed_.store(done, std::memory_order_release);
    }
    done_cv_.notify_all();
  }
  return static_cast<int>(rows.size());
}

void fts_indexer::run() {
  auto failures = 0;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      // The timeout only bounds how long a missed wake-up could delay indexing.
      work_cv_.wait_for(lock, std::chrono::seconds(1), [&] { return stop_ || queued() > indexed(); });
      if (stop_ && queued() <= indexed()) return;
    }
    try {
      while (queued() > indexed()) {
        pool_.with_writer([&](connection& c) { return index_batch(c); });
        failures = 0;
      }
    } catch (const std::exception& e) {
      // Busy or unavailable (disk full): retry later; the rows stay queued and search reports the lag.
      if (failures++ == 0) spdlog::warn("search index: {}; retrying", e.what());
      std::unique_lock<std::mutex> lock(mu_);
      if (stop_ && failures > 3) return;  // stopping with a broken database: leave the rows for next time
      // A search waiting for the index (wait_indexed) wakes this early: it retries at once.
      work_cv_.wait_for(lock, std::chrono::milliseconds(100));
    }
  }
}

}  // namespace llmtrace::storage::sqlite
