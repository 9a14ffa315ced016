#include "http_transport.hpp"

#include <strings.h>

#include <algorithm>
#include <ctime>

#include <httplib.h>

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

endpoint_parts split_endpoint(std::string_view endpoint) {
  std::string_view ep = endpoint;
  while (!ep.empty() && ep.back() == '/') ep.remove_suffix(1);
  const auto scheme_end = ep.find("://");
  const auto path_start = ep.find('/', scheme_end == std::string_view::npos ? 0 : scheme_end + 3);
  if (path_start == std::string_view::npos) return {std::string(ep), {}};
  return {std::string(ep.substr(0, path_start)), std::string(ep.substr(path_start))};
}

std::unique_ptr<httplib::Client> make_http_client(const options& opts, const std::string& scheme_host) {
  auto c = std::make_unique<httplib::Client>(scheme_host);
  c->set_keep_alive(true);
  c->set_tcp_nodelay(true);
  c->set_connection_timeout(opts.connect_timeout);
  c->set_read_timeout(opts.request_timeout);
  c->set_write_timeout(opts.request_timeout);
  c->set_compress(opts.gzip);
  if (!opts.api_key.empty()) c->set_bearer_token_auth(opts.api_key);
  return c;
}

batch_transport::batch_transport(const options& opts, std::string_view path_suffix, batch_protocol proto,
                                 uint64_t jitter_seed)
    : opts_(opts), proto_(proto), jitter_state_(jitter_seed ^ reinterpret_cast<uintptr_t>(this)) {
  endpoint_parts ep = split_endpoint(opts_.endpoint);
  scheme_host_ = std::move(ep.scheme_host);
  path_ = ep.prefix + std::string(path_suffix);
}

batch_transport::~batch_transport() = default;

void batch_transport::ensure_client() {
  std::lock_guard lk(mu_);
  if (!client_) client_ = make_http_client(opts_, scheme_host_);
}

void batch_transport::shutdown() noexcept {
  std::lock_guard lk(mu_);
  if (client_) client_->stop();
}

// Exponential backoff with jitter in [50%, 100%] of the capped step.
int64_t batch_transport::backoff_ms(int attempt) noexcept {
  const int64_t base = std::max<int64_t>(1, opts_.initial_backoff.count());
  const int64_t cap = std::max<int64_t>(base, opts_.max_backoff.count());
  int64_t step = base;
  for (int k = 0; k < attempt && step < cap; ++k) step *= 2;
  step = std::min(step, cap);
  jitter_state_ = jitter_state_ * 6364136223846793005ull + 1442695040888963407ull;
  const double frac = 0.5 + 0.5 * static_cast<double>(jitter_state_ >> 11) / static_cast<double>(1ull << 53);
  return static_cast<int64_t>(static_cast<double>(step) * frac);
}

export_outcome batch_transport::post(const std::string& body, uint64_t n, export_context& ctx) {
  ensure_client();
  const std::string batch_of = std::to_string(n) + " " + proto_.unit;
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
      const uint64_t rejected = std::min(n, proto_.rejected_of(res->body, n));
      if (rejected)
        ctx.warn(warn_kind::rejected, std::string(proto_.receiver) + " rejected " + std::to_string(rejected) +
                                          " of " + batch_of + " in a batch (not retried)");
      return {export_result::success, n - rejected, rejected};
    }
    const bool retryable = !res || is_retryable_status(res->status);
    if (!retryable || attempt >= opts_.max_retries) {
      if (!res)
        ctx.warn(warn_kind::connection, "cannot reach " + scheme_host_ + " (" +
                                            httplib::to_string(res.error()) + "); batch of " + batch_of +
                                            " dropped after " + std::to_string(attempt + 1) + " attempts");
      else
        ctx.warn(warn_kind::http_status, std::string(proto_.receiver) + " answered HTTP " +
                                             std::to_string(res->status) + "; batch of " + batch_of +
                                             " dropped");
      return {export_result::failure};
    }
    if (!res)
      ctx.warn(warn_kind::connection,
               "cannot reach " + scheme_host_ + " (" + httplib::to_string(res.error()) + "); retrying");
    int64_t delay = parse_retry_after_ms(res);
    if (delay < 0)
      delay = backoff_ms(attempt);
    else
      delay = std::min<int64_t>(delay, std::max<int64_t>(opts_.max_backoff.count(), 0));
    ++attempt;
    ctx.count_retry();
    ctx.sleep_until(steady_clock::now() + milliseconds(delay));
  }
}

}  // namespace llmtrace::detail
