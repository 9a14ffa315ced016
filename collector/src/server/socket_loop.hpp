// The collector's hardened httplib server: its own per-connection loop (a header byte budget and deadline
// against slowloris, close-after-response, a half-close that lets the peer read a rejection), an elastic
// worker pool sized for API requests plus event streams, TCP_NODELAY, no SO_REUSEPORT, and the configured
// timeouts and body limit. Knows nothing of routes. Thread safety: as httplib::Server; cfg outlives it.
#pragma once

#include <chrono>
#include <memory>

#include "http/server_fwd.hpp"

namespace llmtrace::server {

std::unique_ptr<httplib::Server> make_guarded_server(const config& cfg);

// When the request this worker thread is handling started (for the request log and metrics).
std::chrono::steady_clock::time_point request_started_at() noexcept;

}  // namespace llmtrace::server
