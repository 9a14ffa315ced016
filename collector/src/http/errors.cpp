#include "http/errors.hpp"

#include <httplib.h>

namespace llmtrace::http {

std::string dump_json(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string error_body(std::string_view code, std::string_view message, std::string_view field) {
  nlohmann::json e = {{"code", code}, {"message", message}};
  e["field"] = field.empty() ? nlohmann::json(nullptr) : nlohmann::json(field);
  return dump_json(nlohmann::json{{"error", std::move(e)}});
}

void write_error(httplib::Response& res, int status, std::string_view code, std::string_view message,
                 std::string_view field) {
  res.status = status;
  res.set_content(error_body(code, message, field), "application/json");
}

void write_json(httplib::Response& res, int status, const nlohmann::json& body) {
  res.status = status;
  res.set_content(dump_json(body), "application/json");
}

void write_failure(httplib::Response& res, const failure& f) {
  if (!f.retry_after.empty()) res.set_header("Retry-After", f.retry_after);
  write_error(res, f.status, f.code, f.message, f.field);
}

std::string_view default_error_code(int status) noexcept {
  switch (status) {
    case 400:
      return "bad_request";
    case 401:
      return "unauthorized";
    case 403:
      return "forbidden";
    case 404:
      return "not_found";
    case 405:
      return "method_not_allowed";
    case 408:
      return "request_timeout";
    case 411:
      return "length_required";
    case 413:
      return "payload_too_large";
    case 414:
      return "uri_too_long";
    case 415:
      return "unsupported_media_type";
    case 416:
      return "range_not_satisfiable";
    case 421:
      return "misdirected_request";
    case 429:
      return "too_many_requests";
    case 431:
      return "headers_too_large";
    case 503:
      return "unavailable";
    default:
      return status >= 500 ? "internal" : "bad_request";
  }
}

}  // namespace llmtrace::http
