// The client's shared state: the bounded queue the hot path writes to and the flusher thread that drains it
// into an exporter. Threading: trace() runs on any thread and touches only atomics, a pooled buffer and the
// lock-free queue (hot_path.cpp); the flusher thread owns the exporter (flusher.cpp); flush/shutdown waiters
// synchronise with it through runtime::mu. Lifetime: held by shared_ptr from the client, from calls and from
// the flusher thread, so a detached flusher (abandoned at a shutdown deadline) never touches freed memory.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <concurrentqueue/concurrentqueue.h>

#include "exporter.hpp"
#include "llmtrace/llmtrace.hpp"
#include "payload.hpp"
#include "warnings.hpp"

namespace llmtrace {

// Everything a forked child must replace rather than reuse (threads, locks and sockets do not survive fork).
struct runtime {
  explicit runtime(std::unique_ptr<detail::exporter> e) : exp(std::move(e)) {}

  moodycamel::ConcurrentQueue<detail::payload> queue{4096};
  std::mutex mu;
  std::condition_variable wake;      // the flusher sleeps on it (flush/shutdown only; never trace())
  std::condition_variable progress;  // flush()/shutdown() wait on it
  std::thread thread;
  bool thread_started = false;                            // under mu
  bool thread_exited = false;                             // under mu
  bool stop_requested = false;                            // under mu
  std::chrono::steady_clock::time_point stop_deadline{};  // under mu
  uint64_t flush_requested = 0;                           // generation, under mu
  uint64_t flush_done = 0;                                // generation, under mu
  std::atomic<bool> abort{false};         // deadline passed: give up the in-flight export and retries
  std::mutex join_mu;                     // concurrent shutdown() calls: only one joins or detaches `thread`
  std::unique_ptr<detail::exporter> exp;  // used by the flusher thread; shutdown() may cancel it
};

struct client::impl : std::enable_shared_from_this<client::impl> {
  impl(options o, detail::exporter_factory make_exporter);
  ~impl();

  // Hot path (hot_path.cpp): any thread, never blocks (except overflow_policy::block), never throws.
  trace_result trace_record(const record& r, bool id_is_safe) noexcept;
  trace_result trace_json(std::string_view text) noexcept;
  trace_result enqueue(detail::payload&& body) noexcept;
  trace_result refuse() const noexcept;  // why a record is not taken, or ok

  // Flusher (flusher.cpp).
  void start_flusher();
  void flusher_main();
  bool batch_waiting() const noexcept;  // a full batch is queued (flusher thread only)
  flush_result flush(std::chrono::milliseconds timeout) noexcept;
  flush_result shutdown(std::chrono::milliseconds timeout) noexcept;
  void drain(uint64_t dequeue_target, bool stopping);
  bool admit(detail::payload& item) noexcept;  // validates a dequeued record; false: dropped and counted
  void export_batch(std::vector<detail::payload>& items, bool stopping);

  // fork.cpp
  void after_fork_child() noexcept;

  void warn(detail::warn_kind k, const std::string& msg) noexcept { warnings.warn(k, msg); }

  const options opts;
  const detail::exporter_factory make_exporter;
  std::unique_ptr<runtime> rt;
  detail::warner warnings;

  // Read on every trace(); written almost never.
  std::atomic<bool> accepting{true};
  std::atomic<bool> need_start{false};  // a forked child starts its flusher on first use
  // Written by producers and the flusher: each on its own cache line so they do not drag the read-mostly
  // fields above (or each other) between cores.
  alignas(64) std::atomic<uint64_t> queue_bytes{0};
  alignas(64) std::atomic<uint64_t> enqueued{0};
  alignas(64) std::atomic<uint64_t> dropped{0};
  alignas(64) std::atomic<uint64_t> sent{0}, failed{0}, invalid{0}, retried{0}, discarded{0},
      requests{0};  // flusher
  // Times the flusher's sleep ended early by a notify (or spuriously), not by its own timer. trace() must
  // never be the cause: tests hold it at 0 during a burst.
  std::atomic<uint64_t> flusher_wakes{0};
  alignas(64) char pad_[1] = {};
  uint64_t dequeued = 0;  // flusher thread only
  detail::payload carry;  // a dequeued record that did not fit the previous batch (flusher only)
  bool has_carry = false;
};

// Per-record memory overhead counted against the budget besides the payload (queue slot, allocator).
inline constexpr std::size_t kItemOverhead = 64;
// Deepest record the collector accepts inside {"traces":[...]} (its limit is 64 for the whole body).
inline constexpr std::size_t kMaxRecordDepth = 62;

// The fields every record the SDK builds itself carries (client::trace, a call's pending and final record, a
// span); each caller adds what only it has (model, tree, times).
inline record basic_record(std::string_view id, std::string_view session_id, int64_t turn_number,
                           llmtrace::status st, std::string_view request_json, std::string_view response_json,
                           std::string_view error_message, std::string_view metadata_json) noexcept {
  record r;
  r.id = id;
  r.session_id = session_id;
  r.turn_number = turn_number;
  r.request_json = request_json;
  r.response_json = response_json;
  r.status = st;
  r.error_message = error_message;
  r.metadata_json = metadata_json;
  return r;
}

}  // namespace llmtrace
