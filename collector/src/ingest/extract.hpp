// Pure extraction of indexed fields from OpenAI-shaped request/response JSON: model, token usage and the
// message text to index for search. Shapes: chat.completions, completions, responses API, embeddings, and a
// streamed response sent as an array of chunk (or responses event) objects. Reused by replay and proxy.
// Thread safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "model/record.hpp"

namespace llmtrace::ingest {

// The response's model, else a streamed chunk's model, else the request's model; empty when none.
std::string extract_model(const nlohmann::json& request, const nlohmann::json& response);

// Token usage of the response (or of the chunk that carries it). Fields not found stay empty;
// total_tokens is derived as prompt + completion when both are known and total is not sent.
model::token_usage extract_usage(const nlohmann::json& response);
// usage.prompt_tokens_details.cached_tokens (or input_tokens_details.cached_tokens) of a usage object.
std::optional<int64_t> cached_token_count(const nlohmann::json& usage);

// Message text only (never whole JSON): request messages / input / prompt / instructions, response choices'
// message content / text / output_text / output content text, streamed deltas. Parts are joined by '\n';
// the result is cut (at a UTF-8 boundary) to max_bytes.
std::string extract_search_text(const nlohmann::json& request, const nlohmann::json& response,
                                std::size_t max_bytes = 256 * 1024);

struct extracted_fields {
  std::string model;
  model::token_usage usage;
  std::string search_text;
};

extracted_fields extract_all(const nlohmann::json& request, const nlohmann::json& response);

}  // namespace llmtrace::ingest
