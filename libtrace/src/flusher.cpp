// The flusher thread: sleeps without being signalled by trace(), drains the queue into batches bounded by
// records and bytes, validates each record (an invalid one is dropped and counted, never sent), hands the
// batch to the exporter and books the outcome; flush() and shutdown() wait on its progress.
#include <algorithm>

#include "client_impl.hpp"
#include "json_text/json_text.hpp"

namespace llmtrace {

using std::chrono::milliseconds;
using steady = std::chrono::steady_clock;

namespace {

// The flusher's side of one export call: deadline, abort and interruptible backoff come from the runtime,
// request and retry counts go to the client's stats.
class flusher_context final : public detail::export_context {
 public:
  flusher_context(client::impl& c, bool stopping) : c_(c), r_(*c.rt), stopping_(stopping) {}

  bool aborted() const noexcept override { return r_.abort.load(); }
  std::optional<steady::time_point> deadline() const noexcept override {
    std::lock_guard lk(r_.mu);
    if (!stopping_ && !r_.stop_requested) return std::nullopt;
    return r_.stop_deadline;
  }
  void sleep_until(steady::time_point until) noexcept override {
    try {
      std::unique_lock lk(r_.mu);
      while (!r_.abort.load()) {
        if (r_.stop_requested && r_.stop_deadline < until) until = r_.stop_deadline;
        if (steady::now() >= until) break;
        r_.wake.wait_until(lk, until);
      }
    } catch (...) {
    }
  }
  void count_request() noexcept override { c_.requests.fetch_add(1, std::memory_order_relaxed); }
  void count_retry() noexcept override { c_.retried.fetch_add(1, std::memory_order_relaxed); }
  void warn(detail::warn_kind k, const std::string& msg) noexcept override { c_.warn(k, msg); }

