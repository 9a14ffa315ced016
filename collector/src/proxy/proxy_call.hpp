// One proxied call and its record: the pending write when the call starts and the final write (same id) when
// it ends, both queued on the recorder, never awaited. Keys seen by the call are redacted from anything
// recorded. Thread safety: shared by the handler, the stream worker and the content provider, which take
// turns (see stream_bridge.hpp); complete() runs once.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "upstream/upstream_client.hpp"

namespace llmtrace::proxy {

class recorder;

using clock_type = std::chrono::steady_clock;

double elapsed_ms(clock_type::time_point since);

struct proxy_call {
  recorder* records = nullptr;
  std::shared_ptr<upstream::upstream_client> client;
  upstream::endpoint target = upstream::endpoint::chat_completions;
  std::string endpoint_path;  // "/v1/chat/completions"
  std::string request_json;
  bool stream = false;
  std::string session_id;
  std::string record_id;  // made here, so the answer can name it before the record is stored
  int64_t started_ms = 0;
  clock_type::time_point t0;
  std::vector<std::string> secrets;  // never stored: redacted from anything recorded
  bool finalized = false;

  nlohmann::json metadata(int upstream_status, std::optional<double> ttft_ms) const;

  // Queued, not awaited: the call is forwarded at once (recording is best effort and off the request path;
  // the recorder stores this before the final write of the same record).
  void write_pending();

  // The final record (idempotent: only the first call writes).
  void complete(const std::string& response_json, const std::string& error, int upstream_status,
                std::optional<double> ttft_ms);
};

}  // namespace llmtrace::proxy
