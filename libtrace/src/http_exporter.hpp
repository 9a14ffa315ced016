// The collector's own protocol: one POST /api/traces of {"traces":[...]} per batch over a keep-alive HTTP
// connection (http_transport: the OTLP retry rules; a 2xx may report a partial success as "accepted" or
// "rejected"). Threading: as exporter.hpp says.
#pragma once

#include "exporter.hpp"
#include "http_transport.hpp"
#include "llmtrace/llmtrace.hpp"

namespace llmtrace::detail {

class http_exporter final : public exporter {
 public:
  explicit http_exporter(const options& opts);

  export_outcome export_batch(std::span<const std::string_view> records,
                              export_context& ctx) noexcept override;
  void shutdown(steady_clock::time_point deadline) noexcept override;

 private:
  batch_transport transport_;
};

}  // namespace llmtrace::detail