 private:
  client::impl& c_;
  runtime& r_;
  bool stopping_;
};

}  // namespace

void client::impl::start_flusher() {
  std::lock_guard lk(rt->mu);
  need_start.store(false, std::memory_order_relaxed);
  if (rt->thread_started || rt->stop_requested) return;
  rt->thread_started = true;
  rt->thread = std::thread([self = shared_from_this()] { self->flusher_main(); });
}

bool client::impl::batch_waiting() const noexcept {
  return enqueued.load(std::memory_order_relaxed) - dequeued >=
             std::max<std::size_t>(1, opts.max_batch_records) ||
         queue_bytes.load(std::memory_order_relaxed) >= std::max<std::size_t>(1, opts.max_batch_bytes);
}

void client::impl::flusher_main() {
  runtime& r = *rt;
  // Producers never signal (see enqueue()). While records keep coming, the flusher looks every few ms for a
  // full batch (one counter read) and sends it at once; after a whole quiet interval it sleeps the full
  // interval, so an idle process is woken only once per flush_interval. A fresh client expects traffic.
  const milliseconds slice = std::min(opts.flush_interval, milliseconds(5));
  bool active = true;
  uint64_t seen = enqueued.load(std::memory_order_relaxed);
  for (;;) {
    uint64_t gen;
    bool stopping;
    {
      std::unique_lock lk(r.mu);
      auto requested = [&] { return r.stop_requested || r.flush_requested != r.flush_done; };
      // wait_until(pred) that counts the wakes its timer did not cause (see flusher_wakes).
      auto sleep = [&](steady::time_point until) {
        while (!requested()) {
          if (r.wake.wait_until(lk, until) == std::cv_status::timeout) return;
          flusher_wakes.fetch_add(1, std::memory_order_relaxed);
        }
      };
      const auto deadline = steady::now() + opts.flush_interval;
      if (!active) {
        sleep(deadline);
      } else {
        while (!requested() && !batch_waiting()) {
          const auto now = steady::now();
          if (now >= deadline) break;
          sleep(std::min(deadline, now + slice));
        }
      }
      gen = r.flush_requested;
      stopping = r.stop_requested;
    }
    const uint64_t now_enqueued = enqueued.load(std::memory_order_relaxed);
    active = now_enqueued != seen;
    seen = now_enqueued;
    // Everything enqueued before the flush request is counted in `enqueued` by now.
    const uint64_t target = enqueued.load(std::memory_order_acquire);
    try {
      drain(target, stopping);
    } catch (...) {
      warn(detail::warn_kind::internal, "flusher error");
    }
    {
      std::lock_guard lk(r.mu);
      if (r.flush_done < gen) r.flush_done = gen;
      if (stopping) r.thread_exited = true;
    }
    r.progress.notify_all();
    if (stopping) return;
  }
}

bool client::impl::admit(detail::payload& item) noexcept {
  // The full check the caller's thread skipped. The batch's wrapper adds two levels under the collector's
  // nesting limit of 64. A trace_json() record also tells whether it carries its own "id" besides ours.
  const bool added_id = item.id_prefix() != 0;
  const auto s = json_text::scan(item.view(), {kMaxRecordDepth, added_id ? "id" : ""});
  if (s.ok) {
    if (added_id && s.key_count > 1) item.drop_added_id();
    return true;
  }
  queue_bytes.fetch_sub(item.capacity() + kItemOverhead, std::memory_order_relaxed);
  item = detail::payload();
  failed.fetch_add(1, std::memory_order_relaxed);
  invalid.fetch_add(1, std::memory_order_relaxed);
  warn(detail::warn_kind::invalid, "a record is not valid JSON (or nests deeper than 62 levels); dropped");
  return false;
}

void client::impl::drain(uint64_t dequeue_target, bool stopping) {
  runtime& r = *rt;
  const std::size_t max_records = std::max<std::size_t>(1, opts.max_batch_records);
  const std::size_t max_bytes = std::max<std::size_t>(1, opts.max_batch_bytes);
  std::vector<detail::payload> batch;
  batch.reserve(std::min<std::size_t>(max_records, 1024));
  int empty_spins = 0;
  for (;;) {
    if (r.abort.load()) break;
    std::size_t bytes = 0;
    batch.clear();
    if (has_carry) {
      bytes += carry.size();
      batch.push_back(std::move(carry));
      has_carry = false;
    }
    detail::payload item;
    while (batch.size() < max_records && r.queue.try_dequeue(item)) {
      ++dequeued;
      if (!admit(item)) continue;
      if (!batch.empty() && bytes + item.size() + 1 > max_bytes) {
        carry = std::move(item);
        has_carry = true;
        break;
      }
      bytes += item.size() + 1;
      batch.push_back(std::move(item));
    }
    if (batch.empty()) {
      // An enqueue that finished before the target was read can still be settling inside the queue.
      if (dequeued < dequeue_target && empty_spins++ < 1000) {
        std::this_thread::yield();
        continue;
      }
      break;
    }
    export_batch(batch, stopping);
  }
  if (r.abort.load() || stopping) {
    // Nothing more will be sent: count what is left so the books balance, and free its memory.
    uint64_t left = 0;
    if (has_carry) {
      queue_bytes.fetch_sub(carry.capacity() + kItemOverhead, std::memory_order_relaxed);
      carry = detail::payload();
      has_carry = false;
      ++left;
    }
    detail::payload item;
    while (r.queue.try_dequeue(item)) {
      ++dequeued;
      queue_bytes.fetch_sub(item.capacity() + kItemOverhead, std::memory_order_relaxed);
      ++left;
    }
    discarded.fetch_add(left, std::memory_order_relaxed);
  }
}

void client::impl::export_batch(std::vector<detail::payload>& items, bool stopping) {
  uint64_t held = 0;
  std::vector<std::string_view> views;
  views.reserve(items.size());
  for (auto& s : items) {
    held += s.capacity() + kItemOverhead;
    views.push_back(s.view());
  }
  const uint64_t n = items.size();
  // The records' memory stays counted until the batch is settled, so the budget bounds in-flight data too.
  struct release_guard {
    impl* self;
    std::vector<detail::payload>& items;
    uint64_t held;
    ~release_guard() {
      items.clear();
      self->queue_bytes.fetch_sub(held, std::memory_order_relaxed);
    }
  } guard{this, items, held};

  flusher_context ctx(*this, stopping);
  const detail::export_outcome out = rt->exp->export_batch(views, ctx);
  switch (out.result) {
    case detail::export_result::success:
      sent.fetch_add(out.accepted, std::memory_order_relaxed);
      failed.fetch_add(out.rejected, std::memory_order_relaxed);
      break;
    case detail::export_result::failure:
      failed.fetch_add(n, std::memory_order_relaxed);
      break;
    case detail::export_result::aborted:
      discarded.fetch_add(n, std::memory_order_relaxed);
      break;
  }
}

flush_result client::impl::flush(milliseconds timeout) noexcept {
  try {
    runtime& r = *rt;
    std::unique_lock lk(r.mu);
    if (r.stop_requested) return r.thread_exited ? flush_result::stopped : flush_result::timeout;
    if (!r.thread_started) {
      lk.unlock();
      start_flusher();
      lk.lock();
    }
    const uint64_t gen = ++r.flush_requested;
    r.wake.notify_all();
    const bool done =
        r.progress.wait_for(lk, timeout, [&] { return r.flush_done >= gen || r.thread_exited; });
    if (!done) return flush_result::timeout;
    return r.flush_done >= gen ? flush_result::ok : flush_result::stopped;
  } catch (...) {
    return flush_result::timeout;
  }
}

flush_result client::impl::shutdown(milliseconds timeout) noexcept {
  try {
    runtime& r = *rt;
    accepting.store(false);
    if (r.abort.load()) return flush_result::timeout;  // an earlier shutdown already gave up at its deadline
    const uint64_t discarded_before = discarded.load();
    const auto deadline = steady::now() + timeout;
    std::unique_lock lk(r.mu);
    if (!r.thread_started) {
      // Nothing ever ran (e.g. a forked child that never traced): nothing to flush.
      r.stop_requested = true;
      r.thread_exited = true;
      return flush_result::ok;
    }
    if (!r.stop_requested) {
      r.stop_requested = true;
      r.stop_deadline = deadline;
    }
    r.wake.notify_all();
    const bool exited = r.progress.wait_until(lk, deadline, [&] { return r.thread_exited; });
    lk.unlock();
    if (!exited) {
      // The collector is not answering in time: abandon the in-flight export.
      r.abort.store(true);
      r.exp->shutdown(steady::now());
      r.wake.notify_all();
      lk.lock();
      const bool late = r.progress.wait_for(lk, milliseconds(100), [&] { return r.thread_exited; });
      lk.unlock();
      if (!late) {
        // Still stuck (e.g. in connect): let it finish on its own; it holds its own reference to us.
        std::lock_guard jl(r.join_mu);
        if (r.thread.joinable() && r.thread.get_id() != std::this_thread::get_id()) r.thread.detach();
        return flush_result::timeout;
      }
    }
    {
      std::lock_guard jl(r.join_mu);
      if (r.thread.joinable() && r.thread.get_id() != std::this_thread::get_id()) r.thread.join();
    }
    // Records given up at the deadline (e.g. still in backoff) mean the flush did not complete.
    return r.abort.load() || discarded.load() != discarded_before ? flush_result::timeout : flush_result::ok;
  } catch (...) {
    return flush_result::timeout;
  }
}

}  // namespace llmtrace
