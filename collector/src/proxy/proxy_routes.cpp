// The zero-code recording proxy: POST /v1/{chat/completions,completions,embeddings,responses} is forwarded to
// the configured upstream and recorded (a pending record when the call starts, completed with the same id at
// the end). Streams are passed through chunk by chunk: a worker thread reads the upstream and queues chunks,
// the response's chunked content provider writes them to the caller as they come, so nothing is buffered and
// the upstream status is known before the caller's status line is written.
// Recording never delays the call: the pending and final writes go to a background recorder (recorder.hpp)
// that commits them in batches; API reads wait for it, so a record is there once its call has been answered.
// Keys: with --api-key the caller's Authorization is the collector key and the server's upstream key is used;
// without it the caller's Authorization is forwarded, else the server key. No key is stored or logged.
#include "proxy/proxy_routes.hpp"

#include <strings.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include <httplib.h>
#include <spdlog/spdlog.h>

#include "api/auth.hpp"
#include "api/body.hpp"
#include "api/errors.hpp"
#include "app.hpp"
#include "config.hpp"
#include "ingest/ingest_service.hpp"
#include "ingest/json_parse.hpp"
#include "model/ids.hpp"
#include "model/time.hpp"
#include "proxy/recorder.hpp"
#include "storage/store.hpp"
#include "upstream/recording.hpp"
#include "upstream/stream_assembler.hpp"
#include "upstream/upstream_client.hpp"

namespace llmtrace::proxy {
namespace {

using json = nlohmann::json;
using clock_type = std::chrono::steady_clock;

constexpr std::size_t max_session_id_bytes = 256;  // as ingest accepts for session_id

double elapsed_ms(clock_type::time_point since) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - since).count();
}

bool is_event_stream(int status, const httplib::Headers& headers) {
  if (status < 200 || status >= 300) return false;
  for (const auto& [k, v] : headers) {
    if (strcasecmp(k.c_str(), "Content-Type") == 0) return v.find("text/event-stream") != std::string::npos;
  }
  return false;
}

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

// One proxied call and its record. Shared by the handler, the stream worker and the content provider.
struct proxy_call {
  app_context* app = nullptr;
  std::shared_ptr<recorder> records;
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

  json metadata(int upstream_status, std::optional<double> ttft_ms) const {
    json m = {{"source", "proxy"}, {"endpoint", endpoint_path}, {"stream", stream}};
    if (upstream_status > 0) m["upstream_status"] = upstream_status;
    if (ttft_ms) m["time_to_first_token_ms"] = *ttft_ms;
    return m;
  }

  // Queued, not awaited: the call is forwarded at once (recording is best effort and off the request path;
  // the recorder stores this before the final write of the same record).
  void write_pending() {
    storage::record_write w;
    w.id = record_id;
    w.session_id = session_id;
    w.request_json = request_json;
    w.status = model::record_status::pending;
    w.metadata_json = api::dump_json(metadata(0, std::nullopt));
    w.started_at_ms = started_ms;
    w.received_at_ms = started_ms;
    records->submit(std::move(w));
  }

  void complete(const std::string& response_json, const std::string& error, int upstream_status,
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
    w.metadata_json = api::dump_json(metadata(upstream_status, ttft_ms));
    w.started_at_ms = started_ms;
    w.ended_at_ms = model::now_ms();
    w.received_at_ms = *w.ended_at_ms;
    w.latency_ms = elapsed_ms(t0);
    if (!error.empty()) spdlog::info("proxy {} recorded as an error: {}", endpoint_path, *w.error_message);
    records->submit(std::move(w));
  }
};

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

  ~stream_bridge() {
    {
      std::lock_guard<std::mutex> lock(m);
      client_gone = true;
    }
    if (worker.joinable()) {
      canceler->cancel();
      worker.join();
    }
  }

  void join() {
    if (worker.joinable()) worker.join();
  }
};

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

