// The exporter seam: the flusher hands settled-size batches of record texts to an exporter and books what
// it reports. HTTP/JSON batches to the collector (http_exporter) is one implementation, the in-memory one
// (memory_exporter) serves tests; the OTLP exporter plugs in here next.
// Threading: export_batch() runs on the flusher thread only, one call at a time; shutdown() may come from
// another thread while an export is in flight. Exporters never throw.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "warnings.hpp"

namespace llmtrace::detail {

using steady_clock = std::chrono::steady_clock;

enum class export_result {
  success,  // the batch is settled: accepted + rejected == batch size
  failure,  // nothing was delivered, for good (not retryable, or retries used up)
  aborted,  // gave up at the shutdown deadline: the records are discarded, not failed
};

struct export_outcome {
  export_result result = export_result::failure;
  uint64_t accepted = 0;  // success: records the receiver committed
  uint64_t rejected = 0;  // success: records it refused (a partial success is not retried)
};

// What the flusher offers an exporter during one export_batch() call.
class export_context {
 public:
  virtual bool aborted() const noexcept = 0;  // the shutdown deadline passed: give up now
  // Set once shutdown() was called: no request may outlive this time point.
  virtual std::optional<steady_clock::time_point> deadline() const noexcept = 0;
  // Sleeps until `until`, cut short by an abort and bounded by the shutdown deadline (retry backoff).
  virtual void sleep_until(steady_clock::time_point until) noexcept = 0;
  virtual void count_request() noexcept = 0;  // stats::requests
  virtual void count_retry() noexcept = 0;    // stats::retried
  virtual void warn(warn_kind k, const std::string& msg) noexcept = 0;

 protected:
  ~export_context() = default;
};

class exporter {
 public:
  virtual ~exporter() = default;
  // Delivers one batch; each record is one JSON object's text, already validated.
  virtual export_outcome export_batch(std::span<const std::string_view> records,
                                      export_context& ctx) noexcept = 0;
  // Called from the shutting-down thread when the flusher missed its shutdown deadline: an in-flight
  // export_batch() must return by `deadline` (the HTTP exporter closes its socket); later calls fail fast.
  virtual void shutdown(steady_clock::time_point deadline) noexcept = 0;
};

// Makes the exporter of one flusher runtime (a forked child gets a fresh one: sockets are not inherited).
using exporter_factory = std::function<std::unique_ptr<exporter>()>;

}  // namespace llmtrace::detail
