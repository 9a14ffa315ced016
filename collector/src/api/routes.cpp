#include "api/routes.hpp"

#include <cctype>
#include <charconv>

#include <httplib.h>
#include <spdlog/spdlog.h>

#include "api/event_hub.hpp"
#include "api/metrics.hpp"
#include "api/score_routes.hpp"
#include "api/timeseries_routes.hpp"
#include "config.hpp"
#include "http/auth.hpp"
#include "http/body.hpp"
#include "http/errors.hpp"
#include "http/json_body.hpp"
#include "http/render.hpp"
#include "http/store_errors.hpp"
#include "ingest/ingest_service.hpp"
#include "model/time.hpp"
#include "storage/store.hpp"

namespace llmtrace::api {
namespace {

using json = nlohmann::json;

constexpr std::size_t max_rename_body_bytes = 64 * 1024;

// Optional integer query parameter in [lo, hi]. Writes 400 and returns false on a bad value.
bool int_param(const httplib::Request& req, httplib::Response& res, const char* name, int64_t lo, int64_t hi,
               int64_t& out) {
  if (!req.has_param(name)) return true;
  std::string v = req.get_param_value(name);
  int64_t n = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (v.empty() || ec != std::errc{} || p != v.data() + v.size() || n < lo || n > hi) {
    http::write_error(res, 400, "invalid_parameter",
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

std::string safe_filename(const std::string& id) {
  std::string out;
  for (char c : id)
    out += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.') ? c : '_';
  return out.empty() ? "session" : out;
}

void not_found(httplib::Response& res, std::string_view what, const std::string& id) {
  http::write_error(res, 404, "not_found", std::string(what) + " '" + id + "' not found", "id");
}

void mount_sessions(httplib::Server& server, const api_deps& deps) {
  server.Get("/api/sessions", [&deps](const httplib::Request& req, httplib::Response& res) {
    storage::page_request p;
    if (!paging(req, res, 20, 200, p)) return;
    p.filter = req.get_param_value("q");
    if (p.filter.size() > 200)
      return http::write_error(res, 400, "invalid_parameter", "q must be at most 200 bytes", "q");
    http::with_store(res, [&] {
      auto page = deps.reads.list_sessions(p);
      load_scores(deps.reads, page.items);
      http::write_json_text(res, 200, http::render_page(page));
    });
  });

  server.Get(R"(/api/sessions/([^/]+))", [&deps](const httplib::Request& req, httplib::Response& res) {
    std::string id = req.matches[1];
    http::with_store(res, [&] {
      auto s = deps.reads.get_session(id);
      if (!s) return not_found(res, "session", id);
      std::vector<model::session> one{std::move(*s)};
      load_scores(deps.reads, one);
      http::write_json_text(res, 200, http::render_json(one.front()));
    });
  });

  server.Patch(R"(/api/sessions/([^/]+))", [&deps](const httplib::Request& req, httplib::Response& res,
                                                   const httplib::ContentReader& reader) {
    if (!http::require_auth(req, res, deps.cfg)) return;
    std::string id = req.matches[1];
    http::json_body_rules rules;
    rules.max_bytes = max_rename_body_bytes;
    rules.not_object = "name must be a non-empty string of at most 200 bytes";
    rules.not_object_code = "invalid_field";
    rules.not_object_field = "name";
    std::string text;
    json body;
    if (!http::read_json_object(req, res, reader, rules, text, body)) return;
    auto name = body.find("name");
    if (name == body.end() || !name->is_string() || name->get_ref<const std::string&>().empty() ||
        name->get_ref<const std::string&>().size() > ingest::max_session_name_length)
      return http::write_error(res, 400, "invalid_field", rules.not_object, "name");
    http::with_store(res, [&] {
      if (!deps.writes.rename_session(id, name->get<std::string>(), model::now_ms()))
        return not_found(res, "session", id);
      auto s = deps.reads.get_session(id);
      if (!s) return not_found(res, "session", id);
      deps.events.publish_session(*s);
      http::write_json(res, 200, http::to_json(*s));
    });
  });

  server.Delete(R"(/api/sessions/([^/]+))", [&deps](const httplib::Request& req, httplib::Response& res) {
    std::string id = req.matches[1];
    http::with_store(res, [&] {
      if (!deps.writes.delete_session(id)) return not_found(res, "session", id);
      deps.events.publish_deleted("session", id);
      http::write_json(res, 200, {{"deleted", true}, {"kind", "session"}, {"id", id}});
    });
  });

  server.Get(R"(/api/sessions/([^/]+)/records)",
             [&deps](const httplib::Request& req, httplib::Response& res) {
               std::string id = req.matches[1];
               storage::page_request p;
               if (!paging(req, res, 50, 500, p)) return;
               http::with_store(res, [&] {
                 auto page = deps.reads.list_records(id, p);
                 // A session with records exists: only an empty answer needs the extra lookup to tell 404
                 // from empty.
                 if (page.total == 0 && !deps.reads.get_session(id)) return not_found(res, "session", id);
                 load_scores(deps.reads, page.items);
                 http::write_json_text(res, 200, http::render_page(page));
               });
             });

  server.Get(R"(/api/sessions/([^/]+)/export)", [&deps](const httplib::Request& req, httplib::Response& res) {
    std::string id = req.matches[1];
    bool found = false;
    if (!http::with_store(res, [&] { found = deps.reads.get_session(id).has_value(); })) return;
    if (!found) return not_found(res, "session", id);
    res.set_header("Content-Disposition", "attachment; filename=\"" + safe_filename(id) + ".jsonl\"");
    res.set_chunked_content_provider("application/x-ndjson", [&deps, id](size_t, httplib::DataSink& sink) {
      bool ok = true;
      try {
        deps.reads.for_each_record(id, [&](const model::record& r) {
          std::string line = http::render_json(r);
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
}

void mount_records(httplib::Server& server, const api_deps& deps) {
  server.Get(R"(/api/records/([^/]+))", [&deps](const httplib::Request& req, httplib::Response& res) {
    std::string id = req.matches[1];
    http::with_store(res, [&] {
      auto r = deps.reads.get_record(id);
      if (!r) return not_found(res, "record", id);
      std::vector<model::record> one{std::move(*r)};
      load_scores(deps.reads, one);
      http::write_json_text(res, 200, http::render_json(one.front()));
    });
  });

  server.Delete(R"(/api/records/([^/]+))", [&deps](const httplib::Request& req, httplib::Response& res) {
    std::string id = req.matches[1];
    http::with_store(res, [&] {
      if (!deps.writes.delete_record(id)) return not_found(res, "record", id);
      deps.events.publish_deleted("record", id);
      http::write_json(res, 200, {{"deleted", true}, {"kind", "record"}, {"id", id}});
    });
  });

  server.Get("/api/search", [&deps](const httplib::Request& req, httplib::Response& res) {
    storage::search_query q;
    if (!paging(req, res, 20, 200, q.paging)) return;
    q.text = req.get_param_value("q");
    if (q.text.size() > 1024)
      return http::write_error(res, 400, "invalid_parameter", "q is longer than 1024 bytes", "q");
    if (auto s = req.get_param_value("status"); !s.empty()) {
      q.status = model::parse_status(s);
      if (!q.status)
        return http::write_error(res, 400, "invalid_parameter",
                                 "status must be one of pending, success, error", "status");
    }
    q.model = req.get_param_value("model");
    q.session_id = req.get_param_value("session_id");
    if (req.has_param("score")) {
      const std::string f = req.get_param_value("score");
      const auto colon = f.find(':');
      q.score_name = f.substr(0, colon);
      if (f.size() > 1400 || q.score_name.empty() || q.score_name.size() > max_score_name_bytes)
        return http::write_error(res, 400, "invalid_parameter",
                                 "score must be name or name:value (name 1..200 bytes)", "score");
      if (colon != std::string::npos) q.score_value = canonical_filter_value(f.substr(colon + 1));
    }
    http::with_store(res, [&] {
      auto page = deps.reads.search(q);
      load_scores(deps.reads, page.items);
      http::write_json_text(res, 200, http::render_page(page));
    });
  });
}

void mount_status(httplib::Server& server, const api_deps& deps) {
  server.Get("/api/stats", [&deps](const httplib::Request&, httplib::Response& res) {
    http::with_store(res, [&] {
      json out = http::to_json(deps.reads.stats());
      const auto& c = deps.ingest.counters();
      out["ingest"] = {{"created", c.created.load()},
                       {"updated", c.updated.load()},
                       {"stale", c.stale.load()},
                       {"batches", c.batches.load()},
                       {"rejected", deps.ingest.rejected_by_reason()}};
      out["event_streams"] = deps.events.open_streams();
      out["version"] = LLMTRACE_VERSION;
      http::write_json(res, 200, out);
    });
  });

  server.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    http::write_json(res, 200, {{"status", "ok"}, {"version", LLMTRACE_VERSION}});
  });

  server.Get("/metrics", [&deps](const httplib::Request&, httplib::Response& res) {
    res.set_content(deps.request_metrics.render(deps.ingest, deps.events, deps.reads),
                    "text/plain; version=0.0.4; charset=utf-8");
  });
}

}  // namespace

void mount_api(httplib::Server& server, const api_deps& deps) {
  mount_ingest(server, deps);
  mount_sessions(server, deps);
  mount_records(server, deps);
  mount_status(server, deps);
  mount_scores(server, deps);
  mount_timeseries(server, deps);
  mount_events(server, deps.events, deps.cfg);
}

}  // namespace llmtrace::api
