// What records contribute to their session's derived counters (records, errors, pending, tokens, cost, turns,
// last activity), summed per session over one write transaction and applied with one UPDATE before COMMIT.
// Shared by every store's write_tx, so the counters mean the same on each. Not thread-safe: plain values.
#pragma once

#include <cstdint>

#include "model/record.hpp"

namespace llmtrace::storage {

struct session_delta {
  int64_t records = 0, errors = 0, pending = 0, prompt = 0, completion = 0, total = 0;
  int64_t turns = 0;       // maintained by the store (it knows whether a turn is present)
  int64_t touched_at = 0;  // latest updated_at of the records written
  double cost = 0;

  // Adds (sign +1) or removes (sign -1) what r counts for.
  void add(const model::record& r, int sign) {
    const int64_t p = r.usage.prompt_tokens.value_or(0);
    const int64_t c = r.usage.completion_tokens.value_or(0);
    records += sign;
    errors += sign * (r.status == model::record_status::error ? 1 : 0);
    pending += sign * (r.status == model::record_status::pending ? 1 : 0);
    prompt += sign * p;
    completion += sign * c;
    // A report with only the parts still counts towards the session's total.
    total += sign * r.usage.total_tokens.value_or(p + c);
    cost += sign * r.cost_usd.value_or(0.0);
  }
};

}  // namespace llmtrace::storage
