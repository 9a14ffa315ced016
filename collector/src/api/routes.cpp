#include "api/routes.hpp"

#include <atomic>
#include <cctype>
#include <charconv>

#include <httplib.h>
#include <spdlog/spdlog.h>

#include "api/auth.hpp"
#include "api/body.hpp"
#include "api/connection.hpp"
#include "api/errors.hpp"
#include "api/event_hub.hpp"
#include "api/metrics.hpp"
#include "api/render.hpp"
#include "app.hpp"
#include "config.hpp"
#include "ingest/ingest_service.hpp"
#include "ingest/json_parse.hpp"
#include "model/time.hpp"
#include "proxy/recorder.hpp"

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

// Optional integer query parameter in [lo, hi]. Writes 400 and returns false on a bad value.
bool int_param(const httplib::Request& req, httplib::Response& res, const char* name, int64_t lo, int64_t hi,
               int64_t& out) {
  if (!req.has_param(name)) return true;
  std::string v = req.get_param_value(name);
  int64_t n = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (v.empty() || ec != std::errc{} || p != v.data() + v.size() || n < lo || n > hi) {
    write_error(res, 400, "invalid_parameter",
                std::string(name) + " must be an integer between " + std::to_string(lo) + " and " +
                    std::to_string(hi),
                name);
    return false;
  }
  out = n;
  return true;
}

bool paging(const httplib::Request& req, httplib::Response& res, int64_t default_size, int64_t max_size,
            storage::page_request& p) {
  p.page = 1;
  p.size = default_size;
  return int_param(req, res, "page", 1, 1000000000, p.page) &&
         int_param(req, res, "size", 1, max_size, p.size);
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

// Reads and parses an ingest body that must be a JSON object; answers the error itself (not_object: the
// message for a body of another type) and returns false when it cannot. `body` keeps the bytes as sent, so
// request/response/metadata can be stored without re-serialising.
bool read_json_object(const httplib::Request& req, httplib::Response& res,
                      const httplib::ContentReader& reader, app_context& app, std::string_view not_object,
                      std::string& body, json& out) {
  auto st = read_body(req, reader, app.cfg.max_body_bytes, body, res);
  if (st != body_status::ok) {
    app.ingest.count_rejected(st == body_status::too_large ? "payload_too_large" : "bad_body");
    write_body_error(res, st, app.cfg.max_body_bytes);
    return false;
  }
  auto parsed = ingest::parse_json_limited(body);
  if (!parsed.ok) {
    app.ingest.count_rejected(parsed.too_deep ? "too_deep" : "invalid_json");
    write_error(res, 400, parsed.too_deep ? "too_deep" : "invalid_json",
                "invalid JSON body: " + parsed.message);
    return false;
  }
  if (!parsed.value.is_object()) {
    app.ingest.count_rejected("invalid_body");
    write_error(res, 400, "invalid_body", not_object);
    return false;
  }
  out = std::move(parsed.value);
  return true;
}

bool admit_ingest(httplib::Response& res, const inflight_guard& guard, app_context& app) {
  if (guard.admitted()) return true;
  app.ingest.count_rejected("overloaded");
  res.set_header("Retry-After", "1");
  res.set_header("Connection", "close");
  close_after_response();  // the body was not read
  write_error(res, 503, "overloaded", "too many concurrent ingest requests; retry after a second");
  return false;
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

// A JSON string for a reply. Ids are validated (no control characters) and valid UTF-8, so quoting and
// backslashes are all there is to escape; anything else takes nlohmann's escaping.
void append_json_string(std::string& out, const std::string& s) {
  for (unsigned char c : s) {
    if (c < 0x20 || c >= 0x80) {
      out += dump_json(json(s));
      return;
    }
  }
  out += '"';
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += '"';
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
      out += dump_json(item_json(r));
      continue;
    }
    out += "{\"id\":";
    append_json_string(out, r.result->record.id);
    out += ",\"index\":";
    out += std::to_string(r.index);
    out += ",\"session_id\":";
    append_json_string(out, r.result->record.session_id);
    out += ",\"status\":\"";
    out += outcome_name(r.result->outcome);
    out += "\",\"turn_number\":";
    out += std::to_string(r.result->record.turn_number);
    out += '}';
  }
  out += "]}";
  return out;
}

std::string safe_filename(const std::string& id) {
  std::string out;
  for (char c : id)
    out += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.') ? c : '_';
  return out.empty() ? "session" : out;
}

void not_found(httplib::Response& res, std::string_view what, const std::string& id) {
  write_error(res, 404, "not_found", std::string(what) + " '" + id + "' not found", "id");
}

}  // namespace

