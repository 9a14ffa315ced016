#include "server/retention.hpp"

#include <chrono>
#include <limits>

#include <spdlog/spdlog.h>

#include "model/time.hpp"
#include "storage/store.hpp"

namespace llmtrace::server {

retention::retention(storage::store& store, retention_options o,
                     std::function<void(const std::string&)> on_deleted)
    : store_(store), opts_(o), on_deleted_(std::move(on_deleted)) {
  if (opts_.retain_days > 0 || opts_.max_db_mb > 0) worker_ = std::thread([this] { loop(); });
}

retention::~retention() {
  stop();
  if (worker_.joinable()) worker_.join();
}

void retention::stop() {
  {
    std::lock_guard lock(m_);
    stop_ = true;
  }
  cv_.notify_all();
}

bool retention::stopping() {
  std::lock_guard lock(m_);
  return stop_;
}

int retention::run_once() {
  int deleted = 0;
  auto delete_all = [&](const std::vector<std::string>& ids) {
    for (const auto& id : ids) {
      storage::store_writer::delete_step step;
      while (!step.finished) {
        if (stopping()) return;  // a session half deleted is finished by the next pass
        step = store_.delete_session_step(id, opts_.records_per_step);
      }
      if (step.deleted) {
        ++deleted;
        if (on_deleted_) on_deleted_(id);
      }
    }
  };
  if (opts_.retain_days > 0) {
    const int64_t cutoff = model::now_ms() - int64_t{opts_.retain_days} * 86'400'000;
    while (!stopping()) {
      auto ids = store_.oldest_sessions(cutoff, opts_.batch);
      if (ids.empty()) break;
      delete_all(ids);
    }
  }
  if (opts_.max_db_mb > 0) {
    const int64_t limit = opts_.max_db_mb * 1024 * 1024;
    // One session at a time: the used size is read again after each deletion, so no more is deleted than
    // needed to get under the limit.
    while (!stopping() && store_.used_bytes() > limit) {
      auto ids = store_.oldest_sessions(std::numeric_limits<int64_t>::max(), 1);
      if (ids.empty()) break;
      delete_all(ids);
    }
  }
  return deleted;
}

void retention::loop() {
  while (!stopping()) {
    try {
      if (int n = run_once(); n > 0) spdlog::info("retention: deleted {} session(s)", n);
    } catch (const std::exception& e) {
      // Busy or unavailable store: try again next pass; ingest has priority.
      spdlog::warn("retention pass failed, retrying later: {}", e.what());
    }
    std::unique_lock lock(m_);
    cv_.wait_for(lock, std::chrono::milliseconds(opts_.interval_ms), [this] { return stop_; });
  }
}

}  // namespace llmtrace::server
