// One record's JSON text in the POST /api/trace shape, written on the caller's thread by trace(): exact-size
// pooled buffer, straight memcpy's, RFC 3339 timestamps and latencies without snprintf.
// Pure functions, thread-safe; no allocation beyond the payload's buffer or the caller's string.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "llmtrace/llmtrace.hpp"
#include "payload.hpp"

namespace llmtrace::detail {

// "YYYY-MM-DDTHH:MM:SS.mmmZ"
void append_rfc3339(std::string& out, std::chrono::system_clock::time_point t);

// Serialises the record as one JSON object with the given id (not empty). Embedded JSON fields are copied
// verbatim (the flusher validates the whole text). id_is_safe: the id needs no escaping (one we generated).
payload make_record(const record& r, std::string_view id, bool id_is_safe = false);

// Same text appended to a std::string (tests, slow paths).
void append_record(std::string& out, const record& r, std::string_view id);

}  // namespace llmtrace::detail
