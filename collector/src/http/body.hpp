// Reading request bodies with a hard cap that also holds for chunked and gzip bodies (httplib 0.11.4
// checks its payload limit only against Content-Length, and decompresses without a limit).
// Thread safety: stateless.
#pragma once

#include <cstddef>
#include <string>

namespace httplib {
struct Request;
struct Response;
class ContentReader;
}  // namespace httplib

namespace llmtrace::http {

enum class body_status { ok, too_large, read_error, over_budget, timed_out };

// The global in-flight body budget: the bytes of request bodies being read or handled at once (a body and
// the tree parsed from it live until the response is written). read_body reserves a request's
// Content-Length (max_bytes when chunked) before reading; beyond the budget it answers over_budget (503 +
// Retry-After) instead of reading. 0: no budget. Set once at startup.
void set_inflight_body_budget(std::size_t bytes) noexcept;
std::size_t inflight_body_bytes() noexcept;
// Gives back what the current connection's request reserved (the socket loop calls it after each request).
void release_body_reservation() noexcept;

// Reads the (already decompressed) body through a content-reader route, stopping past max_bytes.
// res: httplib records its own length verdict (413) there while reading.
body_status read_body(const httplib::Request& req, const httplib::ContentReader& reader,
                      std::size_t max_bytes, std::string& out, httplib::Response& res);

// Writes the matching 413/400/408/503 JSON error for a failed read_body.
void write_body_error(httplib::Response& res, body_status s, std::size_t max_bytes);

}  // namespace llmtrace::http
