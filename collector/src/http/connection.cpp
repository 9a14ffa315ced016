#include "http/connection.hpp"

#include <poll.h>

namespace llmtrace::http {
namespace {
thread_local connection_state* t_connection = nullptr;
}

void close_after_response() noexcept {
  if (t_connection) t_connection->close_after = true;
}

bool peer_closed(const connection_state* s) noexcept {
  if (!s || s->fd < 0) return false;
  pollfd p{s->fd, static_cast<short>(POLLRDHUP), 0};
  return ::poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) != 0;
}

connection_state* current_connection() noexcept {
  return t_connection;
}
void set_current_connection(connection_state* s) noexcept {
  t_connection = s;
}

}  // namespace llmtrace::http
