// Bounds concurrent upstream calls of replay and the proxy together: each holds an HTTP worker for the call's
// whole life (seconds to minutes), so LLM calls must never take every worker from ingest and the API.
// One limiter per collector, made by the composition root and shared by replay and the proxy.
// Thread safety: any thread may take and release slots. Lifetime: outlives every slot taken from it.
#pragma once

#include <atomic>
#include <map>
#include <mutex>
#include <string>

namespace llmtrace::upstream {

class call_limiter {
 public:
  explicit call_limiter(int max_calls) : max_(max_calls) {}
  call_limiter(const call_limiter&) = delete;
  call_limiter& operator=(const call_limiter&) = delete;
  int max_calls() const noexcept { return max_; }
  // The most slots one client (its bearer token or peer address) may hold at once: half, at least 1.
  int max_per_client() const noexcept { return max_ / 2 > 0 ? max_ / 2 : 1; }

 private:
  friend class upstream_slot;
  const int max_;
  std::atomic<int> calls_{0};
  std::mutex m_;
  std::map<std::string, int> by_client_;
};

// One call's slot. RAII: released on destruction, admitted or not. `client` (empty: not counted per client)
// names the caller, so a few long streaming calls of one caller cannot take every slot.
class upstream_slot {
 public:
  explicit upstream_slot(call_limiter& limiter, std::string client = {})
      : limiter_(limiter), client_(std::move(client)) {
    admitted_ = limiter_.calls_.fetch_add(1) < limiter_.max_;
    if (admitted_ && !client_.empty()) {
      std::lock_guard lock(limiter_.m_);
      int& n = limiter_.by_client_[client_];
      if (n >= limiter_.max_per_client()) {
        admitted_ = false;
      } else {
        ++n;
        counted_ = true;
      }
    }
  }
  ~upstream_slot() {
    if (counted_) {
      std::lock_guard lock(limiter_.m_);
      auto it = limiter_.by_client_.find(client_);
      if (it != limiter_.by_client_.end() && --it->second <= 0) limiter_.by_client_.erase(it);
    }
    limiter_.calls_.fetch_sub(1);
  }
  upstream_slot(const upstream_slot&) = delete;
  upstream_slot& operator=(const upstream_slot&) = delete;
  bool admitted() const noexcept { return admitted_; }

 private:
  call_limiter& limiter_;
  std::string client_;
  bool admitted_ = false;
  bool counted_ = false;
};

}  // namespace llmtrace::upstream
