// The bodies the OTLP/HTTP routes answer with, in the request's encoding: Export{Trace,Logs,Metrics}
// ServiceResponse (with partial_success when something was rejected) for 2xx, google.rpc.Status for 4xx/5xx.
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "otlp/decode.hpp"

namespace llmtrace::otlp {

enum class signal { traces, logs, metrics };

// rejected == 0 and an empty message: the response carries no partial_success (full success).
std::string export_response(signal s, encoding e, int64_t rejected = 0, std::string_view error_message = {});

// google.rpc.Status {code, message}; code is the gRPC code matching the HTTP status (400/413/415 →
// INVALID_ARGUMENT, 429 → RESOURCE_EXHAUSTED, 503 → UNAVAILABLE, other → UNKNOWN).
std::string status_body(encoding e, int http_status, std::string_view message);

}  // namespace llmtrace::otlp
