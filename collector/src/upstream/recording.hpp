// What replay and the proxy share when they turn an upstream call into a stored record: endpoint inference
// from a request's shape, upstream error messages, safe JSON text for stored bodies, secret redaction, the
// per-key-per-hour proxy session id, and the refusals shared by both. Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "upstream/upstream_client.hpp"

namespace llmtrace::upstream {

// messages -> chat/completions, prompt -> completions, input + an embedding model -> embeddings,
// input -> responses; anything else -> chat/completions.
endpoint infer_endpoint(const nlohmann::json& request);

// The endpoint a stored record was made against: metadata "endpoint" when it names one, else the shape.
endpoint endpoint_for_record(const nlohmann::json& request, const nlohmann::json& metadata);

// "upstream 429: Rate limit reached ..." from an upstream error body (OpenAI {"error":{"message"}} or text),
// or the transport failure ("upstream unreachable: ...", "upstream stream broken: ...").
std::string error_message_for(const call_result& r, std::string_view stream_error = {});

// The body as JSON text to store: itself when it is valid JSON (bounded depth), else a JSON string of
// (at most max_bytes of) the text, "null" when empty.
std::string body_as_json_text(std::string_view body, std::size_t max_bytes = 64 * 1024);

// Replaces every occurrence of each non-trivial secret (len >= 8) in text with "[redacted]".
std::string redact(std::string text, const std::vector<std::string>& secrets);

// redact() for a byte stream split anywhere: emits everything that cannot be the start of a secret at once
// and holds back only a tail that could be (usually nothing, so SSE still flows chunk by chunk).
class stream_redactor {
 public:
  explicit stream_redactor(std::vector<std::string> secrets);
  // The bytes that are safe to pass on now.
  std::string push(std::string_view chunk);
  // The held-back tail at the end of the stream.
  std::string finish();

 private:
  std::vector<std::string> secrets_;
  std::string pending_;
};

// "proxy-<16 hex>": SHA-256 of the caller's credential and the UTC hour; stable within the hour, never
// reversible to the key.
std::string proxy_session_id(std::string_view caller_credential, int64_t now_ms);

// The bearer token of an Authorization value ("Bearer sk-..." -> "sk-...", "Bearer" -> ""); the value itself
// otherwise.
std::string bearer_token(std::string_view authorization);

// True when the upstream is this very server (e.g. OPENAI_BASE_URL=http://127.0.0.1:8080/v1 exported in the
// collector's own shell): the proxy would call itself forever. local_addr/local_port: where the request
// arrived.
bool points_at_self(const base_url& upstream, const std::string& local_addr, int local_port);

// Why a call to the configured upstream must not be made, as the HTTP error replay and the proxy answer with.
struct refusal {
  int status = 503;
  std::string code;
  std::string message;
};

// The refusal when no usable client could be built from the config (problem: make_client's reason) or when
// the upstream is this collector itself; nullopt when the call may go ahead.
std::optional<refusal> check_callable(const upstream_client* client, const std::string& problem,
                                      const std::string& local_addr, int local_port);

// A client for the options; nullptr (and a reason in *why) when the configured base URL is unusable.
std::shared_ptr<upstream_client> make_client(const upstream_options& options, std::string* why);

}  // namespace llmtrace::upstream
