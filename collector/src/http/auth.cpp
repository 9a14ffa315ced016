#include "http/auth.hpp"

#include <cctype>

#include <httplib.h>

#include "config.hpp"
#include "http/connection.hpp"
#include "http/errors.hpp"

namespace llmtrace::http {

bool constant_time_equals(std::string_view a, std::string_view b) noexcept {
  // Walk the expected length always, so timing does not reveal how many leading bytes matched.
  unsigned diff = a.size() == b.size() ? 0u : 1u;
  for (std::size_t i = 0; i < b.size(); ++i) {
    unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0u;
    diff |= x ^ static_cast<unsigned char>(b[i]);
  }
  return diff == 0;
}

bool needs_auth(std::string_view path) noexcept {
  return path == "/api" || path.rfind("/api/", 0) == 0 || path == "/v1" || path.rfind("/v1/", 0) == 0;
}

bool is_authorized(const httplib::Request& req, const config& cfg) {
  if (cfg.api_key.empty()) return true;
  std::string h = req.get_header_value("Authorization");
  std::string_view v = h;
  constexpr std::string_view scheme = "bearer ";
  if (v.size() > scheme.size()) {
    bool match = true;
    for (std::size_t i = 0; i < scheme.size(); ++i)
      if (static_cast<char>(std::tolower(static_cast<unsigned char>(v[i]))) != scheme[i]) match = false;
    if (match) {
      auto token = v.substr(scheme.size());
      while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
      while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
      if (constant_time_equals(token, cfg.api_key)) return true;
    }
  }
  if (req.path == "/api/events" && req.has_param("access_token"))
    return constant_time_equals(req.get_param_value("access_token"), cfg.api_key);
  return false;
}

bool require_auth(const httplib::Request& req, httplib::Response& res, const config& cfg) {
  if (is_authorized(req, cfg)) return true;
  res.set_header("WWW-Authenticate", "Bearer realm=\"llmtrace\"");
  close_after_response();  // a request body, if any, was not read
  write_error(res, 401, "unauthorized", "missing or invalid API key: send 'Authorization: Bearer <key>'");
  return false;
}

}  // namespace llmtrace::http
