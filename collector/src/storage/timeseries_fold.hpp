// Folds records into the buckets of GET /api/stats/timeseries: counts and sums per bucket (and model), and
// latency p50/p95 from the latencies themselves (nearest rank). Shared by every store that aggregates in
// memory. Not thread-safe: one fold per query.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "storage/store.hpp"

namespace llmtrace::storage {

class timeseries_fold {
 public:
  struct item {
    int64_t created_at_ms = 0;
    std::string model;  // by_model only
    bool error = false;
    std::optional<double> latency_ms;
    int64_t prompt_tokens = 0;
    int64_t completion_tokens = 0;
    int64_t total_tokens = 0;
    double cost_usd = 0;
  };

  explicit timeseries_fold(const timeseries_query& q) : q_(q) {}

  // Items outside [from, to) are ignored.
  void add(item it);
  // Time order, then model name.
  std::vector<timeseries_row> rows();

 private:
  struct bucket {
    timeseries_row row;
    std::vector<double> latencies;
  };
  timeseries_query q_;
  std::map<std::pair<int64_t, std::string>, bucket> buckets_;
};

}  // namespace llmtrace::storage
