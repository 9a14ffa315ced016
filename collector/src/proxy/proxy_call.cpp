#include "proxy/proxy_call.hpp"

#include <spdlog/spdlog.h>

#include "http/errors.hpp"
#include "model/time.hpp"
#include "proxy/recorder.hpp"
#include "storage/store.hpp"
#include "upstream/recording.hpp"

namespace llmtrace::proxy {

double elapsed_ms(clock_type::time_point since) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - since).count();
}

nlohmann::json proxy_call::metadata(int upstream_status, std::optional<double> ttft_ms) const {
  nlohmann::json m = {{"source", "proxy"}, {"endpoint", endpoint_path}, {"stream", stream}};
  if (upstream_status > 0) m["upstream_status"] = upstream_status;
  if (ttft_ms) m["time_to_first_token_ms"] = *ttft_ms;
  return m;
}

void proxy_call::write_pending() {
  storage::record_write w;
  w.id = record_id;
  w.session_id = session_id;
  w.request_json = request_json;
  w.status = model::record_status::pending;
  w.metadata_json = http::dump_json(metadata(0, std::nullopt));
  w.started_at_ms = started_ms;
  w.received_at_ms = started_ms;
  records->submit(std::move(w));
}

void proxy_call::complete(const std::string& response_json, const std::string& error, int upstream_status,
                          std::optional<double> ttft_ms) {
  if (finalized) return;
  finalized = true;
  storage::record_write w;
  w.id = record_id;  // completes the pending record (its turn is kept)
  w.session_id = session_id;
  w.request_json = request_json;
  w.response_json = upstream::redact(response_json, secrets);
  w.status = error.empty() ? model::record_status::success : model::record_status::error;
  if (!error.empty()) w.error_message = upstream::redact(error, secrets);
  w.metadata_json = http::dump_json(metadata(upstream_status, ttft_ms));
  w.started_at_ms = started_ms;
  w.ended_at_ms = model::now_ms();
  w.received_at_ms = *w.ended_at_ms;
  w.latency_ms = elapsed_ms(t0);
  if (!error.empty()) spdlog::info("proxy {} recorded as an error: {}", endpoint_path, *w.error_message);
  records->submit(std::move(w));
}

}  // namespace llmtrace::proxy