bool with_store(httplib::Response& res, const std::function<void()>& fn) {
  try {
    fn();
    return true;
  } catch (const storage::store_busy& e) {
    spdlog::debug("store busy: {}", e.what());
    res.set_header("Retry-After", "1");
    write_error(res, 503, "store_busy", "the database is busy; retry after a second");
  } catch (const storage::store_unavailable& e) {
    spdlog::error("store unavailable: {}", e.what());
    res.set_header("Retry-After", "5");
    write_error(res, 503, "store_unavailable", std::string("the database cannot take writes: ") + e.what());
  }
  return false;
}

void mount_api(httplib::Server& server, app_context& app) {
  // --- ingest ---
  server.Post("/api/trace", [&app](const httplib::Request& req, httplib::Response& res,
                                   const httplib::ContentReader& reader) {
    if (!require_auth(req, res, app)) return;
    inflight_guard guard(app.ingest.inflight(), app.cfg.max_ingest_inflight);
    if (!admit_ingest(res, guard, app)) return;
    json body;
    std::string text;
    if (!read_json_object(req, res, reader, app, "the body must be a JSON object (one trace)", text, body))
      return;
    const auto spans = ingest::scan_trace_spans(text);
    with_store(res, [&] {
      auto r = app.ingest.ingest_one(body, spans ? &*spans : nullptr);
      if (!r.result) {
        write_error(res, 400, r.error.code, r.error.message, r.error.field);
        return;
      }
      json out = to_json(r.result->record);
      out["outcome"] = outcome_name(r.result->outcome);
      write_json(res, r.result->outcome == storage::write_outcome::created ? 201 : 200, out);
    });
  });

  server.Post("/api/traces", [&app](const httplib::Request& req, httplib::Response& res,
                                    const httplib::ContentReader& reader) {
    if (!require_auth(req, res, app)) return;
    inflight_guard guard(app.ingest.inflight(), app.cfg.max_ingest_inflight);
    if (!admit_ingest(res, guard, app)) return;
    json body;
    std::string text;
    if (!read_json_object(req, res, reader, app, "the body must be a JSON object {\"traces\":[...]}", text,
                          body))
      return;
    auto it = body.find("traces");
    if (it == body.end() || !it->is_array()) {
      app.ingest.count_rejected("invalid_body");
      write_error(res, 400, "invalid_field", "traces must be an array of trace objects", "traces");
      return;
    }
    if (it->size() > max_batch_items) {
      app.ingest.count_rejected("too_many_traces");
      write_error(res, 413, "too_many_traces",
                  "a batch holds at most " + std::to_string(max_batch_items) + " traces", "traces");
      return;
    }
    const auto spans = ingest::scan_batch_spans(text);
    with_store(res, [&] {
      auto results = app.ingest.ingest_batch(*it, spans ? &*spans : nullptr);
      res.status = 200;
      res.set_content(batch_reply_text(results), "application/json");
    });
  });

  // --- sessions ---
  server.Get("/api/sessions", [&app](const httplib::Request& req, httplib::Response& res) {
    proxy::flush_before_read(app);
    storage::page_request p;
    if (!paging(req, res, 20, 200, p)) return;
    p.filter = req.get_param_value("q");
    if (p.filter.size() > 200)
      return write_error(res, 400, "invalid_parameter", "q must be at most 200 bytes", "q");
    with_store(res, [&] { write_json_text(res, 200, render_page(app.store.list_sessions(p))); });
  });

  server.Get(R"(/api/sessions/([^/]+))", [&app](const httplib::Request& req, httplib::Response& res) {
    proxy::flush_before_read(app);
    std::string id = req.matches[1];
    with_store(res, [&] {
      auto s = app.store.get_session(id);
      if (!s) return not_found(res, "session", id);
      write_json_text(res, 200, render_json(*s));
    });
  });

  server.Patch(R"(/api/sessions/([^/]+))", [&app](const httplib::Request& req, httplib::Response& res,
                                                  const httplib::ContentReader& reader) {
    if (!require_auth(req, res, app)) return;
    std::string id = req.matches[1];
    std::string text;
    auto st = read_body(req, reader, 64 * 1024, text, res);
    if (st != body_status::ok) return write_body_error(res, st, 64 * 1024);
    auto parsed = ingest::parse_json_limited(text);
    if (!parsed.ok) return write_error(res, 400, "invalid_json", "invalid JSON body: " + parsed.message);
    const json& body = parsed.value;
    auto name = body.is_object() ? body.find("name") : body.end();
    if (!body.is_object() || name == body.end() || !name->is_string() ||
        name->get_ref<const std::string&>().empty() ||
        name->get_ref<const std::string&>().size() > ingest::max_session_name_length)
      return write_error(res, 400, "invalid_field", "name must be a non-empty string of at most 200 bytes",
                         "name");
    with_store(res, [&] {
      if (!app.store.rename_session(id, name->get<std::string>(), model::now_ms()))
        return not_found(res, "session", id);
      auto s = app.store.get_session(id);
      if (!s) return not_found(res, "session", id);
      app.events.publish_session(*s);
      write_json(res, 200, to_json(*s));
    });
  });

  server.Delete(R"(/api/sessions/([^/]+))", [&app](const httplib::Request& req, httplib::Response& res) {
    std::string id = req.matches[1];
    with_store(res, [&] {
      if (!app.store.delete_session(id)) return not_found(res, "session", id);
      app.events.publish_deleted("session", id);
      write_json(res, 200, {{"deleted", true}, {"kind", "session"}, {"id", id}});
    });
  });

  server.Get(R"(/api/sessions/([^/]+)/records)", [&app](const httplib::Request& req, httplib::Response& res) {
    proxy::flush_before_read(app);
    std::string id = req.matches[1];
    storage::page_request p;
    if (!paging(req, res, 50, 500, p)) return;
    with_store(res, [&] {
      auto page = app.store.list_records(id, p);
      // A session with records exists: only an empty answer needs the extra lookup to tell 404 from empty.
      if (page.total == 0 && !app.store.get_session(id)) return not_found(res, "session", id);
      write_json_text(res, 200, render_page(page));
    });
  });

  server.Get(R"(/api/sessions/([^/]+)/export)", [&app](const httplib::Request& req, httplib::Response& res) {
    proxy::flush_before_read(app);
    std::string id = req.matches[1];
    bool found = false;
    if (!with_store(res, [&] { found = app.store.get_session(id).has_value(); })) return;
    if (!found) return not_found(res, "session", id);
    res.set_header("Content-Disposition", "attachment; filename=\"" + safe_filename(id) + ".jsonl\"");
    res.set_chunked_content_provider("application/x-ndjson", [&app, id](size_t, httplib::DataSink& sink) {
      bool ok = true;
      try {
        app.store.for_each_record(id, [&](const model::record& r) {
          std::string line = render_json(r);
          line += '\n';
          ok = sink.write(line.data(), line.size());
          return ok;
        });
      } catch (const std::exception& e) {
        spdlog::error("export of session {} failed: {}", id, e.what());
        return false;  // aborts the response: the client sees a truncated stream, not a silent success
      }
      if (!ok) return false;
      sink.done();
      return true;
    });
  });

  // --- records ---
  server.Get(R"(/api/records/([^/]+))", [&app](const httplib::Request& req, httplib::Response& res) {
    proxy::flush_before_read(app);
    std::string id = req.matches[1];
    with_store(res, [&] {
      auto r = app.store.get_record(id);
      if (!r) return not_found(res, "record", id);
      write_json_text(res, 200, render_json(*r));
    });
  });

  server.Delete(R"(/api/records/([^/]+))", [&app](const httplib::Request& req, httplib::Response& res) {
    std::string id = req.matches[1];
    with_store(res, [&] {
      if (!app.store.delete_record(id)) return not_found(res, "record", id);
      app.events.publish_deleted("record", id);
      write_json(res, 200, {{"deleted", true}, {"kind", "record"}, {"id", id}});
    });
  });

  // --- search, stats, health, metrics ---
  server.Get("/api/search", [&app](const httplib::Request& req, httplib::Response& res) {
    proxy::flush_before_read(app);
    storage::search_query q;
    if (!paging(req, res, 20, 200, q.paging)) return;
    q.text = req.get_param_value("q");
    if (q.text.size() > 1024)
      return write_error(res, 400, "invalid_parameter", "q is longer than 1024 bytes", "q");
    if (auto s = req.get_param_value("status"); !s.empty()) {
      q.status = model::parse_status(s);
      if (!q.status)
        return write_error(res, 400, "invalid_parameter", "status must be one of pending, success, error",
                           "status");
    }
    q.model = req.get_param_value("model");
    q.session_id = req.get_param_value("session_id");
    with_store(res, [&] { write_json_text(res, 200, render_page(app.store.search(q))); });
  });

  server.Get("/api/stats", [&app](const httplib::Request&, httplib::Response& res) {
    proxy::flush_before_read(app);
    with_store(res, [&] {
      json out = to_json(app.store.stats());
      const auto& c = app.ingest.counters();
      out["ingest"] = {{"created", c.created.load()},
                       {"updated", c.updated.load()},
                       {"stale", c.stale.load()},
                       {"batches", c.batches.load()},
                       {"rejected", app.ingest.rejected_by_reason()}};
      out["event_streams"] = app.events.open_streams();
      out["version"] = LLMTRACE_VERSION;
      write_json(res, 200, out);
    });
  });

  server.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    write_json(res, 200, {{"status", "ok"}, {"version", LLMTRACE_VERSION}});
  });

  server.Get("/metrics", [&app](const httplib::Request&, httplib::Response& res) {
    std::string text = app.metrics ? app.metrics->render(app) : std::string();
    res.set_content(text, "text/plain; version=0.0.4; charset=utf-8");
  });

  mount_events(server, app);
}

}  // namespace llmtrace::api
