// Byte spans of a trace's top-level `request`, `response` and `metadata` values inside the body the client
// sent, so that ingest can store them as sent instead of re-serialising the parsed tree (parse once).
// Only for a body that parse_json_limited already accepted (grammar, UTF-8, depth): the scanner trusts it and
// gives up (returns nothing) on anything it does not expect, and the caller then falls back to dumping.
// Thread safety: pure functions; spans point into the caller's body and live as long as it does.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>
#include <vector>

namespace llmtrace::ingest {

struct raw_spans {
  std::string_view request;  // empty: not found (or not safe to use); the parsed value is used instead
  std::string_view response;
  std::string_view metadata;
};

// Spans of one trace object (the POST /api/trace body).
std::optional<raw_spans> scan_trace_spans(std::string_view body);

// Spans of every item of `traces` in a {"traces":[...]} body, in order; nullopt when the layout is not the
// one expected (the caller then dumps the parsed values).
std::optional<std::vector<raw_spans>> scan_batch_spans(std::string_view body);

}  // namespace llmtrace::ingest
