#include "api/connection.hpp"

namespace llmtrace::api {
namespace {
thread_local connection_state* t_connection = nullptr;
}

void close_after_response() noexcept {
  if (t_connection) t_connection->close_after = true;
}

connection_state* current_connection() noexcept { return t_connection; }
void set_current_connection(connection_state* s) noexcept { t_connection = s; }

}  // namespace llmtrace::api
