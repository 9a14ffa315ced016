// GET /api/stats/timeseries: what the dashboard draws (calls, errors, latency p50/p95, tokens, cost per time
// bucket, optionally by model). The handler parses and bounds the query (times as RFC 3339 or epoch ms,
// buckets as `60s`/`5m`/`1h`/`1d` or ms, at most 10,000 buckets), asks the store once, and encodes. A store
// answers a `from` on a whole minute with a bucket of whole minutes from its per-minute rollup (fast at any
// size); any other shape (`from` inside a minute, a bucket like 90s or 500ms) falls back to a scan of the
// records in range (storage/timeseries_rollup.hpp). The default `from` is minute-aligned for that reason.
// Thread safety: stateless.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "api/routes.hpp"

namespace llmtrace::api {

inline constexpr int64_t max_timeseries_buckets = 10000;

// "1795672800000" (epoch ms) or RFC 3339; nullopt for anything else.
std::optional<int64_t> parse_time_param(std::string_view text);
// "60000" (ms), "500ms", "60s", "5m", "1h", "1d"; nullopt for anything else (including overflow). 0 parses.
std::optional<int64_t> parse_duration_ms(std::string_view text);

void mount_timeseries(httplib::Server& server, const api_deps& deps);

}  // namespace llmtrace::api
