// Recycled record buffers for the hot path: trace() takes a pre-sized buffer instead of calling malloc, and
// a buffer released by the flusher goes back to a free list instead of free() (a cross-thread free into the
// producer's malloc arena costs ~1 us at p99, and fresh heap pages fault on first touch).
// Threading: take/give are lock-free and may run on any thread. Lifetime: one process-wide pool, never
// destroyed; a forked child starts a new, empty one (the parent's may be mid-update at fork time).
#pragma once

#include <cstddef>

namespace llmtrace::detail {

// Buffers are recycled in size classes of kSlotGrain bytes up to kSlotMax; larger ones use malloc/free.
inline constexpr std::size_t kSlotGrain = 512;
inline constexpr std::size_t kSlotMax = 16384;
// Idle bytes the pool keeps at most (beyond this, released buffers are freed). As much as the default queue
// budget (options::queue_limit_bytes): after one burst that filled the queue, the next one is served from
// recycled buffers. At 32 MB the rest of a 40 MB burst came from malloc, each buffer's pages faulted in on
// the caller's thread (~1,600 minor faults per 16k-record round; 93% of trace() calls above 5 us with the
// collector up had one - llmtrace_bench_trace_profile --tail, docs/BENCHMARKS.md).
inline constexpr std::size_t kPoolMaxIdleBytes = 64u << 20;

// The capacity a request of `n` bytes gets: rounded up to its class, or n itself when above kSlotMax.
inline constexpr std::size_t slot_capacity(std::size_t n) noexcept {
  return n == 0 ? kSlotGrain : n > kSlotMax ? n : (n + kSlotGrain - 1) / kSlotGrain * kSlotGrain;
}

// A buffer of exactly slot_capacity(n) bytes: recycled when one is free, else malloc'd. nullptr when out of
// memory.
char* buffer_take(std::size_t n) noexcept;
// Returns a buffer from buffer_take(n) (cap = slot_capacity(n)); nullptr is ignored.
void buffer_give(char* p, std::size_t cap) noexcept;
// Idle bytes held by the pool now (tests, diagnostics).
std::size_t buffer_pool_idle_bytes() noexcept;
// In a forked child: abandon the inherited pool (its queues may be mid-update) and start an empty one.
void buffer_pool_after_fork() noexcept;

}  // namespace llmtrace::detail
