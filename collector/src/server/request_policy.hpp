// What every request must pass before any route sees it, and how rejections look: header count/size limits
// (431), the Host check against DNS rebinding (421), Content-Length required for uploads (411), the API key
// on /api and /v1 (401); httplib's own rejections and uncaught exceptions answered in the API's JSON error
// shape (store errors as 503 + Retry-After, anything else as a 500 that never echoes exception text).
// Thread safety: the handlers are stateless; cfg outlives the server.
#pragma once

#include <string_view>

#include "http/server_fwd.hpp"

namespace llmtrace::server {

// True when a Host header value may reach us (DNS rebinding guard): loopback names, IP literals, the bind
// host, and cfg.allowed_hosts ("*" allows any). The port part is ignored.
bool host_allowed(std::string_view host_header, const config& cfg);

// Installs the pre-routing, error and exception handlers on s.
void apply_request_policy(httplib::Server& s, const config& cfg);

}  // namespace llmtrace::server
