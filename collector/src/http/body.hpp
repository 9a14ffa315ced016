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

enum class body_status { ok, too_large, read_error };

// Reads the (already decompressed) body through a content-reader route, stopping past max_bytes.
// res: httplib records its own length verdict (413) there while reading.
body_status read_body(const httplib::Request& req, const httplib::ContentReader& reader,
                      std::size_t max_bytes, std::string& out, httplib::Response& res);

// Writes the matching 413/400 JSON error for a failed read_body.
void write_body_error(httplib::Response& res, body_status s, std::size_t max_bytes);

}  // namespace llmtrace::http
