// client::score: one direct POST to the collector's scores API, outside the trace queue. A score is rare and
// its caller (a thumbs-down click) wants to know it was stored, so the call blocks for one request and says
// why it failed; it is never retried, since a repeated POST would store the score twice.
// Threading: any thread, any number at once; each call builds its own connection (nothing shared but opts).
#include <cmath>
#include <iterator>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "client_impl.hpp"
#include "enum_names.hpp"
#include "http_transport.hpp"

namespace llmtrace {
namespace {

using nlohmann::json;

constexpr const char* k_score_names[] = {"ok",          "invalid",  "not_found", "rejected",
                                         "unreachable", "disabled", "stopped",   "internal"};
static_assert(std::size(k_score_names) == static_cast<std::size_t>(score_status::internal) + 1);

score_result refused(score_status st, std::string message) {
  score_result r;
  r.status = st;
  r.message = std::move(message);
  return r;
}

// An id as one path segment: everything but RFC 3986's unreserved characters percent-encoded, so an id with
// '/', '?' or '#' cannot reach another route.
std::string path_segment(std::string_view id) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(id.size());
  for (unsigned char c : id) {
    const bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                            c == '-' || c == '_' || c == '.' || c == '~';
    if (unreserved) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

json value_json(const score_value& v) {
  switch (v.t) {
    case score_value::type::boolean:
      return v.b;
    case score_value::type::number:
      return v.n;
    case score_value::type::label:
      return std::string(v.s);
  }
  return nullptr;
}

// The collector's answer as a result: 201 is ok; its error body {"error":{"message","field"}} explains
// others.
score_result from_answer(const httplib::Result& res) {
  score_result r;
  r.http_status = res->status;
  if (res->status == 201) {
    r.status = score_status::ok;
    r.score_json = res->body;
    return r;
  }
  r.status = res->status == 404 ? score_status::not_found : score_status::rejected;
  r.message = "collector answered HTTP " + std::to_string(res->status);
  const json j = json::parse(res->body, nullptr, false);
  if (j.is_object() && j.contains("error") && j["error"].is_object()) {
    const json& e = j["error"];
    if (e.contains("message") && e["message"].is_string())
      r.message += ": " + e["message"].get<std::string>();
    if (e.contains("field") && e["field"].is_string()) r.field = e["field"].get<std::string>();
  }
  return r;
}

}  // namespace

const char* to_string(score_status s) noexcept {
  return detail::name_of(s, k_score_names, "unknown");
}

score_result client::score(score_target target, std::string_view target_id, std::string_view name,
                           score_value value, std::string_view comment) noexcept {
  try {
    if (!impl_ || !impl_->accepting.load(std::memory_order_relaxed))
      return refused(score_status::stopped, "client was shut down");
    if (impl_->opts.disabled) return refused(score_status::disabled, "client is disabled");
    if (target_id.empty()) return refused(score_status::invalid, "a record id or a session id is required");
    if (name.empty()) return refused(score_status::invalid, "name must be a non-empty string");
    if (value.t == score_value::type::number && !std::isfinite(value.n))
      return refused(score_status::invalid, "value must be a finite number");

    json body = {{"name", std::string(name)}, {"value", value_json(value)}};
    if (!comment.empty()) body["comment"] = std::string(comment);
    const options& o = impl_->opts;
    const detail::endpoint_parts ep = detail::split_endpoint(o.endpoint);
    const std::string path = ep.prefix +
                             (target == score_target::record ? "/api/records/" : "/api/sessions/") +
                             path_segment(target_id) + "/scores";
    auto http = detail::make_http_client(o, ep.scheme_host);
    http->set_keep_alive(false);
    http->set_url_encode(false);  // the path is already percent-encoded
    httplib::Result res =
        http->Post(path, body.dump(-1, ' ', false, json::error_handler_t::replace), "application/json");
    if (!res)
      return refused(score_status::unreachable,
                     "cannot reach " + ep.scheme_host + " (" + httplib::to_string(res.error()) + ")");
    return from_answer(res);
  } catch (...) {
    score_result r;  // out of memory: the message itself may not fit
    r.status = score_status::internal;
    try {
      r.message = "score not sent: out of memory or internal error";
    } catch (...) {
    }
    return r;
  }
}

}  // namespace llmtrace
