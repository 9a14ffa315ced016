// The collector's own protocol: one POST /api/traces of {"traces":[...]} per batch over a keep-alive HTTP
// connection, with the OTLP retry rules (429/502/503/504 and connection errors are retried with capped
// exponential backoff and jitter, Retry-After honoured; anything else fails the batch; a 2xx may report a
// partial success). Threading: as exporter.hpp says; the connection is guarded for shutdown() only.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "exporter.hpp"
#include "llmtrace/llmtrace.hpp"

namespace httplib {
class Client;
}

namespace llmtrace::detail {

class http_exporter final : public exporter {
 public:
  explicit http_exporter(const options& opts);
  ~http_exporter() override;

  export_outcome export_batch(std::span<const std::string_view> records,
                              export_context& ctx) noexcept override;
  void shutdown(steady_clock::time_point deadline) noexcept override;

 private:
  export_outcome post(const std::string& body, uint64_t n, export_context& ctx);
  void ensure_client();

  const options opts_;
  std::string scheme_host_;  // "http://127.0.0.1:8080"
  std::string path_;         // "/api/traces" under the endpoint's path prefix
  uint64_t jitter_state_ = 0x243F6A8885A308D3ull;
  std::mutex mu_;  // guards client_ against shutdown() from another thread
  std::unique_ptr<httplib::Client> client_;
};

}  // namespace llmtrace::detail
