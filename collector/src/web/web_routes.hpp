// Mounts the web UI on the collector's HTTP server: the embedded files (web_assets.hpp) and the SPA fallback.
// Called once by main before listen(), AFTER every API route: its GET handlers are catch-alls (httplib tries
// handlers in registration order). Handlers only read immutable embedded data: safe on any worker thread.
#pragma once

#include <string_view>

namespace httplib {
class Server;
}

namespace llmtrace::web {

// The Content-Security-Policy sent with every UI response (no inline script, no plugins, no framing).
inline constexpr std::string_view kContentSecurityPolicy =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

void mount(httplib::Server& server);

}  // namespace llmtrace::web
