#include "proxy/response_relay.hpp"

#include <strings.h>

#include "http/errors.hpp"

namespace llmtrace::proxy {
namespace {

bool is_event_stream(int status, const httplib::Headers& headers) {
  if (status < 200 || status >= 300) return false;
  for (const auto& [k, v] : headers) {
    if (strcasecmp(k.c_str(), "Content-Type") == 0) return v.find("text/event-stream") != std::string::npos;
  }
  return false;
}

}  // namespace

std::string header_value(const httplib::Headers& headers, const char* name, const char* fallback) {
  for (const auto& [k, v] : headers) {
    if (strcasecmp(k.c_str(), name) == 0) return v;
  }
  return fallback;
}

void copy_response_headers(const httplib::Headers& from, httplib::Response& res,
                           const std::vector<std::string>& secrets) {
  for (const auto& [k, v] : from) {
    if (strcasecmp(k.c_str(), "Content-Type") == 0) continue;  // set with the body
    if (upstream::forwardable_response_header(k) && upstream::header_value_safe(v)) {
      res.set_header(k, upstream::redact(v, secrets));
    }
  }
}

stream_bridge::~stream_bridge() {
  {
    std::lock_guard<std::mutex> lock(m);
    client_gone = true;
  }
  if (worker.joinable()) {
    canceler->cancel();
    worker.join();
  }
}

void stream_bridge::join() {
  if (worker.joinable()) worker.join();
}

void start_worker(const std::shared_ptr<stream_bridge>& bridge, const std::shared_ptr<proxy_call>& call,
                  upstream::call_request request) {
  stream_bridge* b = bridge.get();  // the bridge joins this thread before it dies
  std::shared_ptr<upstream::upstream_client> client = call->client;
  clock_type::time_point t0 = call->t0;
  b->worker = std::thread([b, client, t0, request = std::move(request)] {
    auto result = client->post_streaming(
        request,
        [b](int status, const httplib::Headers& headers) {
          std::lock_guard<std::mutex> lock(b->m);
          b->status = status;
          b->headers = headers;
          b->event_stream = is_event_stream(status, headers);
          b->headers_ready = true;
          b->cv.notify_all();
          return !b->client_gone;
        },
        [b, t0](const char* data, std::size_t n) {
          bool event_stream;
          {
            std::lock_guard<std::mutex> lock(b->m);
            if (b->client_gone) return false;
            event_stream = b->event_stream;
          }
          if (!event_stream) {
            b->raw.append(data, n);
            return true;
          }
          bool had_token = b->assembler.first_token_ms().has_value();
          b->assembler.feed(std::string_view(data, n), 0);
          if (!had_token && b->assembler.first_token_ms()) b->ttft_ms = elapsed_ms(t0);
          std::lock_guard<std::mutex> lock(b->m);
          b->chunks.emplace_back(data, n);
          b->cv.notify_all();
          return true;
        });
    std::lock_guard<std::mutex> lock(b->m);
    b->result = std::move(result);
    b->done = true;
    b->cv.notify_all();
  });
}

void finalize_stream(stream_bridge& bridge, proxy_call& call, bool success) {
  {
    std::lock_guard<std::mutex> lock(bridge.m);
    if (!success) bridge.client_gone = true;
  }
  // The caller is gone: stop reading the upstream now rather than at its next chunk.
  if (!success) bridge.canceler->cancel();
  bridge.join();
  if (call.finalized) return;
  const auto& result = bridge.result;
  nlohmann::json assembled = bridge.assembler.assembled();
  std::string response_json = assembled.is_null() ? "null" : http::dump_json(assembled);
  std::string error;
  if (result.error != upstream::call_error::none && result.error != upstream::call_error::canceled) {
    error = upstream::error_message_for(result);  // the upstream broke (or grew too large) mid-stream
  } else if (!success || bridge.client_gone || result.error == upstream::call_error::canceled) {
    error = "client disconnected before the response was complete";
  } else {
    error = upstream::error_message_for(result, bridge.assembler.stream_error().value_or(""));
  }
  call.complete(response_json, error, result.status > 0 ? result.status : bridge.status, bridge.ttft_ms);
}

void relay_event_stream(httplib::Response& res, const std::shared_ptr<stream_bridge>& bridge,
                        const std::shared_ptr<proxy_call>& call, std::shared_ptr<void> keep) {
  res.status = bridge->status;
  copy_response_headers(bridge->headers, res, call->secrets);
  res.set_header("Cache-Control", "no-cache");
  res.set_chunked_content_provider(
      "text/event-stream",
      [bridge, call](size_t, httplib::DataSink& sink) {
        std::deque<std::string> ready;
        bool finished;
        bool upstream_failed = false;
        {
          std::unique_lock<std::mutex> lock(bridge->m);
          bridge->cv.wait(lock, [&] { return !bridge->chunks.empty() || bridge->done; });
          ready.swap(bridge->chunks);
          finished = bridge->done;
          upstream_failed = finished && bridge->result.error != upstream::call_error::none;
        }
        if (finished && !upstream_failed) ready.push_back(std::string());  // flushes the redactor's tail
        for (std::size_t i = 0; i < ready.size(); ++i) {
          const bool last = finished && !upstream_failed && i + 1 == ready.size();
          std::string out = last ? bridge->redactor->push(ready[i]) + bridge->redactor->finish()
                                 : bridge->redactor->push(ready[i]);
          if (!out.empty() && !sink.write(out.data(), out.size())) {
            std::lock_guard<std::mutex> lock(bridge->m);
            bridge->client_gone = true;
            return false;
          }
        }
        // An upstream that died mid-stream ends the caller's stream abruptly too (no clean terminator), so
        // the caller's SDK reports the failure instead of a truncated success.
        if (upstream_failed) return false;
        if (finished) {
          // Queue the final record before the caller sees the end of the stream, so a caller that reads the
          // record right after its stream ends finds it final (reads wait for the recorder).
          finalize_stream(*bridge, *call, true);
          sink.done();
        }
        return true;
      },
      [bridge, call, keep](bool success) { finalize_stream(*bridge, *call, success); });
}

}  // namespace llmtrace::proxy
