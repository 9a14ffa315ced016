// The collector's own REST routes: ingest (/api/trace, /api/traces), sessions, records, search, stats,
// events, /healthz and /metrics. Handlers only parse, call the ingest service or the store, and encode.
// Lifetime: app outlives the server.
#pragma once

#include <functional>

namespace httplib {
class Server;
struct Response;
}  // namespace httplib

namespace llmtrace {
struct app_context;
}

namespace llmtrace::api {

void mount_api(httplib::Server& server, app_context& app);

// Runs fn, answering the store's overload/failure exceptions with 503 (+ Retry-After for store_busy).
// Returns false when it answered an error.
bool with_store(httplib::Response& res, const std::function<void()>& fn);

}  // namespace llmtrace::api
