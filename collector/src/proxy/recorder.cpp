#include "proxy/recorder.hpp"

#include <spdlog/spdlog.h>

#include "ingest/ingest_service.hpp"

namespace llmtrace::proxy {

recorder::recorder(ingest::ingest_service& ingest) : ingest_(ingest), thread_([this] { run(); }) {}

recorder::~recorder() {
  {
    std::lock_guard<std::mutex> lock(m_);
    stopping_ = true;
  }
  work_cv_.notify_all();
  thread_.join();
}

void recorder::submit(storage::record_write w) {
  {
    std::lock_guard<std::mutex> lock(m_);
    queue_.push_back(std::move(w));
    submitted_.fetch_add(1, std::memory_order_release);
  }
  work_cv_.notify_one();
}

void recorder::wait_flushed(std::chrono::milliseconds timeout) {
  const uint64_t target = submitted_.load(std::memory_order_acquire);
  if (stored_.load(std::memory_order_acquire) >= target) return;
  std::unique_lock<std::mutex> lock(m_);
  done_cv_.wait_for(lock, timeout, [&] { return stored_.load(std::memory_order_acquire) >= target; });
}

void recorder::run() {
  std::vector<storage::record_write> batch;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(m_);
      work_cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and everything is stored
      batch.swap(queue_);
    }
    store(batch);
    {
      std::lock_guard<std::mutex> lock(m_);
      stored_.fetch_add(batch.size(), std::memory_order_release);
    }
    done_cv_.notify_all();
    batch.clear();
  }
}

void recorder::store(std::vector<storage::record_write>& batch) {
  try {
    ingest_.write(batch);
    return;
  } catch (const std::exception& e) {
    spdlog::warn("proxy: {} records not stored together ({}); retrying one by one", batch.size(), e.what());
  }
  // One write's failure must not lose the others (and a busy database may have cleared meanwhile).
  for (auto& w : batch) {
    try {
      ingest_.write({w});
    } catch (const std::exception& e) {
      spdlog::warn("proxy: record {} not stored: {}", w.id.value_or("?"), e.what());
    }
  }
}

}  // namespace llmtrace::proxy
