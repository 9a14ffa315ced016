// Stores the proxy's records off the request path: handlers submit ready writes (the pending record when a
// call starts, the final one when it ends) and return at once; one thread commits whatever has queued in one
// transaction (one fsync for many calls) through ingest_service::write, which also publishes the events.
// Reads stay consistent with answered calls through consistent_reader (consistent_reader.hpp), which waits
// until every write submitted before a read is committed (free when nothing is queued). Thread safety: all
// members may be called from any thread. Lifetime: made by the composition root; the destructor stores
// everything still queued, then joins the thread; the ingest service must outlive the recorder.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include "storage/store.hpp"

namespace llmtrace::ingest {
class ingest_service;
}

namespace llmtrace::proxy {

class recorder {
 public:
  explicit recorder(ingest::ingest_service& ingest);
  ~recorder();
  recorder(const recorder&) = delete;
  recorder& operator=(const recorder&) = delete;

  // Queues a write; writes are applied in submission order (a call's pending record before its final one).
  void submit(storage::record_write w);

  // Waits until every write submitted before this call is committed or has failed, at most `timeout`.
  void wait_flushed(std::chrono::milliseconds timeout);

 private:
  void run();
  void store(std::vector<storage::record_write>& batch);

  ingest::ingest_service& ingest_;
  std::mutex m_;
  std::condition_variable work_cv_;
  std::condition_variable done_cv_;
  std::vector<storage::record_write> queue_;
  bool stopping_ = false;
  std::atomic<uint64_t> submitted_{0};
  std::atomic<uint64_t> stored_{0};  // writes taken from the queue and committed (or given up on)
  std::thread thread_;               // last: started once the state above exists
};

}  // namespace llmtrace::proxy
