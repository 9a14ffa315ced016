// The OTLP/HTTP JSON exporter (options::protocol == protocol::otlp_json): each batch of records becomes one
// ExportTraceServiceRequest POSTed to <endpoint>/v1/traces, so an app can send to any OpenTelemetry
// Collector (or to llmtrace's own /v1/traces). Records become spans in the current OTel GenAI semantic
// conventions (gen_ai.input.messages / output.messages, usage, conversation id = session id); ids that are
// not OTel-shaped (UUIDv7 record ids, no trace id) are hashed into span and trace ids. Retries follow the
// OTLP rules like the native exporter (429/502/503/504 and connection errors, Retry-After honoured).
// Threading: as exporter.hpp says; the connection is guarded for shutdown() only.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "exporter.hpp"
#include "llmtrace/llmtrace.hpp"

namespace httplib {
class Client;
}

namespace llmtrace::detail {

// One record's JSON text (the SDK's trace shape) as an OTLP/JSON Span object's text; empty when the text is
// not a JSON object. Exposed for tests.
std::string record_to_otlp_span(std::string_view record_json);

class otlp_json_exporter final : public exporter {
 public:
  explicit otlp_json_exporter(const options& opts);
  ~otlp_json_exporter() override;

  export_outcome export_batch(std::span<const std::string_view> records,
                              export_context& ctx) noexcept override;
  void shutdown(steady_clock::time_point deadline) noexcept override;

 private:
  export_outcome post(const std::string& body, uint64_t n, export_context& ctx);
  void ensure_client();

  const options opts_;
  std::string scheme_host_;  // "http://127.0.0.1:4318"
  std::string path_;         // "/v1/traces" under the endpoint's path prefix
  uint64_t jitter_state_ = 0x9E3779B97F4A7C15ull;
  std::mutex mu_;  // guards client_ against shutdown() from another thread
  std::unique_ptr<httplib::Client> client_;
};

}  // namespace llmtrace::detail
