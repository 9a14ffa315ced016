#include "buffer_pool.hpp"

#include <array>
#include <atomic>
#include <cstdlib>
#include <new>
#include <utility>

#include <concurrentqueue/concurrentqueue.h>

namespace llmtrace::detail {
namespace {

constexpr std::size_t kClasses = kSlotMax / kSlotGrain;

struct pool {
  // One lock-free free list per size class. Small initial capacity: blocks are added as buffers come back.
  std::array<moodycamel::ConcurrentQueue<char*>, kClasses> free_lists;
  // Bytes held idle. Only givers check it against the cap, so a take costs one decrement.
  alignas(64) std::atomic<std::size_t> idle_bytes{0};

  pool() : free_lists(make_lists(std::make_index_sequence<kClasses>{})) {}
  template <std::size_t... I>
  static std::array<moodycamel::ConcurrentQueue<char*>, kClasses> make_lists(std::index_sequence<I...>) {
    return {((void)I, moodycamel::ConcurrentQueue<char*>(64))...};
  }
};

std::atomic<pool*> g_pool{nullptr};

pool* get_pool() noexcept {
  pool* p = g_pool.load(std::memory_order_acquire);
  if (p) return p;
  pool* fresh = new (std::nothrow) pool();  // leaked on purpose: buffers may come back during static teardown
  if (!fresh) return nullptr;
  if (!g_pool.compare_exchange_strong(p, fresh, std::memory_order_acq_rel)) {
    delete fresh;
    return p;
  }
  return fresh;
}

}  // namespace

namespace {

// A few buffers per class taken from the shared lists in one bulk dequeue, so a producer pays the shared
// atomics once per kCacheSlots records rather than on every call. Given back when the thread exits.
constexpr std::size_t kCacheSlots = 8;
struct thread_cache {
  struct entry {
    std::size_t n = 0;
    char* slots[kCacheSlots];
  };
  std::array<entry, kClasses> classes{};
  pool* owner = nullptr;  // the pool the buffers came from (a forked child has a new one)
  ~thread_cache() {
    for (std::size_t c = 0; c < kClasses; ++c)
      for (std::size_t i = 0; i < classes[c].n; ++i) buffer_give(classes[c].slots[i], (c + 1) * kSlotGrain);
  }
};

// Pool buffers come back cold (the flusher released them long ago). Asking for the next call's buffer now
// overlaps its cache misses with the rest of this call and the caller's work in between.
void prefetch_for_write(const char* b, std::size_t cap) noexcept {
  for (std::size_t i = 0; i < cap; i += 64) __builtin_prefetch(b + i, 1, 3);
}

}  // namespace

char* buffer_take(std::size_t n) noexcept {
  const std::size_t cap = slot_capacity(n);
  if (cap <= kSlotMax) {
    if (pool* p = get_pool()) {
      thread_local thread_cache cache;
      auto& e = cache.classes[cap / kSlotGrain - 1];
      if (cache.owner == p && e.n) {
        char* b = e.slots[--e.n];
        if (e.n) prefetch_for_write(e.slots[e.n - 1], cap);
        return b;
      }
      cache.owner = p;
      const std::size_t got = p->free_lists[cap / kSlotGrain - 1].try_dequeue_bulk(e.slots, kCacheSlots);
      if (got) {
        p->idle_bytes.fetch_sub(got * cap, std::memory_order_relaxed);
        e.n = got - 1;
        if (e.n) prefetch_for_write(e.slots[e.n - 1], cap);
        return e.slots[got - 1];
      }
    }
  }
  return static_cast<char*>(std::malloc(cap));
}

void buffer_give(char* b, std::size_t cap) noexcept {
  if (!b) return;
  if (cap <= kSlotMax && cap % kSlotGrain == 0) {
    pool* p = get_pool();
    if (p && p->idle_bytes.load(std::memory_order_relaxed) + cap <= kPoolMaxIdleBytes) {
      p->idle_bytes.fetch_add(cap, std::memory_order_relaxed);
      bool ok = false;
      try {
        ok = p->free_lists[cap / kSlotGrain - 1].enqueue(b);
      } catch (...) {
      }
      if (ok) return;
      p->idle_bytes.fetch_sub(cap, std::memory_order_relaxed);
    }
  }
  std::free(b);
}

std::size_t buffer_pool_idle_bytes() noexcept {
  pool* p = g_pool.load(std::memory_order_acquire);
  return p ? p->idle_bytes.load(std::memory_order_relaxed) : 0;
}

void buffer_pool_after_fork() noexcept {
  // Only the forking thread exists now; leak the old pool rather than touch it.
  g_pool.store(nullptr, std::memory_order_release);
}

}  // namespace llmtrace::detail
