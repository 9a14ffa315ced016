// Hand-written JSON for the hot path: string escaping, RFC 3339 timestamps and one record's text.
// Pure functions, thread-safe; no allocation beyond growing the caller's buffer.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "llmtrace/llmtrace.hpp"

namespace llmtrace::detail {

// Appends `s` as a JSON string literal (with quotes). Invalid UTF-8 becomes U+FFFD so the text is always valid.
void append_json_string(std::string& out, std::string_view s);

// "YYYY-MM-DDTHH:MM:SS.mmmZ"
void append_rfc3339(std::string& out, std::chrono::system_clock::time_point t);

// Appends the record as one JSON object in the POST /api/trace shape; `id` is used (it must not be empty).
void append_record(std::string& out, const record& r, std::string_view id);

// Cheap structural check of a JSON object's text without building a tree: balanced brackets outside strings,
// one top-level object. Sets has_id when the object has a top-level "id" key. Returns false when malformed.
bool scan_object(std::string_view json, bool& has_id) noexcept;

// Writes a UUIDv7 into buf (36 chars, no terminator).
void write_uuid_v7(char* buf) noexcept;

// Called in a forked child so it does not repeat the parent's random sequence.
void reseed_ids_after_fork() noexcept;

}  // namespace llmtrace::detail
