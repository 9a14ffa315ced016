#include "otlp/reply.hpp"

#include <nlohmann/json.hpp>

#include "otlp/wire_reader.hpp"

namespace llmtrace::otlp {

std::string export_response(signal s, encoding e, int64_t rejected, std::string_view error_message) {
  const bool partial = rejected != 0 || !error_message.empty();
  if (e == encoding::json) {
    nlohmann::json body = nlohmann::json::object();
    if (partial) {
      const char* count = s == signal::traces ? "rejectedSpans"
                          : s == signal::logs ? "rejectedLogRecords"
                                              : "rejectedDataPoints";
      body["partialSuccess"] = {{count, rejected}, {"errorMessage", error_message}};
    }
    return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  std::string out;
  if (partial) {
    // Export*PartialSuccess: 1 = rejected count (int64), 2 = error_message.
    std::string inner;
    if (rejected != 0) wire::put_varint_field(inner, 1, static_cast<uint64_t>(rejected));
    if (!error_message.empty()) wire::put_bytes_field(inner, 2, error_message);
    wire::put_bytes_field(out, 1, inner);
  }
  return out;
}

std::string status_body(encoding e, int http_status, std::string_view message) {
  int code = 2;                                                                  // UNKNOWN
  if (http_status == 400 || http_status == 413 || http_status == 415) code = 3;  // INVALID_ARGUMENT
  if (http_status == 401) code = 16;                                             // UNAUTHENTICATED
  if (http_status == 429) code = 8;                                              // RESOURCE_EXHAUSTED
  if (http_status == 503) code = 14;                                             // UNAVAILABLE
  if (e == encoding::json)
    return nlohmann::json{{"code", code}, {"message", message}}.dump(
        -1, ' ', false, nlohmann::json::error_handler_t::replace);
  std::string out;
  wire::put_varint_field(out, 1, static_cast<uint64_t>(code));
  if (!message.empty()) wire::put_bytes_field(out, 2, message);
  return out;
}

}  // namespace llmtrace::otlp
