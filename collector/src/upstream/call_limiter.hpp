// Bounds concurrent upstream calls of replay and the proxy together: each holds an HTTP worker for the call's
// whole life (seconds to minutes), so LLM calls must never take every worker from ingest and the API.
// One limiter per collector, made by the composition root and shared by replay and the proxy.
// Thread safety: any thread may take and release slots. Lifetime: outlives every slot taken from it.
#pragma once

#include <atomic>

namespace llmtrace::upstream {

class call_limiter {
 public:
  explicit call_limiter(int max_calls) : max_(max_calls) {}
  call_limiter(const call_limiter&) = delete;
  call_limiter& operator=(const call_limiter&) = delete;
  int max_calls() const noexcept { return max_; }

 private:
  friend class upstream_slot;
  const int max_;
  std::atomic<int> calls_{0};
};

// One call's slot. RAII: released on destruction, admitted or not.
class upstream_slot {
 public:
  explicit upstream_slot(call_limiter& limiter) : limiter_(limiter) {
    admitted_ = limiter_.calls_.fetch_add(1) < limiter_.max_;
  }
  ~upstream_slot() { limiter_.calls_.fetch_sub(1); }
  upstream_slot(const upstream_slot&) = delete;
  upstream_slot& operator=(const upstream_slot&) = delete;
  bool admitted() const noexcept { return admitted_; }

 private:
  call_limiter& limiter_;
  bool admitted_ = false;
};

}  // namespace llmtrace::upstream
