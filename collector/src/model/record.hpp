// The collector's data model: sessions and records, as stored and as served by the API (SPEC "Data model").
// Plain values, no behaviour; JSON bodies are kept as the validated text they arrived in (parse once).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace llmtrace::model {

enum class record_status { pending, success, error };

std::string_view to_string(record_status s) noexcept;
// "pending" | "success" | "error"; nullopt for anything else.
std::optional<record_status> parse_status(std::string_view s) noexcept;

// What a record stands for in a turn's tree (SPEC "Data model"); llm unless told otherwise.
enum class record_kind { llm, agent, tool, retrieval, embedding, chain, other };

std::string_view to_string(record_kind k) noexcept;
// One of the names above; nullopt for anything else.
std::optional<record_kind> parse_kind(std::string_view s) noexcept;

struct token_usage {
  std::optional<int64_t> prompt_tokens;
  std::optional<int64_t> completion_tokens;
  std::optional<int64_t> total_tokens;
  // Of prompt_tokens, those read from the provider's prompt cache
  // (usage.prompt_tokens_details.cached_tokens): priced at the cached input rate at ingest, not stored.
  std::optional<int64_t> cached_tokens;
};

// Feedback or an evaluation attached to a record or a session (SPEC "Query and control API", scores).
enum class score_target { record, session };

struct score {
  std::string id;  // time-ordered, made by the server
  score_target target = score_target::record;
  std::string target_id;   // the record's or the session's id
  std::string session_id;  // the session it belongs to (the target itself for a session score)
  std::string name;
  std::string value_json;  // a JSON number, true/false or string
  std::string comment;     // empty: none
  int64_t created_at_ms = 0;
};

// Times are milliseconds since the Unix epoch, UTC; the API renders them as RFC 3339 with milliseconds.
struct record {
  std::string id;  // time-ordered (UUIDv7) when the server makes it
  std::string session_id;
  int64_t turn_number = 0;             // >= 1 once stored
  std::string request_json = "null";   // JSON text
  std::string response_json = "null";  // JSON text, "null" when there is none yet
  record_status status = record_status::pending;
  std::string error_message;
  std::string metadata_json = "{}";  // JSON object text
  int64_t created_at_ms = 0;
  int64_t updated_at_ms = 0;
  std::optional<int64_t> started_at_ms;
  std::optional<int64_t> ended_at_ms;
  std::optional<double> latency_ms;
  std::string model;  // empty: unknown
  token_usage usage;
  std::string replay_of;  // record id, empty: not a replay
  std::string parent_id;  // record id, empty: top level
  std::string trace_id;   // the trace (OTLP / SDK spans) the record belongs to; empty: none
  std::string name;       // span name; empty: none
  record_kind kind = record_kind::llm;
  std::optional<double> cost_usd;  // sent by the client, else priced from model + usage; none: unknown
  // Filled by the routes that show scores (one list_scores per page), oldest first; none: not loaded, and
  // then the JSON has no "scores" key (an SSE event from ingest, which would otherwise cost a read per
  // batch).
  std::optional<std::vector<score>> scores;
};

struct session {
  std::string id;
  std::string name;
  int64_t created_at_ms = 0;
  int64_t updated_at_ms = 0;  // last activity
  // Derived counts.
  int64_t record_count = 0;
  int64_t turn_count = 0;
  int64_t error_count = 0;
  int64_t total_tokens = 0;
  double cost_usd = 0;                       // sum over the records whose cost is known
  std::optional<std::vector<score>> scores;  // the session's own scores, as record::scores
};

}  // namespace llmtrace::model
