// Time helpers shared by ingest, storage and the API: milliseconds since the Unix epoch (UTC) and their
// RFC 3339 text form. Thread safety: pure functions (local time uses localtime_r).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace llmtrace::model {

int64_t now_ms();
// "2026-11-26T06:32:05.123Z"
std::string format_rfc3339_ms(int64_t ms);
// Accepts "YYYY-MM-DDTHH:MM:SS[.frac](Z|+hh:mm|-hh:mm)" (also 't', 'z', a space for 'T', "+hhmm");
// fractions beyond milliseconds are truncated. nullopt for anything else.
std::optional<int64_t> parse_rfc3339_ms(std::string_view text);
// Default session name in local time: "对话-YYYY-MM-DD HH:MM:SS".
std::string format_local_session_name(int64_t ms);

}  // namespace llmtrace::model
