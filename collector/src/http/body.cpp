#include "http/body.hpp"

#include <httplib.h>

#include "http/connection.hpp"
#include "http/errors.hpp"

namespace llmtrace::http {

body_status read_body(const httplib::Request& req, const httplib::ContentReader& reader,
                      std::size_t max_bytes, std::string& out, httplib::Response& res) {
  out.clear();
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
  return ok ? body_status::ok : body_status::read_error;
}

void write_body_error(httplib::Response& res, body_status s, std::size_t max_bytes) {
  // The rest of an oversized body is not read: close the connection rather than parse it as a request.
  res.set_header("Connection", "close");
  close_after_response();
  if (s == body_status::too_large)
    write_error(res, 413, "payload_too_large",
                "request body is larger than " + std::to_string(max_bytes) + " bytes (after decompression)");
  else
    write_error(res, 400, "bad_body",
                "the request body could not be read (bad length, encoding or chunking)");
}

}  // namespace llmtrace::http
