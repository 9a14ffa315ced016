#include "http_exporter.hpp"

#include <strings.h>

#include <algorithm>
#include <ctime>

#include <httplib.h>
#include <nlohmann/json.hpp>

namespace llmtrace::detail {
namespace {

using std::chrono::milliseconds;

bool is_retryable_status(int s) {
  return s == 429 || s == 502 || s == 503 || s == 504;
}

// Retry-After: delay-seconds or an HTTP date. Returns -1 when absent or unparsable.
int64_t parse_retry_after_ms(const httplib::Result& res) {
  if (!res || !res->has_header("Retry-After")) return -1;
  std::string v = res->get_header_value("Retry-After");
  while (!v.empty() && v.front() == ' ') v.erase(v.begin());
  if (v.empty()) return -1;
  if (std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    if (v.size() > 9) return 1000LL * 999999999;
    return std::stoll(v) * 1000;
  }
  std::tm tm{};
  if (!strptime(v.c_str(), "%a, %d %b %Y %H:%M:%S", &tm)) return -1;
  const time_t when = timegm(&tm);
  const int64_t delta = (static_cast<int64_t>(when) - static_cast<int64_t>(std::time(nullptr))) * 1000;
  return std::max<int64_t>(0, delta);
}

}  // namespace

http_exporter::http_exporter(const options& opts) : opts_(opts) {
  // Split "http://host:port/prefix" into the part httplib takes and a path prefix.
  std::string ep = opts_.endpoint;
  while (!ep.empty() && ep.back() == '/') ep.pop_back();
  const auto scheme_end = ep.find("://");
  const auto path_start = ep.find('/', scheme_end == std::string::npos ? 0 : scheme_end + 3);
  if (path_start == std::string::npos) {
    scheme_host_ = ep;
    path_ = "/api/traces";
  } else {
    scheme_host_ = ep.substr(0, path_start);
    path_ = ep.substr(path_start) + "/api/traces";
  }
  jitter_state_ ^= reinterpret_cast<uintptr_t>(this);
}

http_exporter::~http_exporter() = default;

void http_exporter::ensure_client() {
  std::lock_guard lk(mu_);
  if (client_) return;
  auto c = std::make_unique<httplib::Client>(scheme_host_);
  c->set_keep_alive(true);
  c->set_tcp_nodelay(true);
  c->set_connection_timeout(opts_.connect_timeout);
  c->set_read_timeout(opts_.request_timeout);
  c->set_write_timeout(opts_.request_timeout);
  c->set_compress(opts_.gzip);
  if (!opts_.api_key.empty()) c->set_bearer_token_auth(opts_.api_key);
  client_ = std::move(c);
}

void http_exporter::shutdown(steady_clock::time_point) noexcept {
  // Called once the deadline has passed: abandon the in-flight request by closing its socket.
  std::lock_guard lk(mu_);
  if (client_) client_->stop();
}

export_outcome http_exporter::export_batch(std::span<const std::string_view> records,
                                           export_context& ctx) noexcept {
  try {
    std::size_t bytes = 16;
    for (auto r : records) bytes += r.size() + 1;
    std::string body;
    body.reserve(bytes);
    body += "{\"traces\":[";
    for (std::size_t i = 0; i < records.size(); ++i) {
      if (i) body += ',';
      body += records[i];
    }
    body += "]}";
    ensure_client();
    return post(body, records.size(), ctx);
  } catch (...) {
    ctx.warn(warn_kind::internal, "exporter error");
    return {};
  }
}

export_outcome http_exporter::post(const std::string& body, uint64_t n, export_context& ctx) {
  int attempt = 0;
  for (;;) {
    if (ctx.aborted()) return {export_result::aborted};
    if (const auto deadline = ctx.deadline()) {
      // Never let one request outlive the shutdown deadline.
      const auto left = std::chrono::duration_cast<milliseconds>(*deadline - steady_clock::now());
      if (left.count() <= 0) return {export_result::aborted};
      std::lock_guard lk(mu_);
      client_->set_read_timeout(std::min(opts_.request_timeout, left));
      client_->set_write_timeout(std::min(opts_.request_timeout, left));
      client_->set_connection_timeout(std::min(opts_.connect_timeout, left));
    }
    ctx.count_request();
    httplib::Result res = client_->Post(path_, body, "application/json");
    if (res && res->status >= 200 && res->status < 300) {
      uint64_t accepted = n, rejected = 0;
      auto j = nlohmann::json::parse(res->body, nullptr, false);
      if (j.is_object() && j.contains("accepted") && j["accepted"].is_number_unsigned()) {
        accepted = std::min<uint64_t>(n, j["accepted"].get<uint64_t>());
        rejected = n - accepted;
      } else if (j.is_object() && j.contains("rejected") && j["rejected"].is_number_unsigned()) {
        rejected = std::min<uint64_t>(n, j["rejected"].get<uint64_t>());
        accepted = n - rejected;
      }
      if (rejected)
        ctx.warn(warn_kind::rejected, "collector rejected " + std::to_string(rejected) + " of " +
                                          std::to_string(n) + " records in a batch (not retried)");
      return {export_result::success, accepted, rejected};
    }
    const bool retryable = !res || is_retryable_status(res->status);
    if (!retryable || attempt >= opts_.max_retries) {
      if (!res)
        ctx.warn(warn_kind::connection, "cannot reach " + scheme_host_ + " (" +
                                            httplib::to_string(res.error()) + "); batch of " +
                                            std::to_string(n) + " records dropped after " +
                                            std::to_string(attempt + 1) + " attempts");
      else
        ctx.warn(warn_kind::http_status, "collector answered HTTP " + std::to_string(res->status) +
                                             "; batch of " + std::to_string(n) + " records dropped");
      return {export_result::failure};
    }
    if (!res)
      ctx.warn(warn_kind::connection,
               "cannot reach " + scheme_host_ + " (" + httplib::to_string(res.error()) + "); retrying");
    int64_t delay = parse_retry_after_ms(res);
    if (delay < 0) {
      // Exponential backoff with jitter in [50%, 100%] of the capped step.
      const int64_t base = std::max<int64_t>(1, opts_.initial_backoff.count());
      const int64_t cap = std::max<int64_t>(base, opts_.max_backoff.count());
      int64_t step = base;
      for (int k = 0; k < attempt && step < cap; ++k) step *= 2;
      step = std::min(step, cap);
      jitter_state_ = jitter_state_ * 6364136223846793005ull + 1442695040888963407ull;
      const double frac =
          0.5 + 0.5 * static_cast<double>(jitter_state_ >> 11) / static_cast<double>(1ull << 53);
      delay = static_cast<int64_t>(static_cast<double>(step) * frac);
    } else {
      delay = std::min<int64_t>(delay, std::max<int64_t>(opts_.max_backoff.count(), 0));
    }
    ++attempt;
    ctx.count_retry();
    ctx.sleep_until(steady_clock::now() + milliseconds(delay));
  }
}

}  // namespace llmtrace::detail
