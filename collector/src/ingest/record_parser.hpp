// Validates one trace object (the POST /api/trace shape) into a storage::record_write: types, ranges,
// timestamps, unknown fields folded into metadata, model/usage/search text extracted when not sent. What is
// derived from the stored record (default session name, latency) is left to write_rules. Errors name the
// offending field. Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "storage/store.hpp"

namespace llmtrace::ingest {

struct field_error {
  std::string code;  // "invalid_field", "invalid_json", ...
  std::string message;
  std::string field;  // the offending field ("turn_number"), empty when about the whole body
};

inline constexpr std::size_t max_id_length = 128;
inline constexpr std::size_t max_session_id_length = 256;
inline constexpr std::size_t max_session_name_length = 200;
inline constexpr std::size_t max_name_length = 1024;

// Fills `out` from `trace`. Returns false with `err` set when the trace is invalid.
bool parse_trace(const nlohmann::json& trace, int64_t now_ms, storage::record_write& out, field_error& err);
// The same, storing request/response/metadata as the bytes in `raw` (the body as sent) when it has them.
struct raw_spans;
bool parse_trace(const nlohmann::json& trace, int64_t now_ms, storage::record_write& out, field_error& err,
                 const raw_spans* raw);

// Serialises a JSON value as stored text (invalid UTF-8 replaced, never thrown).
std::string to_stored_text(const nlohmann::json& j);

// Fills model/usage/search_text of a write that has them unset, from its request/response text.
void fill_derived_fields(storage::record_write& w);

}  // namespace llmtrace::ingest
