#include "proxy/forwarder.hpp"

#include <algorithm>
#include <memory>

#include <httplib.h>

#include "http/errors.hpp"
#include "model/ids.hpp"
#include "model/time.hpp"
#include "proxy/proxy_call.hpp"
#include "proxy/recorder.hpp"
#include "proxy/response_relay.hpp"
#include "upstream/call_limiter.hpp"
#include "upstream/recording.hpp"

namespace llmtrace::proxy {
namespace {

constexpr std::size_t max_session_id_bytes = 256;  // as ingest accepts for session_id

void answer_unreachable(httplib::Response& res, const std::string& message) {
  http::write_error(res, 502, "upstream_unreachable", message);
}

// The caller's X-LLMTrace-Session-Id, trimmed; false when it is unusable.
bool session_header(const httplib::Request& req, std::string& session) {
  session = req.get_header_value("X-LLMTrace-Session-Id");
  while (!session.empty() && (session.back() == ' ' || session.back() == '\t')) session.pop_back();
  while (!session.empty() && (session.front() == ' ' || session.front() == '\t')) session.erase(0, 1);
  return session.size() <= max_session_id_bytes && std::none_of(session.begin(), session.end(), [](char ch) {
           return ch == '/' || static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f;
         });
}

// An answer that is not an event stream: passed through unchanged, except that no key ever leaves the server
// (an upstream may echo the key it got, as "Incorrect API key provided: sk-..." does).
void relay_body(httplib::Response& res, const upstream::call_result& result, const std::string& body,
                const std::vector<std::string>& secrets) {
  res.status = result.status;
  copy_response_headers(result.headers, res, secrets);
  res.set_content(upstream::redact(body, secrets),
                  header_value(result.headers, "Content-Type", "application/json"));
}

}  // namespace

forwarder::forwarder(recorder& records, std::shared_ptr<upstream::upstream_client> client,
                     std::string client_problem, upstream::call_limiter& limiter,
                     std::string collector_api_key)
    : records_(records),
      client_(std::move(client)),
      client_problem_(std::move(client_problem)),
      limiter_(limiter),
      collector_api_key_(std::move(collector_api_key)) {}

void forwarder::forward(upstream::endpoint target, const httplib::Request& req, const std::string& body,
                        const nlohmann::json& parsed, httplib::Response& res) {
  // The answer's body and Content-Type come from the upstream: whatever it claims (text/html from a hostile
  // or compromised upstream), a browser must neither sniff it nor run script from it in the collector's
  // origin. Only allowlisted upstream headers are copied, so these two are never overridden.
  res.set_header("X-Content-Type-Options", "nosniff");
  res.set_header("Content-Security-Policy", "default-src 'none'; sandbox; frame-ancestors 'none'");
  if (auto refused =
          upstream::check_callable(client_.get(), client_problem_, req.local_addr, req.local_port)) {
    http::write_error(res, refused->status, refused->code, refused->message);
    return;
  }

  // Which key goes upstream, and which credential names the caller for the per-hour session.
  const std::string caller_authorization = req.get_header_value("Authorization");
  std::string forward_authorization;
  // An empty bearer token (a client configured with api_key="") asks for the server's key.
  if (collector_api_key_.empty() && !upstream::bearer_token(caller_authorization).empty()) {
    forward_authorization = caller_authorization;
  }
  if (!upstream::header_value_safe(forward_authorization)) {
    http::write_error(res, 400, "invalid_header", "Authorization contains control characters",
                      "Authorization");
    return;
  }

  // Held until the call returns or, for a stream, until the response (and its releaser) is gone.
  // Per-caller share of the slots: a caller is its own upstream key when it sends one, else its peer address
  // (loopback callers without a key of their own are one user, counted only in the total).
  std::string caller;
  if (!forward_authorization.empty())
    caller = "key:" + upstream::bearer_token(forward_authorization);
  else if (req.remote_addr != "127.0.0.1" && req.remote_addr != "::1" && !req.remote_addr.empty())
    caller = "addr:" + req.remote_addr;
  auto slot = std::make_shared<upstream::upstream_slot>(limiter_, caller);
  if (!slot->admitted()) {
    res.set_header("Retry-After", "1");
    http::write_error(res, 503, "upstream_busy", "too many upstream calls in flight; retry after a second");
    return;
  }

  auto call = std::make_shared<proxy_call>();
  call->records = &records_;
  call->client = client_;
  call->target = target;
  call->endpoint_path = "/v1" + std::string(upstream::path_suffix(target));
  call->request_json = body;
  call->stream = parsed.value("stream", false) == true;
  call->started_ms = model::now_ms();
  call->t0 = clock_type::now();
  call->secrets = {client_->options().api_key, upstream::bearer_token(caller_authorization),
                   collector_api_key_};

  std::string session;
  if (!session_header(req, session)) {
    http::write_error(res, 400, "invalid_session_id",
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
      http::write_error(res, 400, "invalid_header", "header " + k + " contains control characters", k);
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
    auto result = client_->post(request);
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
    relay_body(res, result, result.body, call->secrets);
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
    relay_body(res, result, bridge->raw, call->secrets);
    return;
  }
  relay_event_stream(res, bridge, call, slot);
}

}  // namespace llmtrace::proxy
