// An exporter that keeps every exported record in memory, for tests: a client built around it (see
// client_access.hpp) runs the real hot path and flusher with no network. The store outlives the exporter
// (a forked child's runtime gets a new exporter on the same store). Threading: the store is locked.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "exporter.hpp"

namespace llmtrace::detail {

struct memory_store {
  std::vector<std::string> records() const {
    std::lock_guard lk(mu);
    return records_;
  }
  uint64_t export_calls() const {
    std::lock_guard lk(mu);
    return calls_;
  }

  mutable std::mutex mu;
  std::vector<std::string> records_;  // under mu
  uint64_t calls_ = 0;                // under mu
};

class memory_exporter final : public exporter {
 public:
  explicit memory_exporter(std::shared_ptr<memory_store> store) : store_(std::move(store)) {}

  export_outcome export_batch(std::span<const std::string_view> records,
                              export_context& ctx) noexcept override {
    try {
      ctx.count_request();
      std::lock_guard lk(store_->mu);
      ++store_->calls_;
      for (auto r : records) store_->records_.emplace_back(r);
      return {export_result::success, records.size(), 0};
    } catch (...) {
      return {};
    }
  }
  void shutdown(steady_clock::time_point) noexcept override {}

 private:
  std::shared_ptr<memory_store> store_;
};

}  // namespace llmtrace::detail
