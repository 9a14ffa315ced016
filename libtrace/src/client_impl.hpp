// The client's shared state: the bounded queue the hot path writes to and the flusher thread that drains it.
// Threading: trace() runs on any thread and touches only atomics and the lock-free queue; the flusher thread
// owns the HTTP client; flush/shutdown waiters synchronise with it through runtime::mu.
// Lifetime: held by shared_ptr from the client, from calls and from the flusher thread, so a detached
// flusher (abandoned at a shutdown deadline) never touches freed memory.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <concurrentqueue/concurrentqueue.h>

#include "llmtrace/llmtrace.hpp"
#include "record_json.hpp"

namespace httplib {
class Client;
}

namespace llmtrace {

enum class warn_kind { queue_full, http_status, connection, rejected, invalid, internal, count_ };

// Everything a forked child must replace rather than reuse (threads, locks and sockets do not survive fork).
struct runtime {
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
  std::atomic<bool> abort{false};  // deadline passed: give up the in-flight request and retries
  std::mutex join_mu;              // concurrent shutdown() calls: only one joins or detaches `thread`

  std::mutex http_mu;  // guards `http` against stop() from another thread
  std::unique_ptr<httplib::Client> http;
};

struct client::impl : std::enable_shared_from_this<client::impl> {
  explicit impl(options o);
  ~impl();

  bool enqueue(detail::payload&& body) noexcept;
  void start_flusher();
  void flusher_main();
  bool batch_waiting() const noexcept;  // a full batch is queued (flusher thread only)
  flush_result flush(std::chrono::milliseconds timeout) noexcept;
  flush_result shutdown(std::chrono::milliseconds timeout) noexcept;
  void warn(warn_kind k, const std::string& msg) noexcept;
  void after_fork_child() noexcept;

  // Flusher internals (flusher thread only).
  void drain(uint64_t dequeue_target, bool stopping);
  void send_batch(std::vector<detail::payload>& items, std::size_t bytes, bool stopping);
  void ensure_http();

  const options opts;
  std::string base_path;    // path prefix of the endpoint, e.g. "" or "/collector"
  std::string scheme_host;  // "http://127.0.0.1:8080"
  std::unique_ptr<runtime> rt;

  // Read on every trace(); written almost never.
  std::atomic<bool> accepting{true};
  std::atomic<bool> need_start{false};  // a forked child starts its flusher on first use
  // Written by producers and the flusher: each on its own cache line so they do not drag the read-mostly
  // fields above (or each other) between cores.
  alignas(64) std::atomic<uint64_t> queue_bytes{0};
  alignas(64) std::atomic<uint64_t> enqueued{0};
  alignas(64) std::atomic<uint64_t> dropped{0};
  alignas(64) std::atomic<uint64_t> sent{0}, failed{0}, retried{0}, discarded{0}, requests{0};  // flusher
  alignas(64) char pad_[1] = {};
  uint64_t dequeued = 0;  // flusher thread only
  detail::payload carry;  // a dequeued record that did not fit the previous batch (flusher only)
  bool has_carry = false;
  uint64_t jitter_state = 0x243F6A8885A308D3ull;

  std::array<std::atomic<int64_t>, static_cast<std::size_t>(warn_kind::count_)> last_warn_ms{};
};

// Per-record memory overhead counted against the budget besides the payload (queue slot, allocator).
inline constexpr std::size_t kItemOverhead = 64;
// Deepest record the collector accepts inside {"traces":[...]} (its limit is 64 for the whole body).
inline constexpr std::size_t kMaxRecordDepth = 62;

}  // namespace llmtrace
