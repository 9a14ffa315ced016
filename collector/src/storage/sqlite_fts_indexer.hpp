// Keeps the full-text index (records_fts) off the ingest transaction. The write transaction only queues
// (rid, search text) rows in fts_pending (a plain table insert); this worker moves them into FTS5 in batches
// of its own transactions on the pool's writer, right after each commit that queued any. So a record is
// stored, committed and answered 2xx as before, and becomes searchable a moment later: search waits for the
// rows queued before it (bounded) and reports what is still missing (page::index_lag). The ingest path keeps
// the lag bounded: when it exceeds k_inline_lag rows the writer indexes a batch itself before returning.
// Threading: one worker thread; notify / wait_indexed / lag / index_batch may be called from any thread
// (index_batch only by a caller that holds the writer). Lifetime: the pool must outlive the indexer; the
// destructor indexes what is still queued, then stops the thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

#include "storage/sqlite_connection.hpp"

namespace llmtrace::storage::sqlite {

class pool;

class fts_indexer {
 public:
  // Rows moved into the index per transaction.
  static constexpr int k_batch_rows = 512;
  // Queued rows beyond which the write path indexes a batch inline, so the index can never fall far behind
  // when the worker keeps losing the writer to ingest: two ingest batches, well under a second of ingest
  // even at the ~2,500 records/s this shared machine managed at its busiest (bench row 2 samples the lag).
  static constexpr int64_t k_inline_lag = 1024;

  explicit fts_indexer(pool& p);
  ~fts_indexer();
  fts_indexer(const fts_indexer&) = delete;
  fts_indexer& operator=(const fts_indexer&) = delete;

  // A transaction that queued rows up to `seq` (fts_pending.seq) has committed; wakes the worker. Call while
  // holding the writer, so that queued() never runs ahead of what the database holds.
  void notify(int64_t seq);
  // Waits until every row queued up to `seq` is indexed or `timeout` passes; true when caught up.
  bool wait_indexed(int64_t seq, std::chrono::milliseconds timeout);
  int64_t queued() const { return queued_.load(std::memory_order_acquire); }
  int64_t indexed() const { return indexed_.load(std::memory_order_acquire); }
  // Rows committed but not yet in the index.
  int64_t lag() const { return queued() - indexed(); }
  // Moves up to k_batch_rows queued rows into the index in one IMMEDIATE transaction on `writer`, which the
  // caller holds. Returns the number of rows taken from the queue.
  int index_batch(connection& writer);

 private:
  void run();

  pool& pool_;
  std::atomic<int64_t> queued_{0};  // highest fts_pending.seq known committed
  std::atomic<int64_t> indexed_{
      0};  // every row up to this seq is in the index (or was dropped with its record)
  std::mutex mu_;
  std::condition_variable work_cv_;  // the worker waits here for notify()
  std::condition_variable done_cv_;  // wait_indexed() waits here for a finished batch
  bool stop_ = false;
  std::thread worker_;
};

}  // namespace llmtrace::storage::sqlite
