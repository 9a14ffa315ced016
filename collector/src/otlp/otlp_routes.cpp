#include "otlp/otlp_routes.hpp"

#include <atomic>
#include <string_view>
#include <vector>

#include <httplib.h>
#include <spdlog/spdlog.h>

#include "config.hpp"
#include "http/auth.hpp"
#include "http/body.hpp"
#include "http/connection.hpp"
#include "ingest/ingest_service.hpp"
#include "otlp/decode.hpp"
#include "otlp/genai_map.hpp"
#include "otlp/reply.hpp"
#include "storage/store.hpp"

namespace llmtrace::otlp {
namespace {

int64_t count_stored(const std::vector<model::write_result>& results) {
  int64_t n = 0;
  for (const auto& r : results) n += r.outcome == model::write_outcome::stale ? 0 : 1;
  return n;
}

// Content log records are the GenAI message events; anything else an app logs is not ours to keep.
bool is_content(const log_record& r) {
  return !r.trace_id.empty() && !r.span_id.empty() && r.event_name.rfind("gen_ai.", 0) == 0;
}

// Ingest admission, shared with /api/trace(s): bounded concurrent writers.
class inflight_guard {
 public:
  inflight_guard(std::atomic<int>& n, int max) : n_(n) { admitted_ = n_.fetch_add(1) < max; }
  ~inflight_guard() { n_.fetch_sub(1); }
  inflight_guard(const inflight_guard&) = delete;
  inflight_guard& operator=(const inflight_guard&) = delete;
  bool admitted() const { return admitted_; }

