// The neutral form of an OTLP export request, as both decoders (protobuf and JSON) produce it: resources,
// scopes, spans and log records with ids as lowercase hex and every AnyValue as a JSON value. Nothing here
// knows about GenAI or about the store; genai_map.hpp turns spans into record drafts.
// Plain values; safe to move between threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace llmtrace::otlp {

// Caps applied while decoding, so a hostile body is refused before it costs memory or stack.
struct limits {
  std::size_t max_body_bytes = 16u * 1024u * 1024u;  // after gzip inflation
  std::size_t max_spans = 10'000;                    // per request (exporters batch 512 by default)
  std::size_t max_log_records = 10'000;              // per request
  std::size_t max_any_value_depth = 16;              // AnyValue nested in arrays / kvlists
  std::size_t max_value_bytes = 4u * 1024u * 1024u;  // one string or bytes value
  std::size_t max_attributes = 4096;                 // per span, event, log record, resource or scope
};

struct scope_info {
  std::string name;
  std::string version;
  nlohmann::json attributes = nlohmann::json::object();
};

struct span_event {
  std::string name;
  uint64_t time_unix_nano = 0;
  nlohmann::json attributes = nlohmann::json::object();
};

struct span_link {
  std::string trace_id;  // 32 lowercase hex
  std::string span_id;   // 16 lowercase hex
  nlohmann::json attributes = nlohmann::json::object();
};

// Span.SpanKind and Status.StatusCode values of the OTLP proto.
enum class span_kind : int {
  unspecified = 0,
  internal = 1,
  server = 2,
  client = 3,
  producer = 4,
  consumer = 5
};
enum class status_code : int { unset = 0, ok = 1, error = 2 };

struct span {
  std::string trace_id;        // 32 lowercase hex, never all zero
  std::string span_id;         // 16 lowercase hex, never all zero
  std::string parent_span_id;  // 16 lowercase hex, empty for a root
  std::string name;
  span_kind kind = span_kind::unspecified;
  uint64_t start_time_unix_nano = 0;
  uint64_t end_time_unix_nano = 0;
  status_code status = status_code::unset;
  std::string status_message;
  nlohmann::json attributes = nlohmann::json::object();  // key -> AnyValue as JSON; later duplicates win
  std::vector<span_event> events;
  std::vector<span_link> links;
  std::size_t resource_index = 0;  // into traces_request::resources
  std::size_t scope_index = 0;     // into traces_request::scopes
};

struct log_record {
  uint64_t time_unix_nano = 0;
  uint64_t observed_time_unix_nano = 0;
  int severity_number = 0;
  std::string severity_text;
  std::string event_name;  // LogRecord.event_name, else the `event.name` attribute
  nlohmann::json body;     // AnyValue as JSON, null when absent
  nlohmann::json attributes = nlohmann::json::object();
  std::string trace_id;  // 32 lowercase hex or empty
  std::string span_id;   // 16 lowercase hex or empty
  std::size_t resource_index = 0;
  std::size_t scope_index = 0;
};

struct traces_request {
  std::vector<nlohmann::json> resources;  // resource attributes, one JSON object per ResourceSpans
  std::vector<scope_info> scopes;
  std::vector<span> spans;
};

struct logs_request {
  std::vector<nlohmann::json> resources;
  std::vector<scope_info> scopes;
  std::vector<log_record> records;
};

}  // namespace llmtrace::otlp
