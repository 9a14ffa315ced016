// The ingest load generator shared by row 2 (SQLite) and row 2c (PostgreSQL, one or two collectors): 2 KB
// OpenAI-shaped records from a fixed pool, 512 per POST /api/traces, keep-alive clients that take batch
// numbers from a shared counter, so every run posts exactly the same rows (fresh ids) whatever the client
// count. Threading: post_batches starts and joins its own client threads; the rest are pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bench_util.hpp"

namespace llmtrace::bench {

inline constexpr int kIngestBatch = 512;
inline constexpr int kIngestSessions = 64;

// A pool of distinct ~2 KB request/response pairs, cycled.
struct row_source {
  std::vector<chat_pair> pairs;
  row_source();
  const chat_pair& pair(int64_t i) const { return pairs[static_cast<std::size_t>(i) % pairs.size()]; }
};

std::string ingest_session_of(int64_t i);  // 64 sessions, interleaved
int64_t ingest_turn_of(int64_t i);

// The body of batch b (kIngestBatch records) into `body` (cleared first).
void ingest_batch_body(const row_source& src, int64_t b, std::string& body);

struct post_result {
  int64_t accepted = 0, rejected = 0, retries = 0, failures = 0;
  double seconds = 0;
  std::vector<double> batch_ms;  // round trip of each accepted batch
};

// Posts batches 0..batches-1 with clients_per_port keep-alive clients on each port (collectors on 127.0.0.1),
// retrying 503/429 (bounded); stops at hard_stop_s seconds whatever is left.
post_result post_batches(const std::vector<int>& ports, int clients_per_port, const row_source& src,
                         int64_t batches, int hard_stop_s = 120);

// CPU seconds (user + system) this process has used so far, all threads.
double self_cpu_seconds();

}  // namespace llmtrace::bench