// Completes the record of a streamed call once the upstream worker is done (joins it). Idempotent.
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
  json assembled = bridge.assembler.assembled();
  std::string response_json = assembled.is_null() ? "null" : api::dump_json(assembled);
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

void answer_unreachable(httplib::Response& res, const std::string& message) {
  api::write_error(res, 502, "upstream_unreachable", message);
}

void handle_proxy(const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& reader,
                  app_context& app, upstream::endpoint target,
                  const std::shared_ptr<upstream::upstream_client>& client, const std::string& client_problem,
                  const std::shared_ptr<recorder>& records) {
  if (!api::require_auth(req, res, app)) return;
  std::string body;
  auto st = api::read_body(req, reader, app.cfg.max_body_bytes, body, res);
  if (st != api::body_status::ok) {
    api::write_body_error(res, st, app.cfg.max_body_bytes);
    return;
  }
  auto parsed = ingest::parse_json_limited(body);
  if (!parsed.ok) {
    api::write_error(res, 400, parsed.too_deep ? "too_deep" : "invalid_json",
                     "invalid JSON body: " + parsed.message, "body");
    return;
  }
  if (!parsed.value.is_object()) {
    api::write_error(res, 400, "invalid_body", "the body must be a JSON object", "body");
    return;
  }
  if (auto refused = upstream::check_callable(client.get(), client_problem, req.local_addr, req.local_port)) {
    api::write_error(res, refused->status, refused->code, refused->message);
    return;
  }

  // Which key goes upstream, and which credential names the caller for the per-hour session.
  const std::string caller_authorization = req.get_header_value("Authorization");
  std::string forward_authorization;
  // An empty bearer token (a client configured with api_key="") asks for the server's key.
  if (app.cfg.api_key.empty() && !upstream::bearer_token(caller_authorization).empty()) {
    forward_authorization = caller_authorization;
  }
  if (!upstream::header_value_safe(forward_authorization)) {
    api::write_error(res, 400, "invalid_header", "Authorization contains control characters",
                     "Authorization");
    return;
  }

  // Held until the handler returns or, for a stream, until the response (and its releaser) is gone.
  auto slot = std::make_shared<upstream::upstream_slot>(app.cfg);
  if (!slot->admitted()) {
    res.set_header("Retry-After", "1");
    api::write_error(res, 503, "upstream_busy", "too many upstream calls in flight; retry after a second");
    return;
  }

  auto call = std::make_shared<proxy_call>();
  call->app = &app;
  call->records = records;
  call->client = client;
  call->target = target;
  call->endpoint_path = "/v1" + std::string(upstream::path_suffix(target));
  call->request_json = body;
  call->stream = parsed.value.value("stream", false) == true;
  call->started_ms = model::now_ms();
  call->t0 = clock_type::now();
  call->secrets = {client->options().api_key, upstream::bearer_token(caller_authorization), app.cfg.api_key};

  std::string session = req.get_header_value("X-LLMTrace-Session-Id");
  while (!session.empty() && (session.back() == ' ' || session.back() == '\t')) session.pop_back();
  while (!session.empty() && (session.front() == ' ' || session.front() == '\t')) session.erase(0, 1);
  if (session.size() > max_session_id_bytes || std::any_of(session.begin(), session.end(), [](char ch) {
        return ch == '/' || static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f;
      })) {
    api::write_error(res, 400, "invalid_session_id",
                     "X-LLMTrace-Session-Id must be at most " + std::to_string(max_session_id_bytes) +
                         " bytes without '/' or control characters",
                     "X-LLMTrace-Session-Id");
    return;
  }
  call->session_id =
      session.empty() ? upstream::proxy_session_id(caller_authorization, call->started_ms) : session;

  upstream::call_request request;
  request.target = target;
  request.body = body;
  request.authorization = forward_authorization;
  for (const auto& [k, v] : req.headers) {
    if (!upstream::forwardable_request_header(k)) continue;
    if (!upstream::header_value_safe(v)) {
      api::write_error(res, 400, "invalid_header", "header " + k + " contains control characters", k);
      return;
    }
    request.headers.emplace(k, v);
  }

  call->record_id = model::new_record_id();
  call->write_pending();
  // Lets a caller link its call to the record (e.g. open /records/<id> in the UI).
  res.set_header("X-LLMTrace-Session-Id", call->session_id);
  res.set_header("X-LLMTrace-Record-Id", call->record_id);

  if (!call->stream) {
    auto result = client->post(request);
    std::string error = upstream::error_message_for(result);
    if (result.status == 0) {
      call->complete("null", error, 0, std::nullopt);
      answer_unreachable(res, error);
      return;
    }
    call->complete(
        result.error == upstream::call_error::none ? upstream::body_as_json_text(result.body) : "null", error,
        result.status, std::nullopt);
    if (result.error != upstream::call_error::none) {
      answer_unreachable(res, error);
      return;
    }
    res.status = result.status;
    copy_response_headers(result.headers, res, call->secrets);
    // Upstream bodies pass through unchanged, except that no key ever leaves the server (an upstream may echo
    // the key it got, as "Incorrect API key provided: sk-..." does).
    res.set_content(upstream::redact(result.body, call->secrets),
                    header_value(result.headers, "Content-Type", "application/json"));
    return;
  }

  auto bridge = std::make_shared<stream_bridge>();
  bridge->redactor = std::make_unique<upstream::stream_redactor>(call->secrets);
  request.canceler = bridge->canceler;
  start_worker(bridge, call, std::move(request));
  {
    std::unique_lock<std::mutex> lock(bridge->m);
    bridge->cv.wait(lock, [&] { return bridge->headers_ready || bridge->done; });
    if (!bridge->event_stream) {
      // Not a stream after all (an upstream error, or a JSON answer): wait for all of it and pass it on.
      bridge->cv.wait(lock, [&] { return bridge->done; });
    }
  }
  if (!bridge->event_stream) {
    bridge->join();
    upstream::call_result result = bridge->result;
    result.body = bridge->raw;  // the body went to the chunk callback
    std::string error = upstream::error_message_for(result);
    if (result.status == 0 || result.error != upstream::call_error::none) {
      call->complete(result.status > 0 ? upstream::body_as_json_text(bridge->raw) : "null", error,
                     result.status, std::nullopt);
      answer_unreachable(res, error);
      return;
    }
    call->complete(upstream::body_as_json_text(bridge->raw), error, result.status, std::nullopt);
    res.status = result.status;
    copy_response_headers(result.headers, res, call->secrets);
    res.set_content(upstream::redact(bridge->raw, call->secrets),
                    header_value(result.headers, "Content-Type", "application/json"));
    return;
  }

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
      // `slot` rides along so the stream keeps its upstream slot until the response is gone.
      [bridge, call, slot](bool success) { finalize_stream(*bridge, *call, success); });
}

}  // namespace

void mount(httplib::Server& server, app_context& app) {
  std::string problem;
  std::shared_ptr<upstream::upstream_client> client = upstream::make_client(app.cfg, &problem);
  if (!client) spdlog::error("proxy disabled: {}", problem);
  // Owned by the routes (and by calls still finishing): it outlives every request and drains when the server
  // that holds the routes goes away, before the ingest service does.
  auto records = std::make_shared<recorder>(app.ingest);
  app.proxy_recorder = records.get();
  for (auto target : {upstream::endpoint::chat_completions, upstream::endpoint::completions,
                      upstream::endpoint::embeddings, upstream::endpoint::responses}) {
    std::string path = "/v1" + std::string(upstream::path_suffix(target));
    server.Post(path,
                [&app, client, problem, target, records](const httplib::Request& req, httplib::Response& res,
                                                         const httplib::ContentReader& reader) {
                  handle_proxy(req, res, reader, app, target, client, problem, records);
                });
  }
}

}  // namespace llmtrace::proxy
