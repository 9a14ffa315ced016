// Passing the upstream's answer back to the caller. Streams go chunk by chunk: a worker thread reads the
// upstream and queues chunks on a stream_bridge, the response's chunked content provider writes them to the
// caller as they come, so nothing is buffered and the upstream status is known before the caller's status
// line is written. Keys never leave the server (redacted from headers, bodies and streams).
// Thread safety: a bridge is shared by the worker (until `done`) and the content provider (under its mutex);
// the bridge joins its worker before it dies.
#pragma once

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>

#include "proxy/proxy_call.hpp"
#include "upstream/recording.hpp"
#include "upstream/stream_assembler.hpp"
#include "upstream/upstream_client.hpp"

namespace llmtrace::proxy {

// The value of a header (case-insensitive name), or fallback.
std::string header_value(const httplib::Headers& headers, const char* name, const char* fallback);

// Copies the forwardable upstream response headers (not Content-Type: set with the body), redacted.
void copy_response_headers(const httplib::Headers& from, httplib::Response& res,
                           const std::vector<std::string>& secrets);

// The hand-off between the upstream reader (worker thread) and the caller's writer (content provider).
struct stream_bridge {
  std::mutex m;
  std::condition_variable cv;
  bool headers_ready = false;
  bool event_stream = false;
  int status = 0;
  httplib::Headers headers;
  std::deque<std::string> chunks;
  bool done = false;
  bool client_gone = false;
  upstream::call_result result;
  // Touched only by the worker until `done`, then only by whoever finalizes (after join).
  std::string raw;
  upstream::stream_assembler assembler;
  std::optional<double> ttft_ms;
  std::unique_ptr<upstream::stream_redactor> redactor;  // used by the content provider only
  std::shared_ptr<upstream::call_canceler> canceler = std::make_shared<upstream::call_canceler>();
  std::thread worker;  // last: joined by the destructor before the state it uses goes away

  ~stream_bridge();
  void join();
};

// Starts the worker that sends `request` upstream and feeds the bridge.
void start_worker(const std::shared_ptr<stream_bridge>& bridge, const std::shared_ptr<proxy_call>& call,
                  upstream::call_request request);

// Completes the record of a streamed call once the upstream worker is done (joins it). Idempotent.
void finalize_stream(stream_bridge& bridge, proxy_call& call, bool success);

// Answers with the event stream as it arrives (headers already known). `keep` rides along with the response
// (e.g. the upstream slot) until the response is gone.
void relay_event_stream(httplib::Response& res, const std::shared_ptr<stream_bridge>& bridge,
                        const std::shared_ptr<proxy_call>& call, std::shared_ptr<void> keep);

}  // namespace llmtrace::proxy
