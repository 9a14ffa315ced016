#include "storage/timeseries_fold.hpp"

#include <algorithm>
#include <cmath>

namespace llmtrace::storage {
namespace {

// Nearest-rank percentile of sorted values (p in (0, 1]).
double percentile(const std::vector<double>& sorted, double p) {
  const auto rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(sorted.size())));
  return sorted[std::clamp<std::size_t>(rank, 1, sorted.size()) - 1];
}

}  // namespace

void timeseries_fold::add(item it) {
  if (q_.bucket_ms <= 0 || it.created_at_ms < q_.from_ms || it.created_at_ms >= q_.to_ms) return;
  const int64_t start = q_.from_ms + (it.created_at_ms - q_.from_ms) / q_.bucket_ms * q_.bucket_ms;
  auto& b = buckets_[{start, q_.by_model ? std::move(it.model) : std::string()}];
  b.row.calls += 1;
  b.row.errors += it.error ? 1 : 0;
  if (it.latency_ms) b.latencies.push_back(*it.latency_ms);
  b.row.prompt_tokens += it.prompt_tokens;
  b.row.completion_tokens += it.completion_tokens;
  b.row.total_tokens += it.total_tokens;
  b.row.cost_usd += it.cost_usd;
}

std::vector<timeseries_row> timeseries_fold::rows() {
  std::vector<timeseries_row> out;
  out.reserve(buckets_.size());
  for (auto& [key, b] : buckets_) {
    timeseries_row r = std::move(b.row);
    r.bucket_start_ms = key.first;
    r.model = key.second;
    if (!b.latencies.empty()) {
      std::sort(b.latencies.begin(), b.latencies.end());
      r.latency_p50_ms = percentile(b.latencies, 0.50);
      r.latency_p95_ms = percentile(b.latencies, 0.95);
    }
    out.push_back(std::move(r));
  }
  buckets_.clear();
  return out;
}

}  // namespace llmtrace::storage
