#include "api/score_routes.hpp"

#include <charconv>
#include <cmath>
#include <unordered_map>

#include <httplib.h>

#include "api/event_hub.hpp"
#include "http/auth.hpp"
#include "http/errors.hpp"
#include "http/json_body.hpp"
#include "http/render.hpp"
#include "http/store_errors.hpp"
#include "model/ids.hpp"
#include "model/time.hpp"
#include "storage/store.hpp"

namespace llmtrace::api {
namespace {

using json = nlohmann::json;

constexpr std::size_t max_score_body_bytes = 16 * 1024;

std::string dump_number(double d) {
  return json(d).dump();
}

template <class T>
void load_into(storage::store_reader& reads, model::score_target target, std::vector<T>& items) {
  if (items.empty()) return;
  std::vector<std::string> ids;
  ids.reserve(items.size());
  for (const auto& it : items) ids.push_back(it.id);
  std::unordered_map<std::string, std::vector<model::score>> by_target;
  for (auto& sc : reads.list_scores(target, ids)) by_target[sc.target_id].push_back(std::move(sc));
  for (auto& it : items) {
    auto f = by_target.find(it.id);
    it.scores = f == by_target.end() ? std::vector<model::score>{} : std::move(f->second);
  }
}

void bad_field(httplib::Response& res, const char* field, const std::string& message) {
  http::write_error(res, 400, "invalid_field", message, field);
}

void post_score(const api_deps& deps, model::score_target target, const httplib::Request& req,
                httplib::Response& res, const httplib::ContentReader& reader) {
  if (!http::require_auth(req, res, deps.cfg)) return;
  const std::string id = req.matches[1];
  http::json_body_rules rules;
  rules.max_bytes = max_score_body_bytes;
  rules.not_object = "the body must be a JSON object {\"name\", \"value\", \"comment\"?}";
  std::string text;
  json body;
  if (!http::read_json_object(req, res, reader, rules, text, body)) return;

  model::score sc;
  sc.target = target;
  sc.target_id = id;
  auto name = body.find("name");
  if (name == body.end() || !name->is_string() || name->get_ref<const std::string&>().empty() ||
      name->get_ref<const std::string&>().size() > max_score_name_bytes)
    return bad_field(res, "name", "name must be a non-empty string of at most 200 bytes");
  sc.name = name->get<std::string>();
  auto value = body.find("value");
  std::optional<std::string> v;
  if (value != body.end()) v = canonical_score_value(*value);
  if (!v)
    return bad_field(res, "value",
                     "value must be a finite number, true/false, or a string of at most 1024 bytes");
  sc.value_json = std::move(*v);
  if (auto c = body.find("comment"); c != body.end() && !c->is_null()) {
    if (!c->is_string() || c->get_ref<const std::string&>().size() > max_score_comment_bytes)
      return bad_field(res, "comment", "comment must be a string of at most 4096 bytes");
    sc.comment = c->get<std::string>();
  }
  sc.id = model::new_record_id();
  sc.created_at_ms = model::now_ms();

  http::with_store(res, [&] {
    auto stored = deps.writes.add_score(sc);
    if (!stored) {
      const char* what = target == model::score_target::record ? "record" : "session";
      return http::write_error(res, 404, "not_found", std::string(what) + " '" + id + "' not found", "id");
    }
    http::write_json_text(res, 201, [&] {
      std::string out;
      http::append_json(out, *stored);
      return out;
    }());
    // Live: the target again, with its scores, so an open timeline shows the new score at once.
    try {
      if (target == model::score_target::record) {
        if (auto r = deps.reads.get_record(id)) {
          std::vector<model::record> one{std::move(*r)};
          load_scores(deps.reads, one);
          deps.events.publish_record(one.front(), "updated");
        }
      } else if (auto s = deps.reads.get_session(id)) {
        std::vector<model::session> one{std::move(*s)};
        load_scores(deps.reads, one);
        deps.events.publish_session(one.front());
      }
    } catch (const std::exception&) {
      // The score is committed and answered; a missed live event is caught up by the UI's next read.
    }
  });
}

}  // namespace

std::optional<std::string> canonical_score_value(const json& v) {
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  if (v.is_number()) {
    double d = v.get<double>();
    if (!std::isfinite(d)) return std::nullopt;
    return dump_number(d);
  }
  if (v.is_string()) {
    const auto& s = v.get_ref<const std::string&>();
    if (s.size() > max_score_string_bytes) return std::nullopt;
    return json(s).dump(-1, ' ', false, json::error_handler_t::replace);
  }
  return std::nullopt;
}

std::string canonical_filter_value(std::string_view text) {
  if (text == "true" || text == "false") return std::string(text);
  double d = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), d);
  if (!text.empty() && ec == std::errc{} && p == text.data() + text.size() && std::isfinite(d))
    return dump_number(d);
  return json(std::string(text)).dump(-1, ' ', false, json::error_handler_t::replace);
}

void load_scores(storage::store_reader& reads, std::vector<model::record>& records) {
  load_into(reads, model::score_target::record, records);
}

void load_scores(storage::store_reader& reads, std::vector<model::session>& sessions) {
  load_into(reads, model::score_target::session, sessions);
}

void mount_scores(httplib::Server& server, const api_deps& deps) {
  server.Post(R"(/api/records/([^/]+)/scores)",
              [&deps](const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& r) {
                post_score(deps, model::score_target::record, req, res, r);
              });
  server.Post(R"(/api/sessions/([^/]+)/scores)",
              [&deps](const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& r) {
                post_score(deps, model::score_target::session, req, res, r);
              });
}

}  // namespace llmtrace::api
