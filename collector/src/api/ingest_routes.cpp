// POST /api/trace (one trace) and POST /api/traces (a batch): admission (bounded concurrent ingest requests),
// the JSON object body, one call to the ingest service, and the reply. The batch reply is written as text.
#include <atomic>

#include <httplib.h>

#include "api/routes.hpp"
#include "config.hpp"
#include "http/auth.hpp"
#include "http/connection.hpp"
#include "http/errors.hpp"
#include "http/json_body.hpp"
#include "http/render.hpp"
#include "http/store_errors.hpp"
#include "ingest/ingest_service.hpp"

namespace llmtrace::api {
namespace {

using json = nlohmann::json;

constexpr std::size_t max_batch_items = 10000;

std::string_view outcome_name(storage::write_outcome o) {
  switch (o) {
    case storage::write_outcome::created:
      return "created";
    case storage::write_outcome::updated:
      return "updated";
    case storage::write_outcome::stale:
      return "stale";
  }
  return "created";
}

// Ingest admission: bounded concurrent writers so queued writes cannot take every worker thread.
class inflight_guard {
 public:
  inflight_guard(std::atomic<int>& n, int max) : n_(n) { admitted_ = n_.fetch_add(1) < max; }
  ~inflight_guard() { n_.fetch_sub(1); }
  bool admitted() const { return admitted_; }

 private:
  std::atomic<int>& n_;
  bool admitted_ = false;
};

bool admit_ingest(httplib::Response& res, const inflight_guard& guard, ingest::ingest_service& ingest) {
  if (guard.admitted()) return true;
  ingest.count_rejected("overloaded");
  res.set_header("Retry-After", "1");
  http::write_error(res, 503, "overloaded", "too many concurrent ingest requests; retry after a second");
  return false;
}

// The rules of an ingest body: the configured cap, every rejection counted under its reason.
http::json_body_rules ingest_body(const api_deps& deps, std::string_view not_object) {
  http::json_body_rules rules;
  rules.max_bytes = deps.cfg.max_body_bytes;
  rules.not_object = not_object;
  rules.on_reject = [&ingest = deps.ingest](const std::string& reason) { ingest.count_rejected(reason); };
  return rules;
}

json item_json(const ingest::item_result& r) {
  if (r.result) {
    return {{"index", r.index},
            {"id", r.result->record.id},
            {"session_id", r.result->record.session_id},
            {"turn_number", r.result->record.turn_number},
            {"status", outcome_name(r.result->outcome)}};
  }
  return {{"index", r.index},
          {"error",
           {{"code", r.error.code},
            {"message", r.error.message},
            {"field", r.error.field.empty() ? json(nullptr) : json(r.error.field)}}}};
}

// The /api/traces reply, written directly: the same bytes as dumping the equivalent tree (keys in nlohmann's
// sorted order), without building a tree of 512 small objects per batch.
std::string batch_reply_text(const std::vector<ingest::item_result>& results) {
  int64_t accepted = 0;
  for (const auto& r : results) accepted += r.result ? 1 : 0;
  std::string out;
  out.reserve(64 + results.size() * 160);
  out += "{\"accepted\":";
  out += std::to_string(accepted);
  out += ",\"rejected\":";
  out += std::to_string(static_cast<int64_t>(results.size()) - accepted);
  out += ",\"results\":[";
  bool first = true;
  for (const auto& r : results) {
    if (!first) out += ',';
    first = false;
    if (!r.result) {
      out += http::dump_json(item_json(r));
      continue;
    }
    out += "{\"id\":";
    http::append_json_string(out, r.result->record.id);
    out += ",\"index\":";
    out += std::to_string(r.index);
    out += ",\"session_id\":";
    http::append_json_string(out, r.result->record.session_id);
    out += ",\"status\":\"";
    out += outcome_name(r.result->outcome);
    out += "\",\"turn_number\":";
    out += std::to_string(r.result->record.turn_number);
    out += '}';
  }
  out += "]}";
  return out;
}

// Mounts an ingest route: auth, then the body as one JSON object (rejections counted), then admission, then
// handle(res, text, body) with the admission held until it returns.
template <typename Handle>
void post_ingest(httplib::Server& server, const char* path, const api_deps& deps, std::string_view not_object,
                 Handle handle) {
  server.Post(path, [&deps, not_object, handle](const httplib::Request& req, httplib::Response& res,
                                                const httplib::ContentReader& reader) {
    if (!http::require_auth(req, res, deps.cfg)) return;
    json body;
    std::string text;
    if (!http::read_json_object(req, res, reader, ingest_body(deps, not_object), text, body)) return;
    // The slot is taken once the body is in: a client trickling its body holds no slot (the global body
    // budget and the body deadline bound what it does hold).
    inflight_guard guard(deps.ingest.inflight(), deps.cfg.max_ingest_inflight);
    if (!admit_ingest(res, guard, deps.ingest)) return;
    handle(res, text, body);  // may release text and body once it no longer needs them
  });
}

}  // namespace

void mount_ingest(httplib::Server& server, const api_deps& deps) {
  post_ingest(server, "/api/trace", deps, "the body must be a JSON object (one trace)",
              [&deps](httplib::Response& res, std::string& text, json& body) {
                auto spans = ingest::scan_trace_spans(text);
                http::with_store(res, [&] {
                  // Peak memory per request: the body and its tree go as soon as the trace has become a
                  // write, before it is stored (the write holds the texts it needs), and the reply is written
                  // as text, not as a tree.
                  auto r = deps.ingest.ingest_one(body, spans ? &*spans : nullptr, [&] {
                    spans.reset();
                    std::string().swap(text);
                    body = nullptr;
                  });
                  if (!r.result)
                    return http::write_error(res, 400, r.error.code, r.error.message, r.error.field);
                  std::string out = http::render_json(r.result->record);
                  out.insert(1, "\"outcome\":\"" + std::string(outcome_name(r.result->outcome)) + "\",");
                  http::write_json_text(res, r.result->outcome == storage::write_outcome::created ? 201 : 200,
                                        std::move(out));
                });
              });

  post_ingest(server, "/api/traces", deps, "the body must be a JSON object {\"traces\":[...]}",
              [&deps](httplib::Response& res, std::string& text, json& body) {
                auto it = body.find("traces");
                if (it == body.end() || !it->is_array()) {
                  deps.ingest.count_rejected("invalid_body");
                  return http::write_error(res, 400, "invalid_field",
                                           "traces must be an array of trace objects", "traces");
                }
                if (it->size() > max_batch_items) {
                  deps.ingest.count_rejected("too_many_traces");
                  return http::write_error(
                      res, 413, "too_many_traces",
                      "a batch holds at most " + std::to_string(max_batch_items) + " traces", "traces");
                }
                const auto spans = ingest::scan_batch_spans(text);
                http::with_store(res, [&] {
                  auto results = deps.ingest.ingest_batch(*it, spans ? &*spans : nullptr);
                  res.status = 200;
                  res.set_content(batch_reply_text(results), "application/json");
                });
              });
}

}  // namespace llmtrace::api
