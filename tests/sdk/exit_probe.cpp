// A fresh process for the atexit test: traces one record through the default client and calls exit(),
// which must flush it within the exit deadline and never hang. Spawned by sdk_tests (not forked from it,
// so it inherits none of the test's server threads or allocator state).
#include <cstdlib>

#include "llmtrace/llmtrace.hpp"

int main() {
  llmtrace::default_client().trace("atexit", 0, "{}", "null");
  std::exit(0);
}
