// POST /api/records/:id/replay: re-sends a stored (optionally edited) request to the configured upstream and
// stores the answer as a new record linked to the original (replay_of, same session and turn).
// The route returns 201 with the stored record whether the upstream succeeded or failed: the upstream's
// failure is data (status "error", error_message "upstream 429: ..."), not a failure of the replay route.
#include "replay/replay_routes.hpp"

#include <chrono>
#include <memory>

#include <httplib.h>
#include <spdlog/spdlog.h>

#include "api/auth.hpp"
#include "api/body.hpp"
#include "api/errors.hpp"
#include "api/render.hpp"
#include "api/routes.hpp"
#include "app.hpp"
#include "config.hpp"
#include "ingest/ingest_service.hpp"
#include "ingest/json_parse.hpp"
#include "model/time.hpp"
#include "proxy/recorder.hpp"
#include "storage/store.hpp"
#include "upstream/recording.hpp"
#include "upstream/stream_assembler.hpp"
#include "upstream/upstream_client.hpp"

namespace llmtrace::replay {
namespace {

using json = nlohmann::json;

double elapsed_ms(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - since).count();
}

// The request to send: the body's "request" (object or JSON text of an object), else the original.
// Writes a 400 and returns false when the body is unusable.
bool choose_request(const std::string& body, const model::record& original, httplib::Response& res,
                    json& out) {
  json given;
  bool has_given = false;
  if (body.find_first_not_of(" \t\r\n") != std::string::npos) {
    auto parsed = ingest::parse_json_limited(body);
    if (!parsed.ok) {
      api::write_error(res, 400, parsed.too_deep ? "too_deep" : "invalid_json",
                       "invalid JSON body: " + parsed.message, "body");
      return false;
    }
    if (!parsed.value.is_object()) {
      api::write_error(res, 400, "invalid_body", "the body must be a JSON object: {\"request\": {...}}",
                       "body");
      return false;
    }
    auto it = parsed.value.find("request");
    if (it != parsed.value.end() && !it->is_null()) {
      if (it->is_string()) {
        auto inner = ingest::parse_json_limited(it->get_ref<const std::string&>());
        if (!inner.ok) {
          api::write_error(res, 400, "invalid_request",
                           "request is a string but not valid JSON: " + inner.message, "request");
          return false;
        }
        given = std::move(inner.value);
      } else {
        given = std::move(*it);
      }
      has_given = true;
    }
  }
  if (has_given) {
    if (!given.is_object()) {
      api::write_error(res, 400, "invalid_request", "request must be a JSON object (or a JSON string of one)",
                       "request");
      return false;
    }
    out = std::move(given);
    return true;
  }
  auto stored = ingest::parse_json_limited(original.request_json);
  if (stored.ok && stored.value.is_string()) {
    // A client that traced its request as JSON text: replay what that text holds.
    stored = ingest::parse_json_limited(stored.value.get_ref<const std::string&>());
  }
  if (!stored.ok || !stored.value.is_object()) {
    api::write_error(res, 400, "invalid_request",
                     "the original record has no JSON object request to replay; send {\"request\": {...}}",
                     "request");
    return false;
  }
  out = std::move(stored.value);
  return true;
}

void handle_replay(const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& reader,
                   app_context& app, const std::shared_ptr<upstream::upstream_client>& client,
                   const std::string& client_problem) {
  if (!api::require_auth(req, res, app)) return;
  std::string body;
  auto st = api::read_body(req, reader, app.cfg.max_body_bytes, body, res);
  if (st != api::body_status::ok) {
    api::write_body_error(res, st, app.cfg.max_body_bytes);
    return;
  }
  const std::string id = req.matches[1];
  std::optional<model::record> original;
  proxy::flush_before_read(app);  // the original may be a proxied call answered a moment ago
  if (!api::with_store(res, [&] { original = app.store.get_record(id); })) return;
  if (!original) {
    api::write_error(res, 404, "not_found", "record '" + id + "' not found", "id");
    return;
  }
  json request;
  if (!choose_request(body, *original, res, request)) return;
  if (auto refused = upstream::check_callable(client.get(), client_problem, req.local_addr, req.local_port)) {
    api::write_error(res, refused->status, refused->code, refused->message);
    return;
  }
  if (!client->has_server_key()) {
    api::write_error(
        res, 503, "upstream_key_missing",
        "replay needs an upstream API key: set OPENAI_API_KEY in the collector's environment "
        "(and --upstream / OPENAI_BASE_URL for a non-OpenAI endpoint), then restart the collector");
    return;
  }

  upstream::upstream_slot slot(app.cfg);
  if (!slot.admitted()) {
    res.set_header("Retry-After", "1");
    api::write_error(res, 503, "upstream_busy", "too many upstream calls in flight; retry after a second");
    return;
  }

  const json original_metadata = api::stored_json(original->metadata_json);
  const upstream::endpoint target = upstream::endpoint_for_record(request, original_metadata);
  const bool stream = request.value("stream", false) == true;

  upstream::call_request call;
  call.target = target;
  call.body = api::dump_json(request);

  const int64_t started = model::now_ms();
  const auto t0 = std::chrono::steady_clock::now();
  upstream::call_result result;
  upstream::stream_assembler assembler;
  bool is_event_stream = false;
  std::optional<double> ttft_ms;
  if (stream) {
    std::string raw;  // a non-SSE answer (an error body) is kept as is
    result = client->post_streaming(
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
            if (!had_token && assembler.first_token_ms()) ttft_ms = elapsed_ms(t0);
          } else {
            raw.append(data, n);
          }
          return true;
        });
    if (!is_event_stream) result.body = std::move(raw);
  } else {
    result = client->post(call);
  }
  const double latency = elapsed_ms(t0);
  const int64_t ended = model::now_ms();

  std::string stream_error = assembler.stream_error().value_or("");
  std::string response_json;
  if (is_event_stream) {
    json assembled = assembler.assembled();
    response_json = assembled.is_null() ? "null" : api::dump_json(assembled);
  } else {
    response_json = upstream::body_as_json_text(result.body);
  }
  std::string error = upstream::error_message_for(result, stream_error);

  const std::vector<std::string> secrets = {client->options().api_key, app.cfg.api_key};
  json metadata = {{"source", "replay"},
                   {"endpoint", "/v1" + std::string(upstream::path_suffix(target))},
                   {"stream", stream}};
  if (result.status > 0) metadata["upstream_status"] = result.status;
  if (ttft_ms) metadata["time_to_first_token_ms"] = *ttft_ms;

  storage::record_write w;
  w.session_id = original->session_id;
  w.turn_number = original->turn_number;
  w.replay_of = original->id;
  if (!original->parent_id.empty()) w.parent_id = original->parent_id;
  w.request_json = call.body;
  w.response_json = upstream::redact(response_json, secrets);
  w.status = error.empty() ? model::record_status::success : model::record_status::error;
  if (!error.empty()) w.error_message = upstream::redact(error, secrets);
  w.metadata_json = api::dump_json(metadata);
  w.started_at_ms = started;
  w.ended_at_ms = ended;
  w.latency_ms = latency;

  if (!error.empty()) spdlog::info("replay of {} stored as an error: {}", id, *w.error_message);
  api::with_store(res, [&] {
    auto stored = app.ingest.write({std::move(w)});
    if (stored.empty()) {
      api::write_error(res, 503, "store_unavailable", "the replay result could not be stored");
      return;
    }
    api::write_json_text(res, 201, api::render_json(stored.front().record));
  });
}

}  // namespace

void mount(httplib::Server& server, app_context& app) {
  std::string problem;
  std::shared_ptr<upstream::upstream_client> client = upstream::make_client(app.cfg, &problem);
  if (!client) spdlog::error("replay disabled: {}", problem);
  server.Post(R"(/api/records/([^/]+)/replay)",
              [&app, client, problem](const httplib::Request& req, httplib::Response& res,
                                      const httplib::ContentReader& reader) {
                handle_replay(req, res, reader, app, client, problem);
              });
}

}  // namespace llmtrace::replay
