// Decoded spans to record drafts: everything the store needs for one span (ids, tree link, kind, times,
// status, model, usage, metadata, session hint), and for GenAI spans a `request` rebuilt in the OpenAI chat
// shape and a `response` in the chat completion shape, from whichever dialect the instrumentation speaks:
// OTel GenAI semconv (current: gen_ai.input/output.messages; older: content as span events or log records),
// OpenLLMetry (gen_ai.prompt.{i}.*), OpenInference (llm.input_messages.{i}.message.*). Each message comes
// from exactly one source (the first that has any), so content sent twice is never shown twice.
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/record.hpp"
#include "otlp/otlp_model.hpp"

namespace llmtrace::otlp {

struct record_draft {
  std::string id;         // the span id, 16 lowercase hex
  std::string trace_id;   // 32 lowercase hex
  std::string parent_id;  // the parent span id; empty for a root
  std::string name;
  std::string kind = "other";  // llm | agent | tool | retrieval | embedding | chain | other
  int64_t started_at_ms = 0;
  int64_t ended_at_ms = 0;
  double latency_ms = 0;
  model::record_status status = model::record_status::success;
  std::string error_message;
  std::string model;  // the response model, else the request model; empty: unknown
  model::token_usage usage;
  nlohmann::json request;   // OpenAI chat request for LLM spans; {name, arguments} for tools; null when none
  nlohmann::json response;  // chat completion for LLM spans; {result} / {output}; null when none
  nlohmann::json metadata = nlohmann::json::object();  // all span attributes + "otel.*" keys (see below)
  std::string session_hint;  // gen_ai.conversation.id, session.id, traceloop association property; or empty
  std::string dialect;       // "otel_genai" | "openllmetry" | "openinference" | "" (not a GenAI span)
};
// metadata keys added beside the span attributes: "otel.resource" (resource attributes), "otel.scope"
// ({name, version}), "otel.span_kind" ("client", ...), "otel.events" (events that are not message content,
// e.g. exceptions), "otel.links".

// Content log records (or span events) by the span they belong to. Pointers stay valid while `logs` lives.
struct content_index {
  std::vector<std::pair<std::string, std::vector<const log_record*>>> by_span;  // key: trace_id + span_id
  const std::vector<const log_record*>* find(const std::string& trace_id, const std::string& span_id) const;
};
content_index index_content_logs(const logs_request& logs);

// One draft per span, in request order. `logs` (optional) are content log records that arrived in the same
// exchange; each attaches to its span by trace and span id.
std::vector<record_draft> map_spans(const traces_request& req, const content_index* logs = nullptr);

record_draft map_span(const span& s, const nlohmann::json& resource_attributes, const scope_info& scope,
                      const std::vector<const log_record*>* logs = nullptr);

// The draft as JSON, with the field names of the record API (ids, kind, times in ms, usage, request, ...).
// For tools, logs and tests; the store takes the draft itself.
nlohmann::json to_json(const record_draft& d);

// For content that arrives after its span (a later /v1/logs request): fills the messages of `request` and the
// choices of `response` from the log records when they have none yet (never duplicates what is there).
// Returns true when anything changed.
bool apply_content_logs(nlohmann::json& request, nlohmann::json& response,
                        const std::vector<const log_record*>& logs);

}  // namespace llmtrace::otlp
