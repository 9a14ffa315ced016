#include "replay/replay_service.hpp"

#include <chrono>

#include <spdlog/spdlog.h>

#include "http/json_body.hpp"
#include "http/render.hpp"
#include "ingest/ingest_service.hpp"
#include "ingest/json_parse.hpp"
#include "model/time.hpp"
#include "storage/store.hpp"
#include "upstream/call_limiter.hpp"
#include "upstream/recording.hpp"
#include "upstream/stream_assembler.hpp"

namespace llmtrace::replay {
namespace {

using json = nlohmann::json;

double elapsed_ms(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - since).count();
}

replay_outcome fail(int status, std::string code, std::string message, std::string field = {}) {
  replay_outcome out;
  out.error = http::failure{status, std::move(code), std::move(message), std::move(field), {}};
  return out;
}

// The request to send: the body's "request" (object or JSON text of an object), else the original.
std::optional<http::failure> choose_request(std::string_view body, const model::record& original, json& out) {
  if (body.find_first_not_of(" \t\r\n") != std::string_view::npos) {
    http::json_body_rules rules;
    rules.field = "body";
    rules.not_object = "the body must be a JSON object: {\"request\": {...}}";
    json given;
    if (auto f = http::parse_json_object(body, rules, given)) return f;
    auto it = given.find("request");
    if (it != given.end() && !it->is_null()) {
      json request;
      if (it->is_string()) {
        auto inner = ingest::parse_json_limited(it->get_ref<const std::string&>());
        if (!inner.ok)
          return http::failure{400,
                               "invalid_request",
                               "request is a string but not valid JSON: " + inner.message,
                               "request",
                               {}};
        request = std::move(inner.value);
      } else {
        request = std::move(*it);
      }
      if (!request.is_object())
        return http::failure{
            400, "invalid_request", "request must be a JSON object (or a JSON string of one)", "request", {}};
      out = std::move(request);
      return std::nullopt;
    }
  }
  auto stored = ingest::parse_json_limited(original.request_json);
  if (stored.ok && stored.value.is_string()) {
    // A client that traced its request as JSON text: replay what that text holds.
    stored = ingest::parse_json_limited(stored.value.get_ref<const std::string&>());
  }
  if (!stored.ok || !stored.value.is_object())
    return http::failure{
        400,
        "invalid_request",
        "the original record has no JSON object request to replay; send {\"request\": {...}}",
        "request",
        {}};
  out = std::move(stored.value);
  return std::nullopt;
}

// What the upstream answered, as the record stores it.
struct upstream_answer {
  upstream::call_result result;
  std::string response_json;
  std::string error;
  std::optional<double> ttft_ms;
};

upstream_answer call_upstream(upstream::upstream_client& client, const upstream::call_request& call,
                              bool stream, std::chrono::steady_clock::time_point t0) {
  upstream_answer a;
  upstream::stream_assembler assembler;
  bool is_event_stream = false;
  if (stream) {
    std::string raw;  // a non-SSE answer (an error body) is kept as is
    a.result = client.post_streaming(
        call,
        [&](int, const httplib::Headers& h) {
          auto it = h.find("Content-Type");
          is_event_stream = it != h.end() && it->second.find("text/event-stream") != std::string::npos;
          return true;
        },
        [&](const char* data, std::size_t n) {
          if (is_event_stream) {
            bool had_token = assembler.first_token_ms().has_value();
            assembler.feed(std::string_view(data, n), 0);
            if (!had_token && assembler.first_token_ms()) a.ttft_ms = elapsed_ms(t0);
          } else {
            raw.append(data, n);
          }
          return true;
        });
    if (!is_event_stream) a.result.body = std::move(raw);
  } else {
    a.result = client.post(call);
  }
  if (is_event_stream) {
    json assembled = assembler.assembled();
    a.response_json = assembled.is_null() ? "null" : http::dump_json(assembled);
  } else {
    a.response_json = upstream::body_as_json_text(a.result.body);
  }
  a.error = upstream::error_message_for(a.result, assembler.stream_error().value_or(""));
  return a;
}

}  // namespace

