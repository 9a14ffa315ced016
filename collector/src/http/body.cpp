#include "http/body.hpp"

#include <atomic>

#include <httplib.h>

#include "http/connection.hpp"
#include "http/errors.hpp"

namespace llmtrace::http {
namespace {

std::atomic<std::size_t> g_budget{0};
std::atomic<std::size_t> g_inflight{0};

// Reserves n bytes of the budget for the current connection's request; false when they do not fit.
bool reserve(std::size_t n) {
  connection_state* conn = current_connection();
  const std::size_t budget = g_budget.load();
  if (budget == 0 || !conn) return true;  // no budget, or no socket loop (unit tests)
  std::size_t cur = g_inflight.load();
  do {
    // One request alone is always admitted (its size is already capped by max_bytes).
    if (cur != 0 && cur + n > budget) return false;
  } while (!g_inflight.compare_exchange_weak(cur, cur + n));
  conn->reserved_body_bytes += n;
  return true;
}

}  // namespace

void set_inflight_body_budget(std::size_t bytes) noexcept {
  g_budget.store(bytes);
}

std::size_t inflight_body_bytes() noexcept {
  return g_inflight.load();
}

void release_body_reservation() noexcept {
  connection_state* conn = current_connection();
  if (!conn || conn->reserved_body_bytes == 0) return;
  g_inflight.fetch_sub(conn->reserved_body_bytes);
  conn->reserved_body_bytes = 0;
}

body_status read_body(const httplib::Request& req, const httplib::ContentReader& reader,
                      std::size_t max_bytes, std::string& out, httplib::Response& res) {
  out.clear();
  std::size_t expected = max_bytes;  // chunked (or gzip): the most it may become
  if (req.has_header("Content-Length") && req.get_header_value("Content-Encoding").empty()) {
    auto n = req.get_header_value<uint64_t>("Content-Length");
    if (n < max_bytes) expected = static_cast<std::size_t>(n);
  }
  if (!reserve(expected)) return body_status::over_budget;
  if (req.has_header("Content-Length")) {
    // httplib rejects (and skips) a Content-Length beyond its payload limit itself; reserve only sane sizes.
    auto n = req.get_header_value<uint64_t>("Content-Length");
    if (n <= max_bytes) out.reserve(static_cast<std::size_t>(n));
  }
  bool too_large = false;
  bool ok = reader([&](const char* data, size_t len) {
    if (out.size() + len > max_bytes) {
      too_large = true;
      return false;
    }
    out.append(data, len);
    return true;
  });
  if (too_large || res.status == 413) return body_status::too_large;
  if (!ok) {
    auto* conn = current_connection();
    return conn && conn->body_deadline_hit ? body_status::timed_out : body_status::read_error;
  }
  return body_status::ok;
}

void write_body_error(httplib::Response& res, body_status s, std::size_t max_bytes) {
  // The rest of an oversized body is not read: close the connection rather than parse it as a request.
  res.set_header("Connection", "close");
  close_after_response();
  if (s == body_status::over_budget) {
    res.set_header("Retry-After", "1");
    write_error(res, 503, "overloaded",
                "too many request bytes in flight on the collector; retry after a second");
  } else if (s == body_status::timed_out) {
    write_error(res, 408, "body_timeout", "the request body did not arrive in time");
  } else if (s == body_status::too_large)
    write_error(res, 413, "payload_too_large",
                "request body is larger than " + std::to_string(max_bytes) + " bytes (after decompression)");
  else
    write_error(res, 400, "bad_body",
                "the request body could not be read (bad length, encoding or chunking)");
}

}  // namespace llmtrace::http
