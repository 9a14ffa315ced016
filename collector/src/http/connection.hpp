// Per-connection controls for route handlers, backed by the collector's own socket loop
// (server/socket_loop.cpp), which replaces httplib 0.11.4's: it can close a connection after a response (so
// an unread request body is never parsed as the next request), caps header bytes while they are read, and
// gives headers a deadline. Thread safety: the state is thread-local to the worker handling the request;
// outside a request the calls are no-ops.
#pragma once

#include <chrono>
#include <cstddef>

namespace llmtrace::http {

// Close this connection once the current response is written (use after rejecting a request whose body was
// not read, e.g. 401/413/503 on an upload).
void close_after_response() noexcept;

struct connection_state {
  int fd = -1;  // the connection's socket (for peer-closed checks by long-lived responses)
  bool close_after = false;
  bool in_headers = true;         // until the pre-routing handler runs
  bool header_limit_hit = false;  // request line + headers over the byte budget or past the deadline
  std::size_t header_bytes = 0;
  std::chrono::steady_clock::time_point header_deadline{};
  // Set when the headers are done (pre-routing): the whole body must arrive by then (slow-body guard).
  std::chrono::steady_clock::time_point body_deadline{};
  bool body_deadline_hit = false;
  // Bytes of the global in-flight body budget (http/body.hpp) this request holds; released by the socket
  // loop when the request's response is written.
  std::size_t reserved_body_bytes = 0;
};

// True when the peer of this connection has closed or reset it (never blocks). False without a connection.
bool peer_closed(const connection_state* s) noexcept;

// The state of the connection this thread is serving, or nullptr (e.g. in unit tests without a server).
connection_state* current_connection() noexcept;
void set_current_connection(connection_state* s) noexcept;

}  // namespace llmtrace::http
