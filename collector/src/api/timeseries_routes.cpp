#include "api/timeseries_routes.hpp"

#include <charconv>
#include <optional>
#include <string>
#include <vector>

#include <httplib.h>

#include "http/errors.hpp"
#include "http/render.hpp"
#include "http/store_errors.hpp"
#include "model/time.hpp"
#include "storage/store.hpp"

namespace llmtrace::api {
namespace {

constexpr int64_t k_minute = 60 * 1000;
constexpr int64_t k_day = 24 * 60 * k_minute;

std::optional<int64_t> parse_int(std::string_view text) {
  int64_t n = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (text.empty() || ec != std::errc{} || p != text.data() + text.size()) return std::nullopt;
  return n;
}

// The smallest round bucket that draws the range in at most 500 points.
int64_t default_bucket(int64_t range_ms) {
  for (int64_t b : {k_minute, 5 * k_minute, 15 * k_minute, 60 * k_minute, 360 * k_minute, k_day})
    if (range_ms / b <= 500) return b;
  int64_t b = k_day;
  while (range_ms / b > 500) b *= 2;
  return b;
}

// The answer as text through http::object_writer (the same bytes as dump_json of the equivalent nlohmann
// object), without building a map per row: a day by model in 1-minute buckets is 7,200 rows, and the objects
// cost more than reading the rollup.
void append_row(std::string& out, const storage::timeseries_row& r, bool by_model) {
  http::object_writer o(out);
  o.time("bucket_start", r.bucket_start_ms);
  o.integer("bucket_start_ms", r.bucket_start_ms);
  o.integer("calls", r.calls);
  o.integer("completion_tokens", r.completion_tokens);
  o.number("cost_usd", r.cost_usd);
  o.integer("errors", r.errors);
  o.opt_number("latency_p50_ms", r.latency_p50_ms);
  o.opt_number("latency_p95_ms", r.latency_p95_ms);
  if (by_model) o.opt_string("model", r.model);
  o.integer("prompt_tokens", r.prompt_tokens);
  o.integer("total_tokens", r.total_tokens);
  o.close();
}

std::string render(const storage::timeseries_query& q, const std::vector<storage::timeseries_row>& rows) {
  std::string out;
  out.reserve(256 + rows.size() * 280);
  http::object_writer o(out);
  o.integer("bucket_ms", q.bucket_ms);
  o.time("from", q.from_ms);
  if (q.by_model)
    o.string("group_by", "model");
  else
    o.null("group_by");
  std::string& items = o.member("items");
  items += '[';
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (i) items += ',';
    append_row(items, rows[i], q.by_model);
  }
  items += ']';
  o.time("to", q.to_ms);
  o.close();
  return out;
}

void bad(httplib::Response& res, const char* field, const std::string& message) {
  http::write_error(res, 400, "invalid_parameter", message, field);
}

}  // namespace

std::optional<int64_t> parse_time_param(std::string_view text) {
  if (auto n = parse_int(text)) return n;
  return model::parse_rfc3339_ms(text);
}

std::optional<int64_t> parse_duration_ms(std::string_view text) {
  if (auto n = parse_int(text)) return n;
  struct unit {
    std::string_view suffix;
    int64_t ms;
  };
  for (const unit u :
       {unit{"ms", 1}, unit{"s", 1000}, unit{"m", k_minute}, unit{"h", 60 * k_minute}, unit{"d", k_day}}) {
    if (text.size() <= u.suffix.size() || text.substr(text.size() - u.suffix.size()) != u.suffix) continue;
    auto n = parse_int(text.substr(0, text.size() - u.suffix.size()));
    if (!n) return std::nullopt;  // "5xm", or "ms" read as "m"
    if (*n < 0 || *n > INT64_MAX / u.ms) return std::nullopt;
    return *n * u.ms;
  }
  return std::nullopt;
}

void mount_timeseries(httplib::Server& server, const api_deps& deps) {
  server.Get("/api/stats/timeseries", [&deps](const httplib::Request& req, httplib::Response& res) {
    storage::timeseries_query q;
    const int64_t now = model::now_ms();
    q.to_ms = now;
    if (req.has_param("to")) {
      auto t = parse_time_param(req.get_param_value("to"));
      if (!t) return bad(res, "to", "to must be an RFC 3339 time or epoch milliseconds");
      q.to_ms = *t;
    }
    // Default: from the start of the minute 24 h before `to`, so that the default query (and the dashboard's,
    // which aligns its own `from`) is served by the store's per-minute rollup rather than a record scan.
    q.from_ms = q.to_ms - k_day;
    q.from_ms -= ((q.from_ms % k_minute) + k_minute) % k_minute;
    if (req.has_param("from")) {
      auto t = parse_time_param(req.get_param_value("from"));
      if (!t) return bad(res, "from", "from must be an RFC 3339 time or epoch milliseconds");
      q.from_ms = *t;
    }
    if (q.from_ms > q.to_ms) return bad(res, "from", "from must not be after to");
    const int64_t range = q.to_ms - q.from_ms;
    if (range < 0) return bad(res, "from", "the range from..to is too large");  // overflowed
    q.bucket_ms = default_bucket(range);
    if (req.has_param("bucket")) {
      auto b = parse_duration_ms(req.get_param_value("bucket"));
      if (!b) return bad(res, "bucket", "bucket must be a duration like 60s, 5m, 1h, 1d or milliseconds");
      if (*b <= 0) return bad(res, "bucket", "bucket must be greater than 0");
      q.bucket_ms = *b;
    }
    const int64_t buckets = range / q.bucket_ms + (range % q.bucket_ms ? 1 : 0);
    if (buckets > max_timeseries_buckets)
      return bad(res, "bucket",
                 "from..to in buckets of " + std::to_string(q.bucket_ms) + " ms would take " +
                     std::to_string(buckets) + " points (at most 10000): choose a larger bucket");
    const std::string group_by = req.get_param_value("group_by");
    if (!group_by.empty() && group_by != "model")
      return bad(res, "group_by", "group_by must be model (or left out)");
    q.by_model = group_by == "model";

    http::with_store(res, [&] {
      // write_json_text: a large answer must not be brotli-compressed on the fly for every browser that
      // offers `br` (render.hpp).
      http::write_json_text(res, 200, render(q, deps.reads.timeseries(q)));
    });
  });
}

}  // namespace llmtrace::api
