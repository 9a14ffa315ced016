// The OTLP/HTTP JSON exporter (options::protocol == protocol::otlp_json): each batch of records becomes one
// ExportTraceServiceRequest POSTed to <endpoint>/v1/traces, so an app can send to any OpenTelemetry
// Collector (or to llmtrace's own /v1/traces). Records become spans in the current OTel GenAI semantic
// conventions (gen_ai.input.messages / output.messages, usage, conversation id = session id); ids that are
// not OTel-shaped (UUIDv7 record ids, no trace id) are hashed into span and trace ids. Retries follow the
// OTLP rules (http_transport, shared with the native exporter).
// Threading: as exporter.hpp says; the connection is guarded for shutdown() only.
#pragma once

#include <string>
#include <string_view>

#include "exporter.hpp"
#include "http_transport.hpp"
#include "llmtrace/llmtrace.hpp"

namespace llmtrace::detail {

// One record's JSON text (the SDK's trace shape) as an OTLP/JSON Span object's text; empty when the text is
// not a JSON object. Exposed for tests.
std::string record_to_otlp_span(std::string_view record_json);

class otlp_json_exporter final : public exporter {
 public:
  explicit otlp_json_exporter(const options& opts);

  export_outcome export_batch(std::span<const std::string_view> records,
                              export_context& ctx) noexcept override;
  void shutdown(steady_clock::time_point deadline) noexcept override;

 private:
  batch_transport transport_;
};

}  // namespace llmtrace::detail
