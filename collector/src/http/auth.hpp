// API key check for /api and /v1 routes. With cfg.api_key empty everything is open (loopback default).
// The server's pre-routing handler applies it to every /api and /v1 request; route modules may call
// require_auth again (it is cheap and idempotent). Thread safety: stateless.
#pragma once

#include <string_view>

namespace httplib {
struct Request;
struct Response;
}  // namespace httplib

namespace llmtrace {
struct config;
}

namespace llmtrace::http {

// Constant-time in the content of both strings (length differences are folded in, not short-circuited).
bool constant_time_equals(std::string_view a, std::string_view b) noexcept;

// True when the request carries the key: "Authorization: Bearer <key>", or "?access_token=<key>" on
// /api/events only (EventSource cannot set headers). True when no key is configured.
bool is_authorized(const httplib::Request& req, const config& cfg);

// Paths that need the key when one is set: /api/..., /v1/...
bool needs_auth(std::string_view path) noexcept;

// Writes 401 JSON (with WWW-Authenticate) and returns false when the request is not authorized.
bool require_auth(const httplib::Request& req, httplib::Response& res, const config& cfg);

}  // namespace llmtrace::http
