// What every request must pass before any route sees it, and how rejections look: header count/size limits
// (431), the Host check against DNS rebinding (421), cross-site state-changing requests (403, SPEC "Browser
// safety"), Content-Length required for uploads (411), the API key on /api and /v1 (401), a JSON content
// type on /api and /v1 bodies (415; OTLP paths also take protobuf); httplib's own rejections and uncaught
// exceptions answered in the API's JSON error shape (store errors as 503 + Retry-After, anything else as a
// 500 that never echoes exception text). Thread safety: the handlers are stateless; cfg outlives the server.
#pragma once

#include <string_view>

#include "http/server_fwd.hpp"

namespace httplib {
struct Request;
}

namespace llmtrace::server {

// True when a Host header value may reach us (DNS rebinding guard): loopback names, IP literals, the bind
// host, and cfg.allowed_hosts ("*" allows any). The port part is ignored.
bool host_allowed(std::string_view host_header, const config& cfg);

// True when a browser marks req as cross-site and it changes state (POST/PUT/PATCH/DELETE): Sec-Fetch-Site
// is cross-site, or Origin is present and is neither the origin the Host header names nor an explicit
// --allowed-host name ("null" included).
bool cross_site(const httplib::Request& req, const config& cfg);

// False when a POST/PUT/PATCH body to /api or /v1 is not application/json (parameters ignored);
// /v1/traces, /v1/logs and /v1/metrics also take application/x-protobuf. Empty bodies pass.
bool content_type_allowed(const httplib::Request& req);

// Installs the pre-routing, error and exception handlers on s.
void apply_request_policy(httplib::Server& s, const config& cfg);

}  // namespace llmtrace::server