 private:
  std::atomic<int>& n_;
  bool admitted_ = false;
};

void reply_status(httplib::Response& res, encoding e, int status, std::string_view message) {
  res.status = status;
  res.set_content(status_body(e, status, message), std::string(content_type_of(e)));
}

// httplib inflates gzip request bodies itself (it is built with zlib); a body still starting with the gzip
// magic was not inflated and goes to the decoder's own gunzip. Neither JSON nor protobuf (wire type 7) can
// start with 0x1f.
std::string_view encoding_left(const std::string& body) {
  const bool gzip_magic = body.size() >= 2 && static_cast<unsigned char>(body[0]) == 0x1f &&
                          static_cast<unsigned char>(body[1]) == 0x8b;
  if (gzip_magic) return "gzip";
  return {};
}

// The handler every signal shares: auth, admission, the body, then handle(body, content_type, encoding_left,
// encoding_of_reply) which writes the reply. Store overload answers 503 with Retry-After in the OTLP shape.
template <class Handle>
void post_signal(httplib::Server& server, const char* path, ingest::ingest_service& ingest, const config& cfg,
                 Handle handle) {
  server.Post(path, [&ingest, &cfg, handle](const httplib::Request& req, httplib::Response& res,
                                            const httplib::ContentReader& reader) {
    if (!http::require_auth(req, res, cfg)) return;
    const std::string content_type = req.get_header_value("Content-Type");
    const encoding enc = encoding_of(content_type).value_or(encoding::json);
    inflight_guard guard(ingest.inflight(), cfg.max_ingest_inflight);
    if (!guard.admitted()) {
      ingest.count_rejected("overloaded");
      res.set_header("Retry-After", "1");
      res.set_header("Connection", "close");
      http::close_after_response();  // the body was not read
      return reply_status(res, enc, 503, "too many concurrent ingest requests; retry after a second");
    }
    std::string body;
    const auto st = http::read_body(req, reader, cfg.max_body_bytes, body, res);
    if (st != http::body_status::ok) {
      res.set_header("Connection", "close");
      http::close_after_response();
      ingest.count_rejected(st == http::body_status::too_large ? "payload_too_large" : "bad_body");
      if (st == http::body_status::too_large)
        return reply_status(res, enc, 413,
                            "request body is larger than " + std::to_string(cfg.max_body_bytes) +
                                " bytes (after decompression)");
      return reply_status(res, enc, 400,
                          "the request body could not be read (bad length, encoding or chunking)");
    }
    try {
      handle(res, body, content_type, encoding_left(body));
    } catch (const storage::store_busy& e) {
      spdlog::debug("otlp: store busy: {}", e.what());
      res.set_header("Retry-After", "1");
      reply_status(res, enc, 503, "the database is busy; retry after a second");
    } catch (const storage::store_unavailable& e) {
      spdlog::error("otlp: store unavailable: {}", e.what());
      res.set_header("Retry-After", "5");
      reply_status(res, enc, 503, std::string("the database cannot take writes: ") + e.what());
    }
  });
}

// A signal the receiver takes (/v1/traces, /v1/logs): decode (a bad request is counted and answered in its
// own encoding), hand the request to the receiver, answer with the export response in the request's encoding.
template <class Request>
void post_export(httplib::Server& server, const char* path, signal sig,
                 decode_result<Request> (*decode)(std::string_view, std::string_view, std::string_view,
                                                  const limits&),
                 export_outcome (receiver::*take)(const Request&), receiver& rx,
                 ingest::ingest_service& ingest, const config& cfg, const limits& lim) {
  post_signal(server, path, ingest, cfg,
              [&rx, &ingest, lim, sig, decode, take](httplib::Response& res, const std::string& body,
                                                     const std::string& ct, std::string_view ce) {
                auto dec = decode(body, ct, ce, lim);
                if (!dec.ok) {
                  ingest.count_rejected("otlp_invalid");
                  return reply_status(res, dec.enc, dec.error.http_status, dec.error.message);
                }
                const export_outcome out = (rx.*take)(dec.value);
                res.status = 200;
                res.set_content(export_response(sig, dec.enc, out.rejected, out.message),
                                std::string(content_type_of(dec.enc)));
              });
}

}  // namespace

// Content that arrives concurrently with its span is never lost: the span side stores, then looks for held
// content; the log side holds, then looks for the stored span. Whichever looks second finds the other, and
// take_span hands each held record to exactly one of them.
std::optional<model::record_write> receiver::attach_held(const model::record& stored) {
  std::vector<log_record> held = pending_.take_span(stored.trace_id, stored.id);
  if (held.empty()) return std::nullopt;
  std::vector<const log_record*> ptrs;
  ptrs.reserve(held.size());
  for (const auto& r : held) ptrs.push_back(&r);
  return content_update(stored, ptrs);
}

export_outcome receiver::traces(const traces_request& req) {
  const logs_request held = pending_.take(req);
  const content_index index = index_content_logs(held);
  std::vector<model::record_write> writes;
  writes.reserve(req.spans.size());
  for (const auto& d : map_spans(req, held.records.empty() ? nullptr : &index))
    writes.push_back(to_record_write(d));
  export_outcome out;
  const auto results = ingest_.write(std::move(writes));
  out.stored = count_stored(results);
  if (pending_.size() == 0) return out;
  std::vector<model::record_write> late;
  for (const auto& r : results)
    if (auto w = attach_held(r.record)) late.push_back(std::move(*w));
  if (!late.empty()) ingest_.write(std::move(late));
  return out;
}

export_outcome receiver::logs(const logs_request& req) {
  logs_request content;
  for (const auto& r : req.records)
    if (is_content(r)) content.records.push_back(r);
  export_outcome out;
  if (content.records.empty()) return out;
  const content_index index = index_content_logs(content);
  for (const auto& [key, records] : index.by_span)
    for (const auto* r : records) pending_.hold(key.substr(0, 32), key.substr(32), *r);
  std::vector<model::record_write> updates;
  for (const auto& [key, records] : index.by_span) {
    auto stored = reads_.get_record(key.substr(32));
    if (!stored || stored->trace_id != key.substr(0, 32)) continue;  // held until the span arrives
    if (auto w = attach_held(*stored)) updates.push_back(std::move(*w));
  }
  if (!updates.empty()) out.stored = count_stored(ingest_.write(std::move(updates)));
  return out;
}

void mount(httplib::Server& server, receiver& rx, ingest::ingest_service& ingest, const config& cfg) {
  limits lim;
  lim.max_body_bytes = cfg.max_body_bytes;
  post_export(server, "/v1/traces", signal::traces, &decode_traces, &receiver::traces, rx, ingest, cfg, lim);
  post_export(server, "/v1/logs", signal::logs, &decode_logs, &receiver::logs, rx, ingest, cfg, lim);
  // Metrics: accepted and dropped; only the content type is checked, so a misconfigured exporter still
  // learns it speaks something we cannot read.
  post_signal(server, "/v1/metrics", ingest, cfg,
              [](httplib::Response& res, const std::string&, const std::string& ct, std::string_view) {
                auto enc = encoding_of(ct);
                if (!enc)
                  return reply_status(res, encoding::json, 415,
                                      "Content-Type must be application/x-protobuf or application/json");
                res.status = 200;
                res.set_content(export_response(signal::metrics, *enc), std::string(content_type_of(*enc)));
              });
}

}  // namespace llmtrace::otlp
