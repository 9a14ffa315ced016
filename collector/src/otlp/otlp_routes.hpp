// POST /v1/traces, /v1/logs and /v1/metrics (OTLP/HTTP): a thin handler per signal — auth, admission,
// the body under the configured cap, decode (decode.hpp), map (genai_map.hpp, span_writes.hpp), one call to
// the ingest service (one transaction per request: nothing stored half; live events after the commit), and
// the reply in the request's encoding (reply.hpp). Metrics are answered 200 and dropped. Overload and a busy
// store answer 503 with Retry-After, which OTLP exporters retry.
// Lifetime: the receiver and everything it refers to outlive the server. Thread safety: the receiver may be
// used from every HTTP worker at once.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "http/server_fwd.hpp"
#include "otlp/otlp_model.hpp"
#include "otlp/span_writes.hpp"

namespace llmtrace::storage {
class store_reader;
}
namespace llmtrace::ingest {
class ingest_service;
}

namespace llmtrace::otlp {

// What one export request became.
struct export_outcome {
  int64_t stored = 0;    // records created or updated
  int64_t rejected = 0;  // items refused (partial success)
  std::string message;   // why, when rejected > 0
};

class receiver {
 public:
  receiver(ingest::ingest_service& ingest, storage::store_reader& reads) : ingest_(ingest), reads_(reads) {}

  // Every span to a record (with content held for it from earlier log requests), one transaction.
  // Store errors (storage::store_busy / store_unavailable) propagate; then nothing was stored.
  export_outcome traces(const traces_request& req);
  // Content log records: attached to their stored span (filling messages it has none of yet), or held until
  // the span arrives. Other log records are dropped.
  export_outcome logs(const logs_request& req);

  const pending_content& held() const { return pending_; }

 private:
  std::optional<model::record_write> attach_held(const model::record& stored);

  ingest::ingest_service& ingest_;
  storage::store_reader& reads_;
  pending_content pending_;
};

void mount(httplib::Server& server, receiver& rx, ingest::ingest_service& ingest, const config& cfg);

}  // namespace llmtrace::otlp