replay_service::replay_service(storage::store_reader& reads, ingest::ingest_service& ingest,
                               std::shared_ptr<upstream::upstream_client> client, std::string client_problem,
                               upstream::call_limiter& limiter, std::string collector_api_key)
    : reads_(reads),
      ingest_(ingest),
      client_(std::move(client)),
      client_problem_(std::move(client_problem)),
      limiter_(limiter),
      collector_api_key_(std::move(collector_api_key)) {}

replay_outcome replay_service::replay(const std::string& id, std::string_view body,
                                      const std::string& local_addr, int local_port,
                                      const std::string& client) {
  const std::optional<model::record> original = reads_.get_record(id);
  if (!original) return fail(404, "not_found", "record '" + id + "' not found", "id");
  json request;
  if (auto f = choose_request(body, *original, request)) {
    replay_outcome out;
    out.error = std::move(*f);
    return out;
  }
  if (auto refused = upstream::check_callable(client_.get(), client_problem_, local_addr, local_port))
    return fail(refused->status, refused->code, refused->message);
  if (!client_->has_server_key())
    return fail(503, "upstream_key_missing",
                "replay needs an upstream API key: set OPENAI_API_KEY in the collector's environment "
                "(and --upstream / OPENAI_BASE_URL for a non-OpenAI endpoint), then restart the collector");

  // The proxy's "addr:" callers (keyless, not on loopback) share the same count.
  upstream::upstream_slot slot(limiter_, client.empty() ? std::string() : "addr:" + client);
  if (!slot.admitted()) {
    auto out = fail(503, "upstream_busy", "too many upstream calls in flight; retry after a second");
    out.error.retry_after = "1";
    return out;
  }

  const json original_metadata = http::stored_json(original->metadata_json);
  const upstream::endpoint target = upstream::endpoint_for_record(request, original_metadata);
  const bool stream = request.value("stream", false) == true;

  upstream::call_request call;
  call.target = target;
  call.body = http::dump_json(request);

  const int64_t started = model::now_ms();
  const auto t0 = std::chrono::steady_clock::now();
  upstream_answer answer = call_upstream(*client_, call, stream, t0);
  const double latency = elapsed_ms(t0);
  const int64_t ended = model::now_ms();

  const std::vector<std::string> secrets = {client_->options().api_key, collector_api_key_};
  json metadata = {{"source", "replay"},
                   {"endpoint", "/v1" + std::string(upstream::path_suffix(target))},
                   {"stream", stream}};
  if (answer.result.status > 0) metadata["upstream_status"] = answer.result.status;
  if (answer.ttft_ms) metadata["time_to_first_token_ms"] = *answer.ttft_ms;

  storage::record_write w;
  w.session_id = original->session_id;
  w.turn_number = original->turn_number;
  w.replay_of = original->id;
  if (!original->parent_id.empty()) w.parent_id = original->parent_id;
  w.request_json = call.body;
  w.response_json = upstream::redact(answer.response_json, secrets);
  w.status = answer.error.empty() ? model::record_status::success : model::record_status::error;
  if (!answer.error.empty()) w.error_message = upstream::redact(answer.error, secrets);
  w.metadata_json = http::dump_json(metadata);
  w.started_at_ms = started;
  w.ended_at_ms = ended;
  w.latency_ms = latency;

  if (!answer.error.empty()) spdlog::info("replay of {} stored as an error: {}", id, *w.error_message);
  auto stored = ingest_.write({std::move(w)});
  if (stored.empty()) return fail(503, "store_unavailable", "the replay result could not be stored");
  replay_outcome out;
  out.record = std::move(stored.front().record);
  return out;
}

}  // namespace llmtrace::replay
