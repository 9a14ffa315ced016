// Fork handling of clients (fork.cpp): a registered client gets a fresh runtime in a forked child.
// Threading: register/unregister may be called from any thread.
#pragma once

#include "llmtrace/llmtrace.hpp"

namespace llmtrace {

void register_for_fork(client::impl* c);
void unregister_for_fork(client::impl* c);

}  // namespace llmtrace
