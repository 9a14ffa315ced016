#include "api/metrics.hpp"

#include <cstdio>
#include <sstream>

#include "api/event_hub.hpp"
#include "ingest/ingest_service.hpp"
#include "storage/store.hpp"

namespace llmtrace::api {
namespace {
std::string fmt_cost(uint64_t nano_usd) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.9f", static_cast<double>(nano_usd) / 1e9);
  return buf;
}
}  // namespace

std::string route_label(std::string_view path) {
  static const std::pair<std::string_view, std::string_view> prefixes[] = {
      {"/api/sessions/", "/api/sessions/:id"},
      {"/api/records/", "/api/records/:id"},
  };
  for (auto [prefix, label] : prefixes) {
    if (path.rfind(prefix, 0) == 0 && path.size() > prefix.size()) {
      auto rest = path.substr(prefix.size());
      auto slash = rest.find('/');
      if (slash == std::string_view::npos) return std::string(label);
      auto tail = rest.substr(slash);
      if (tail == "/records" || tail == "/export" || tail == "/replay")
        return std::string(label) + std::string(tail);
      return std::string(label) + "/other";
    }
  }
  for (auto known : {"/api/trace", "/api/traces", "/api/sessions", "/api/search", "/api/stats", "/api/events",
                     "/healthz", "/metrics", "/v1/chat/completions", "/v1/completions", "/v1/embeddings",
                     "/v1/responses", "/v1/models", "/v1/traces", "/v1/logs", "/v1/metrics"})
    if (path == known) return std::string(path);
  if (path.rfind("/api/", 0) == 0) return "/api/other";
  if (path.rfind("/v1/", 0) == 0) return "/v1/other";
  return "/static";
}

std::string method_label(std::string_view method) {
  for (std::string_view known : {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
    if (method == known) return std::string(known);
  return "other";
}

std::string escape_label(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

void metrics::observe(std::string_view method, std::string_view path, int status, double seconds) {
  std::string route = route_label(path);
  std::string m = method_label(method);
  // httplib answers some malformed requests itself with any code; keep the status label a 3-digit code.
  if (status < 100 || status > 599) status = 0;
  std::lock_guard lock(mu_);
  ++requests_[{m, route, status}];
  auto& s = latency_[{std::move(m), std::move(route)}];
  ++s.count;
  s.sum += seconds;
  for (std::size_t i = 0; i < buckets.size(); ++i)
    if (seconds <= buckets[i]) ++s.bucket_counts[i];
}

std::string metrics::render(const ingest::ingest_service& ingest, const event_hub& events,
                            storage::store_reader& reads) const {
  std::ostringstream o;
  o.precision(9);
  {
    std::lock_guard lock(mu_);
    o << "# HELP llmtrace_http_requests_total HTTP requests by method, route and status.\n"
      << "# TYPE llmtrace_http_requests_total counter\n";
    for (const auto& [key, n] : requests_)
      o << "llmtrace_http_requests_total{method=\"" << escape_label(std::get<0>(key)) << "\",route=\""
        << escape_label(std::get<1>(key)) << "\",status=\"" << std::get<2>(key) << "\"} " << n << "\n";
    o << "# HELP llmtrace_http_request_duration_seconds HTTP request latency by method and route.\n"
      << "# TYPE llmtrace_http_request_duration_seconds histogram\n";
    for (const auto& [key, s] : latency_) {
      std::string labels =
          "method=\"" + escape_label(key.first) + "\",route=\"" + escape_label(key.second) + "\"";
      for (std::size_t i = 0; i < buckets.size(); ++i)
        o << "llmtrace_http_request_duration_seconds_bucket{" << labels << ",le=\"" << buckets[i] << "\"} "
          << s.bucket_counts[i] << "\n";
      o << "llmtrace_http_request_duration_seconds_bucket{" << labels << ",le=\"+Inf\"} " << s.count << "\n"
        << "llmtrace_http_request_duration_seconds_sum{" << labels << "} " << s.sum << "\n"
        << "llmtrace_http_request_duration_seconds_count{" << labels << "} " << s.count << "\n";
    }
  }
  const auto& c = ingest.counters();
  o << "# HELP llmtrace_ingest_records_total Records written by ingest, by outcome.\n"
    << "# TYPE llmtrace_ingest_records_total counter\n"
    << "llmtrace_ingest_records_total{outcome=\"created\"} " << c.created.load() << "\n"
    << "llmtrace_ingest_records_total{outcome=\"updated\"} " << c.updated.load() << "\n"
    << "llmtrace_ingest_records_total{outcome=\"stale\"} " << c.stale.load() << "\n"
    << "# HELP llmtrace_ingest_batches_total Committed ingest transactions.\n"
    << "# TYPE llmtrace_ingest_batches_total counter\n"
    << "llmtrace_ingest_batches_total " << c.batches.load() << "\n"
    << "# HELP llmtrace_cost_usd_total Known cost (USD) of the records stored since start, sent or priced.\n"
    << "# TYPE llmtrace_cost_usd_total counter\n"
    << "llmtrace_cost_usd_total " << fmt_cost(c.cost_nano_usd.load()) << "\n"
    << "# HELP llmtrace_ingest_rejected_total Rejected traces and requests, by reason.\n"
    << "# TYPE llmtrace_ingest_rejected_total counter\n";
  for (const auto& [reason, n] : ingest.rejected_by_reason())
    o << "llmtrace_ingest_rejected_total{reason=\"" << escape_label(reason) << "\"} " << n << "\n";
  o << "# HELP llmtrace_event_streams_open Open /api/events streams.\n"
    << "# TYPE llmtrace_event_streams_open gauge\n"
    << "llmtrace_event_streams_open " << events.open_streams() << "\n";
  try {
    auto st = reads.stats();
    o << "# HELP llmtrace_sessions Sessions stored.\n# TYPE llmtrace_sessions gauge\n"
      << "llmtrace_sessions " << st.sessions << "\n"
      << "# HELP llmtrace_records Records stored.\n# TYPE llmtrace_records gauge\n"
      << "llmtrace_records " << st.records << "\n"
      << "# HELP llmtrace_db_size_bytes Database size.\n# TYPE llmtrace_db_size_bytes gauge\n"
      << "llmtrace_db_size_bytes " << st.db_size_bytes << "\n"
      << "# HELP llmtrace_search_index_lag Records stored but not yet in the full-text index.\n"
      << "# TYPE llmtrace_search_index_lag gauge\n"
      << "llmtrace_search_index_lag " << st.search_index_lag << "\n"
      << "# HELP llmtrace_search_summaries_pending PostgreSQL: sealed partitions whose search summary is not "
         "ready.\n"
      << "# TYPE llmtrace_search_summaries_pending gauge\n"
      << "llmtrace_search_summaries_pending " << st.search_summaries_pending << "\n";
  } catch (const std::exception&) {
    o << "# store statistics unavailable\n";
  }
  return o.str();
}

}  // namespace llmtrace::api
